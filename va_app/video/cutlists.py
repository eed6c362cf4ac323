"""The editor's cut list as a video's shots: EDL, FCP 7 XML or .otio, read with OpenTimelineIO.

Where a cut list is (:func:`find_cut_list`):

- beside the video, with its name: ``NAME.edl``, ``NAME.xml`` or ``NAME.otio`` for
  ``NAME.mp4`` — a list *of this video*;
- else one ``cuts.edl`` / ``cuts.xml`` / ``cuts.otio`` in the video's folder — a list for the
  folder, whose events name their source files (clip name, file name or reel).

What its events mean (:func:`cut_list_shots`):

- a folder list, or a video's own list whose every event names that video: the events' *source*
  ranges are shots of the file (source timecode minus the file's start timecode — its own
  ``tmcd``/``timecode`` tag, else the start the list gives its media, else 0);
- a video's own list whose events name other sources (an edit's list beside the rendered
  edit): the events' *record* ranges are the shots of the video. Record timecode 0 of the video
  is the first of these that puts every event inside the video: the file's start timecode, the
  sequence's start timecode, the first event's record-in.

Every event becomes one shot, exactly — no minimum or maximum length, no splitting; gaps, black
and bars (generators) are no shots; identical events count once. A list that does not match its
video — an event outside the video's frames, a video's own list that mixes this file with other
reels, a file that is no cut list, two lists where one is expected — raises
:class:`CutListMismatch` with the reason; ingest then detects the video's shots instead and
lists the reason. Times map to frames by :mod:`va_app.video.timecode` (exact at standard rates;
a variable-frame-rate file by presentation time). EDLs carry no rate: they are read at the
video's timecode rate, drop-frame where their timecode is written with ``;``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlparse

import opentimelineio as otio

from va_app.domain import ShotSpan, VideoInfo
from va_app.errors import VAError
from va_app.video.probe import VIDEO_EXTENSIONS
from va_app.video.timecode import RationalTime, start_timecode, time_frame, timecode_rate

TimeRange = otio.opentime.TimeRange
#: Cut list suffixes and the OpenTimelineIO adapter that reads each.
ADAPTERS = {".edl": "cmx_3600", ".xml": "fcp_xml", ".otio": "otio_json"}
#: The stem of a folder's cut list.
FOLDER_LIST = "cuts"
VIDEO, FOLDER = "video", "folder"
RECORD, SOURCE = "record", "source"
#: CMX 3600 reel names are this long at most; writers cut file names down to it.
REEL_LENGTH = 8


class CutListMismatch(VAError):
    """A cut list that cannot give this video's shots; the reason says why."""


@dataclass(frozen=True)
class CutListRef:
    """A cut list that applies to a video, found before it is read."""

    path: str
    scope: str  # VIDEO: NAME.edl beside the video; FOLDER: cuts.* of its folder
    digest: str  # of the file's bytes: the video's fingerprint includes it
    problem: str = ""  # found, but unusable as found (two lists where one is expected)

    @property
    def name(self) -> str:
        return Path(self.path).name


@dataclass(frozen=True)
class CutEvent:
    """One event (clip) of a cut list, in its own times."""

    number: int  # 1-based, in the list's order (event 001 of an EDL)
    record: TimeRange  # its place in the programme (absolute record timecode)
    source: TimeRange  # the part of its source it uses (source timecode)
    names: tuple[str, ...]  # how it names its source: file, clip name, reel (folded)
    media_start: RationalTime | None  # its source's start timecode, where the list says
    label: str  # how an editor would call its source (for messages)


@dataclass(frozen=True)
class CutList:
    """A cut list read at one rate: its events and its sequence's start timecode."""

    events: tuple[CutEvent, ...]
    start: RationalTime | None


@dataclass(frozen=True)
class CutListShots:
    """A video's shots from a cut list, and how they were found (for the report)."""

    spans: list[ShotSpan]
    mode: str  # RECORD or SOURCE
    note: str


