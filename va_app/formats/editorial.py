"""Editorial interchange out: a label's chosen shots as editors' timelines (OpenTimelineIO).

Two kinds of timeline, built from plain values (:class:`EditShot`):

- **selects** (:func:`selects_timeline`): one timeline, one clip per chosen shot in the order
  given, each an ``ExternalReference`` to its source file (file URL; available range = the
  whole file from its start timecode) with the shot's exact source range, and a marker over
  the clip naming the label, its comment the score;
- **markers** (:func:`marker_timelines`): per source video one timeline holding the whole video
  as one clip, with a marker per chosen shot over the shot's frames (name = the label,
  comment = the score).

Files are written by OpenTimelineIO's adapters (:func:`edit_files`), never by hand: ``.otio``
(``otio_json``; several timelines as one collection), CMX 3600 EDL (``cmx_3600``; one
timeline per file, so markers of several videos give one EDL per video) and Final Cut Pro 7
XML (``fcp_xml``; several timelines as one project of sequences).

Time is each source's timecode rate (:mod:`va_app.video.timecode`): a shot's frames exactly
at 23.976, 24, 25, 29.97, 30, ...; 29.97 and 59.94 EDLs are drop-frame (``;``, ``FCM: DROP
FRAME``). A variable-frame-rate source gets its shots' presentation times on the nearest
standard rate's frames (within half a frame of that rate) — the times an NLE that conforms
the file to that rate shows. An EDL or an FCP 7 sequence has one rate: selects that mix sources
of different rates are written as ``.otio`` (rational time) or per source (``--video``).

Format notes: an EDL marker is a ``* LOC`` line with one text, so it reads ``LABEL 0.93``
(upper case, as the adapter writes it); FCP 7 XML has no marker comment in OpenTimelineIO's
model, so the score rides in the marker's ``<comment>`` element, and clip markers count frames
from the start of the media (as ``<in>``/``<out>`` do), not from its start timecode.
"""

from __future__ import annotations

import copy
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import opentimelineio as otio

from va_app.errors import ValidationError
from va_app.video.timecode import RationalTime, frame_time, timecode_rate

TimeRange = otio.opentime.TimeRange
#: Output formats and their OpenTimelineIO adapter and file suffix.
FORMATS = {
    "otio": ("otio_json", ".otio"),
    "edl": ("cmx_3600", ".edl"),
    "fcpxml": ("fcp_xml", ".xml"),
}
#: Metadata namespace of what the tool knows about a clip or marker (shot id, label, score).
NAMESPACE = "video_annotator"
#: EDL reel names: 8 characters (CMX 3600), letters and digits.
REEL_LENGTH = 8
MARKER_COLOUR = otio.schema.MarkerColor.GREEN
DROP_FRAME_RATES = (30000 / 1001, 60000 / 1001)


@dataclass(frozen=True)
class EditSource:
    """A source video as an edit refers to it."""

    key: str
    path: str
    title: str
    fps: float
    n_frames: int
    #: Timecode of its first frame (its ``tmcd`` track or tag); None: 00:00:00:00.
    start: RationalTime | None = None

    @property
    def rate(self) -> float:
        return timecode_rate(self.fps)

    @property
    def start_time(self) -> RationalTime:
        return self.start if self.start is not None else RationalTime(0, self.rate)

    @property
    def file_name(self) -> str:
        return Path(self.path).name or self.key


@dataclass(frozen=True)
class EditShot:
    """A chosen shot: frames ``[start_frame, end_frame)`` of its source, and its score."""

    shot_id: str
    source: EditSource
    start_frame: int
    end_frame: int
    score: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.start_frame < self.end_frame:
            raise ValidationError(
                f"shot {self.shot_id}: bad frames [{self.start_frame}, {self.end_frame})"
            )


def source_range(shot: EditShot) -> TimeRange:
    """The shot's frames as source time: start timecode + its first frame, its length."""
    first = frame_time(shot.start_frame, shot.source.fps)
    end = frame_time(shot.end_frame, shot.source.fps)
    return TimeRange(shot.source.start_time + first, end - first)