# -- finding -------------------------------------------------------------------------------
def find_cut_list(video: str | Path) -> CutListRef | None:
    """The cut list that applies to ``video``: its own (``NAME.edl|xml|otio``) before its
    folder's (``cuts.*``); None when there is neither."""
    video = Path(video)
    siblings = _cut_list_files(video.parent)
    own = [p for p in siblings if p.stem == video.stem]
    if own:
        return _ref(own, VIDEO)
    folder = [p for p in siblings if p.stem.casefold() == FOLDER_LIST]
    return _ref(folder, FOLDER) if folder else None


def _cut_list_files(folder: Path) -> list[Path]:
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    return [
        p
        for p in entries
        if p.suffix.lower() in ADAPTERS and not p.name.startswith(".") and p.is_file()
    ]


def _ref(paths: list[Path], scope: str) -> CutListRef:
    if len(paths) > 1:
        names = ", ".join(p.name for p in paths)
        return CutListRef(str(paths[0]), scope, _digest(paths), f"{names}: keep only one of them")
    return CutListRef(str(paths[0]), scope, _digest(paths))


def _digest(paths: list[Path]) -> str:
    sha = hashlib.sha1()
    for path in paths:
        try:
            sha.update(path.read_bytes())
        except OSError as exc:
            sha.update(str(exc).encode())
    return sha.hexdigest()


# -- reading -------------------------------------------------------------------------------
def read_cut_list(path: str | Path, *, rate: float) -> CutList:
    """The events of the cut list at ``path`` (EDLs are read at ``rate``); raises
    :class:`CutListMismatch` for a file that is not a cut list OpenTimelineIO can read."""
    path = Path(path)
    stat = path.stat()
    return _read_cached(str(path), stat.st_mtime_ns, stat.st_size, float(rate))


@lru_cache(maxsize=32)
def _read_cached(path: str, _mtime_ns: int, _size: int, rate: float) -> CutList:
    # A folder's list is read once per worker process, not once per video of the folder.
    timeline = _read_timeline(Path(path), rate)
    return CutList(tuple(_events(timeline)), timeline.global_start_time)


def _read_timeline(path: Path, rate: float) -> otio.schema.Timeline:
    adapter = ADAPTERS[path.suffix.lower()]
    options = {"rate": rate} if adapter == "cmx_3600" else {}
    try:
        read = otio.adapters.read_from_file(str(path), adapter_name=adapter, **options)
    except Exception as exc:  # adapters raise anything on a malformed file
        what = {"cmx_3600": "a CMX 3600 EDL", "fcp_xml": "an FCP 7 XML (xmeml)"}
        kind = what.get(adapter, "an OpenTimelineIO file")
        raise CutListMismatch(f"{path.name} could not be read as {kind} ({exc})") from exc
    timelines = [read] if isinstance(read, otio.schema.Timeline) else _timelines_in(read)
    if len(timelines) != 1:
        names = ", ".join(repr(t.name) for t in timelines) or "none"
        raise CutListMismatch(
            f"{path.name} holds {len(timelines)} sequences ({names}); a cut list needs "
            "exactly one: export the one sequence of this material"
        )
    return timelines[0]


def _timelines_in(read) -> list[otio.schema.Timeline]:
    if isinstance(read, otio.schema.SerializableCollection):
        return [t for t in read if isinstance(t, otio.schema.Timeline)]
    return []


def _events(timeline: otio.schema.Timeline) -> list[CutEvent]:
    """The clips of the programme's picture, in record order: the top clip wherever video
    tracks overlap (OpenTimelineIO's ``flatten_stack``)."""
    offset = timeline.global_start_time
    return [
        _event(number, clip, _shifted(record, offset))
        for number, (clip, record) in enumerate(_video_clips(timeline), start=1)
        # Black, bars and slugs (generators) show no source; a zero-length event shows nothing.
        if not isinstance(clip.media_reference, otio.schema.GeneratorReference)
        and record.duration.value > 0
    ]


def _shifted(record: TimeRange, offset: RationalTime | None) -> TimeRange:
    if offset is None:
        return record
    return TimeRange(record.start_time + offset, record.duration)