# -- timelines -----------------------------------------------------------------------------
def selects_timeline(shots: Sequence[EditShot], *, label: str, name: str) -> otio.schema.Timeline:
    """One timeline of the shots as clips, in the order given (see the module doc)."""
    if not shots:
        raise ValidationError(f"no shot of {label!r} to export: nothing was chosen")
    timeline = _timeline(name, shots[0].source.rate)
    reels = reel_names([s.source for s in shots])
    track = timeline.tracks[0]
    for shot in shots:
        clip = _clip(shot.source, source_range(shot), reels[shot.source.key])
        clip.markers.append(_marker(shot, label, clip.source_range))
        clip.metadata[NAMESPACE] = {"shot_id": shot.shot_id, "label": label, "score": shot.score}
        track.append(clip)
    return timeline


def marker_timelines(shots: Sequence[EditShot], *, label: str) -> list[otio.schema.Timeline]:
    """Per source video (in the order they first appear), the whole video with a marker per
    chosen shot, in time order."""
    by_source: dict[str, list[EditShot]] = {}
    for shot in shots:
        by_source.setdefault(shot.source.key, []).append(shot)
    if not by_source:
        raise ValidationError(f"no shot of {label!r} to export: nothing was chosen")
    reels = reel_names([group[0].source for group in by_source.values()])
    return [_marker_timeline(group, label, reels) for group in by_source.values()]


def _marker_timeline(shots: list[EditShot], label: str, reels: dict[str, str]):
    source = shots[0].source
    timeline = _timeline(f"{source.title or source.key} - {label}", source.rate)
    clip = _clip(source, _whole(source), reels[source.key])
    for shot in sorted(shots, key=lambda s: s.start_frame):
        clip.markers.append(_marker(shot, label, source_range(shot)))
    timeline.tracks[0].append(clip)
    return timeline


def _timeline(name: str, rate: float) -> otio.schema.Timeline:
    # Names we make are ASCII (an EDL's TITLE line is read as ASCII by older NLEs); titles and
    # labels are the user's own text.
    timeline = otio.schema.Timeline(name=name, global_start_time=RationalTime(0, rate))
    timeline.tracks.append(otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video))
    return timeline


def _whole(source: EditSource) -> TimeRange:
    return TimeRange(source.start_time, frame_time(max(1, source.n_frames), source.fps))


def _clip(source: EditSource, used: TimeRange, reel: str) -> otio.schema.Clip:
    media = otio.schema.ExternalReference(
        target_url=Path(source.path).resolve().as_uri() if source.path else "",
        available_range=_whole(source),
    )
    media.name = source.file_name
    clip = otio.schema.Clip(name=source.file_name, media_reference=media, source_range=used)
    clip.metadata["cmx_3600"] = {"reel": reel}
    return clip


def _marker(shot: EditShot, label: str, where: TimeRange) -> otio.schema.Marker:
    comment = "" if shot.score is None else f"score {shot.score:.3f}"
    marker = otio.schema.Marker(
        name=label, marked_range=where, color=MARKER_COLOUR, comment=comment
    )
    marker.metadata[NAMESPACE] = {"shot_id": shot.shot_id, "score": shot.score}
    return marker


def reel_names(sources: Sequence[EditSource]) -> dict[str, str]:
    """An EDL reel name per source, unique among them: its file name's letters and digits,
    cut to 8 (what EDL readers match against file names), numbered where two would clash."""
    reels: dict[str, str] = {}
    for source in sources:
        if source.key in reels:
            continue
        base = re.sub(r"[^A-Za-z0-9]", "", Path(source.file_name).stem).upper() or "REEL"
        reel, n = base[:REEL_LENGTH], 1
        while reel in reels.values():
            n += 1
            reel = f"{base[: REEL_LENGTH - len(str(n))]}{n}"
        reels[source.key] = reel
    return reels


# -- files ---------------------------------------------------------------------------------
def edit_files(
    timelines: Sequence[otio.schema.Timeline], *, fmt: str, stem: str
) -> list[tuple[str, bytes]]:
    """``(file name, content)`` of the timelines in ``fmt``: one file, or for EDLs of several
    timelines one per timeline (``STEM-<n>-<name>.edl``)."""
    if fmt not in FORMATS:
        raise ValidationError(f"unknown edit format {fmt!r}: use one of {', '.join(FORMATS)}")
    adapter, suffix = FORMATS[fmt]
    if fmt != "otio":
        _one_rate_each(timelines, fmt)
    if fmt == "edl":
        if len(timelines) == 1:
            return [(f"{stem}{suffix}", _edl(timelines[0]))]
        return [
            (f"{stem}-{n:02d}-{_file_safe(t.name)}{suffix}", _edl(t))
            for n, t in enumerate(timelines, start=1)
        ]
    if fmt == "fcpxml":
        timelines = [_fcp_ready(t) for t in timelines]
    whole = timelines[0] if len(timelines) == 1 else _collection(timelines, stem)
    return [(f"{stem}{suffix}", otio.adapters.write_to_string(whole, adapter).encode())]


def write_edit_files(files: Sequence[tuple[str, bytes]], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files:
        path = folder / name
        path.write_bytes(content)
        written.append(path)
    return written


def zipped(files: Sequence[tuple[str, bytes]], *, name: str) -> tuple[str, bytes]:
    """Several files as one zip (an app download); one file as it is."""
    if len(files) == 1:
        return files[0]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file_name, content in files:
            archive.writestr(file_name, content)
    return f"{name}.zip", buffer.getvalue()


def _one_rate_each(timelines: Sequence[otio.schema.Timeline], fmt: str) -> None:
    for timeline in timelines:
        rates = sorted({round(c.source_range.start_time.rate, 3) for c in timeline.find_clips()})
        if len(rates) > 1:
            shown = ", ".join(f"{r:g}" for r in rates)
            raise ValidationError(
                f"the chosen shots come from sources at different frame rates ({shown}) and "
                f"a{'n EDL' if fmt == 'edl' else 'n FCP 7 sequence'} holds one: export them "
                "as --format otio, or per source with --video KEY"
            )


def _edl(timeline: otio.schema.Timeline) -> bytes:
    timeline = copy.deepcopy(timeline)
    for clip in timeline.find_clips():
        for marker in clip.markers:  # a LOC line has one text: the label and the score
            score = (marker.metadata.get(NAMESPACE) or {}).get("score")
            marker.name = marker.name if score is None else f"{marker.name} {score:.2f}"
    text = otio.adapters.write_to_string(timeline, "cmx_3600")
    rate = timeline.tracks[0].duration().rate
    drop = any(abs(rate - r) < 1e-6 for r in DROP_FRAME_RATES)
    fcm = "FCM: DROP FRAME" if drop else "FCM: NON-DROP FRAME"
    # The adapter writes the title only (its own TODO); the frame-count mode follows it.
    title, _, events = text.partition("\n")
    return f"{title}\n{fcm}\n{events}".encode()


def _fcp_ready(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """A copy whose clip markers count from the media's start and carry their comment in
    ``<comment>`` (see the module doc)."""
    timeline = copy.deepcopy(timeline)
    for clip in timeline.find_clips():
        media_start = clip.media_reference.available_range.start_time
        for marker in clip.markers:
            marked = marker.marked_range
            marker.marked_range = TimeRange(marked.start_time - media_start, marked.duration)
            marker.metadata["fcp_xml"] = {"comment": marker.comment}
    return timeline


def _collection(timelines, name: str) -> otio.schema.SerializableCollection:
    return otio.schema.SerializableCollection(name=name, children=list(timelines))


def _file_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:60] or "timeline"