def _video_clips(timeline: otio.schema.Timeline):
    tracks = [t for t in timeline.video_tracks() if t.enabled]
    if len(tracks) == 1:  # an EDL's record timecode lives in the track's own range
        items = [
            (c, c.transformed_time_range(c.trimmed_range(), timeline.tracks))
            for c in tracks[0].find_clips(shallow_search=True)
        ]
        return [(c, r) for c, r in items if c.enabled]
    if not tracks:
        return []
    flat = otio.algorithms.flatten_stack(tracks)
    return [(c, c.range_in_parent()) for c in flat.find_clips(shallow_search=True) if c.enabled]


def _event(number: int, clip: otio.schema.Clip, record: TimeRange) -> CutEvent:
    ref = clip.media_reference
    available = getattr(ref, "available_range", None)
    names = _names(clip)
    stems = [Path(n).stem for n in names if Path(n).suffix.lower() in VIDEO_EXTENSIONS]
    return CutEvent(
        number=number,
        record=record,
        source=clip.trimmed_range(),
        names=tuple(dict.fromkeys(n.casefold() for n in [*names, *stems])),
        media_start=available.start_time if available is not None else None,
        label=names[0] if names else f"event {number}",
    )


def _names(clip: otio.schema.Clip) -> list[str]:
    """Every name by which the event refers to its source, file name first: the file of its
    media, the media's and the clip's name, its reel (an EDL's auxiliary ``AX`` names nothing;
    an EDL event without a clip name is named by its number, which names nothing either)."""
    found: list[str] = []
    url = getattr(clip.media_reference, "target_url", "") or ""
    if url:
        found.append(Path(unquote(urlparse(url).path if "://" in url else url)).name)
    found.append(getattr(clip.media_reference, "name", "") or "")
    found.append("" if (clip.name or "").isdigit() else clip.name or "")
    reel = str((clip.metadata.get("cmx_3600") or {}).get("reel", ""))
    found.append("" if reel in ("AX", "BL", "BLACK") else reel)
    return list(dict.fromkeys(n.strip() for n in found if n.strip()))


# -- matching events and videos ------------------------------------------------------------
def video_names(video: Path) -> tuple[str, ...]:
    """How a cut list may name ``video``: its file name, its stem, and its stem as an EDL
    reel (letters and digits only, at most 8 — what EDL writers make of file names)."""
    reel = re.sub(r"[^A-Za-z0-9]", "", video.stem)[:REEL_LENGTH]
    return tuple(dict.fromkeys(n.casefold() for n in (video.name, video.stem, reel) if n))


def names_video(event: CutEvent, video: Path) -> bool:
    return bool(set(event.names) & set(video_names(video)))


def source_of(event: CutEvent, videos: list[Path]) -> Path | None:
    """The one video of ``videos`` the event names (None: none, or several alike)."""
    matches = [v for v in videos if names_video(event, v)]
    exact = [v for v in matches if v.name.casefold() in event.names]
    chosen = exact or matches
    return chosen[0] if len(chosen) == 1 else None


# -- shots ---------------------------------------------------------------------------------
def cut_list_shots(ref: CutListRef, video: Path, info: VideoInfo) -> CutListShots | None:
    """The shots ``ref`` gives ``video``; None when a folder's list names none of its events
    after it. Raises :class:`CutListMismatch` when the list does not match the video."""
    if ref.problem:
        raise CutListMismatch(ref.problem)
    rate = timecode_rate(info.fps)
    cuts = read_cut_list(ref.path, rate=rate)
    if ref.scope == FOLDER:
        siblings = _videos_in(video.parent)
        mine = [e for e in cuts.events if source_of(e, siblings) == video]
        return _source_shots(ref, mine, video, info) if mine else None
    if not cuts.events:
        raise CutListMismatch(f"{ref.name} has no picture event")
    own = [e for e in cuts.events if names_video(e, video)]
    if own and len(own) < len(cuts.events):
        others = sorted({e.label for e in cuts.events if e not in own})
        raise CutListMismatch(
            f"{ref.name} names this file and other sources ({_listed(others)}): unknown reel "
            f"for {video.name}; keep only this file's events, or name the list cuts"
            f"{Path(ref.path).suffix} so that it maps every source to its file"
        )
    if own:
        return _source_shots(ref, own, video, info)
    return _record_shots(ref, cuts, video, info)


def unmatched_events(ref: CutListRef, folder: Path, info: VideoInfo) -> list[str]:
    """Sources a folder's list names that are no video of ``folder`` (their events are used
    by no video); read at the rate of ``info``'s video."""
    if ref.scope != FOLDER or ref.problem:
        return []
    siblings = _videos_in(folder)
    events = read_cut_list(ref.path, rate=timecode_rate(info.fps)).events
    return sorted({e.label for e in events if source_of(e, siblings) is None})


def _videos_in(folder: Path) -> list[Path]:
    """The videos of a folder a folder's list maps to (not its subfolders; no hidden files)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith(".") and p.is_file()
    )


def _source_shots(ref, events: list[CutEvent], video: Path, info: VideoInfo) -> CutListShots:
    tagged = start_timecode(video, info.fps)
    zero = RationalTime(0, timecode_rate(info.fps))
    spans = []
    for event in events:
        start = tagged if tagged is not None else event.media_start
        start = zero if start is None else start
        first = time_frame(event.source.start_time - start, info.fps)
        last = time_frame(event.source.end_time_exclusive() - start, info.fps)
        spans.append(_inside(ref, event, first, last, info, "source"))
    spans = _distinct(spans)
    where = _tc(tagged) if tagged is not None else "the list's media start, else 00:00:00:00"
    note = f"{_shots(len(spans))} from {ref.name} by source timecode (frame 0 = {where})"
    return CutListShots(spans, SOURCE, note)


def _record_shots(ref, cuts: CutList, video: Path, info: VideoInfo) -> CutListShots:
    tagged = start_timecode(video, info.fps)
    starts = [t for t in (tagged, cuts.start) if t is not None]
    starts.append(cuts.events[0].record.start_time)
    for start in starts:
        try:
            spans = [_record_span(ref, e, start, info) for e in cuts.events]
        except CutListMismatch as exc:
            mismatch = exc
            continue
        note = f"{_shots(len(spans))} from {ref.name} by record timecode (frame 0 = {_tc(start)})"
        return CutListShots(_distinct(spans), RECORD, note)
    raise mismatch


def _record_span(ref, event: CutEvent, start: RationalTime, info: VideoInfo) -> ShotSpan:
    first = time_frame(event.record.start_time - start, info.fps)
    last = time_frame(event.record.end_time_exclusive() - start, info.fps)
    return _inside(ref, event, first, last, info, "record")


def _inside(ref, event: CutEvent, first: int, last: int, info: VideoInfo, side: str) -> ShotSpan:
    if 0 <= first < last <= info.n_frames:
        return ShotSpan(first, last, info.fps)
    span = f"{_tc(_side(event, side).start_time)}–{_tc(_side(event, side).end_time_exclusive())}"
    raise CutListMismatch(
        f"{ref.name} event {event.number:03d} ({event.label}, {side} {span}) is outside the "
        f"video: frames {first}–{last} of {info.n_frames} "
        f"({info.duration_s:.2f} s at {info.fps:.3f} fps)"
    )


def _side(event: CutEvent, side: str) -> TimeRange:
    return event.record if side == "record" else event.source


def _distinct(spans: list[ShotSpan]) -> list[ShotSpan]:
    """One shot per first frame (shot ids are video and first frame): the longest wins."""
    longest: dict[int, ShotSpan] = {}
    for span in spans:
        kept = longest.get(span.start_frame)
        if kept is None or span.end_frame > kept.end_frame:
            longest[span.start_frame] = span
    return [longest[k] for k in sorted(longest)]


def _shots(n: int) -> str:
    return f"{n} shot" if n == 1 else f"{n} shots"


def _tc(time: RationalTime) -> str:
    try:
        return otio.opentime.to_timecode(time, time.rate)
    except ValueError:
        return f"{time.to_seconds():.3f} s"


def _listed(names: list[str], *, most: int = 4) -> str:
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more
