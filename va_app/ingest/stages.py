"""The ingest stages, as plain functions over plain values, so any runner can run them.

1. **discover** (:func:`discover`): the video files under a folder and their ``metadata.csv``.
2. **prepare** (:func:`prepare_video`, CPU, one video): probe, find the shots — the editor's
   cut list beside the video when there is one that matches it (:mod:`va_app.video.cutlists`),
   else shot detection — sample keyframes, make the thumbnail and filmstrip JPEGs. It returns
   a picklable :class:`PreparedVideo`, or a :class:`FailedVideo` with the reason a user reads:
   a bad file is a result, not an exception, so it crosses process (and Ray) boundaries like
   any other and is never retried. A cut list that does not match its video is no failure:
   the shots are detected and the reason travels with the result.
3. **encode** (:func:`encode_frames`, batched, GPU when present): the frames of many shots —
   of several videos at once — to vectors.
4. **commit** (``va_app.ingest.commit``): the one writer of the three stores.

Nothing here opens a store: the prepare stage may run in another process or on another machine.
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from va_app.config import Settings
from va_app.domain import ShotSpan, VideoInfo
from va_app.encoders.base import Encoder, evenly_spaced
from va_app.errors import BadVideoError, VAError
from va_app.video.cutlists import (
    CutListMismatch,
    cut_list_shots,
    find_cut_list,
    unmatched_events,
)
from va_app.video.frames import filmstrip_jpeg, iter_shot_frames, thumbnail_jpeg
from va_app.video.probe import discover_videos, probe_video
from va_app.video.shots import detect_shots

# Frames are sampled at this width at most: enough for CLIP (224 px) and for thumbnails.
SAMPLE_WIDTH = 320
#: The stages a run times (seconds summed over videos), in pipeline order.
STAGES = ("probe", "detect", "sample", "encode", "commit")


@dataclass(frozen=True)
class VideoMeta:
    """Metadata a user can attach to a video (``metadata.csv`` in the ingested folder)."""

    title: str = ""
    genre: str = ""
    tags: tuple[str, ...] = ()
    source_url: str = ""


@dataclass(frozen=True)
class PrepareOptions:
    """What the prepare stage needs from the settings and the encoder (small, picklable)."""

    shot_threshold: float
    min_shot_s: float
    max_shot_s: float
    keyframes_per_shot: int
    encoder_frames: int

    @classmethod
    def of(cls, settings: Settings, encoder: Encoder) -> PrepareOptions:
        return cls(
            settings.shot_threshold,
            settings.min_shot_s,
            settings.max_shot_s,
            settings.keyframes_per_shot,
            encoder.frames_per_shot,
        )


@dataclass(frozen=True)
class CutListUse:
    """What the cut list that applies to a video did for it (the report and ``info`` say)."""

    path: str
    used: bool  # its events are the video's shots; False: they were detected instead
    note: str  # how the shots were found from it, or why it was not used
    #: A folder's list: the sources it names that are no video of the folder.
    unmatched: tuple[str, ...] = ()


@dataclass(frozen=True)
class PreparedVideo:
    """One video after the CPU stages: its shots, the frames to encode, its JPEGs."""

    path: str
    info: VideoInfo
    spans: list[ShotSpan]
    #: Per shot, the ``encoder_frames`` frames the encoder reads, uint8 ``(K, H, W, 3)``.
    frames: list[np.ndarray]
    thumbnails: list[bytes]
    filmstrips: list[bytes]
    seconds: dict[str, float] = field(default_factory=dict)
    cut_list: CutListUse | None = None

    @property
    def n_shots(self) -> int:
        return len(self.spans)


@dataclass(frozen=True)
class FailedVideo:
    """A video the prepare stage could not use, with the reason a user reads."""

    path: str
    reason: str


def discover(root: Path) -> tuple[list[Path], dict[str, VideoMeta]]:
    """The video files under ``root`` (sorted) and the metadata of its ``metadata.csv``."""
    return discover_videos(root), read_metadata_csv(root)


def prepare_video(path: str | Path, options: PrepareOptions) -> PreparedVideo | FailedVideo:
    """Probe, detect, sample and make the JPEGs of one video; never raises for a bad file."""
    try:
        return _prepare(Path(path), options)
    except BadVideoError as exc:
        return FailedVideo(str(path), exc.reason)
    except OSError as exc:
        return FailedVideo(str(path), f"could not be read ({exc.strerror or exc})")
    except Exception as exc:  # noqa: BLE001 — one odd file must never stop a long run
        return FailedVideo(str(path), f"could not be processed ({type(exc).__name__}: {exc})")


def _prepare(path: Path, options: PrepareOptions) -> PreparedVideo:
    clock = _Clock()
    info = clock.time("probe", probe_video, path)
    spans, cuts = clock.time("detect", _find_shots, path, info, options)
    try:
        sampled = clock.time("sample", _sample, path, spans, info, options)
    except BadVideoError as exc:
        if cuts is None or not cuts.used:
            raise
        # The list's frames are in the header's count but do not all decode: nothing of it is
        # kept, the shots of what decodes are detected.
        cuts = replace(cuts, used=False, note=f"{Path(cuts.path).name}: {exc.reason}")
        spans = clock.time("detect", _detect, path, info, options)
        sampled = clock.time("sample", _sample, path, spans, info, options)
    frames, thumbs, strips = sampled
    return PreparedVideo(str(path), info, spans, frames, thumbs, strips, clock.seconds, cuts)


def _find_shots(
    path: Path, info: VideoInfo, options: PrepareOptions
) -> tuple[list[ShotSpan], CutListUse | None]:
    """The cut list's shots when one applies and matches the video, else detected shots (with
    the reason the list was not used)."""
    ref = find_cut_list(path)
    if ref is None:
        return _detect(path, info, options), None
    try:
        found = cut_list_shots(ref, path, info)
        if found is not None:
            unmatched = tuple(unmatched_events(ref, path.parent, info))
            return found.spans, CutListUse(ref.path, True, found.note, unmatched)
        why = f"{ref.name} names none of its sources after {path.name}"
    except (CutListMismatch, OSError) as exc:
        why = str(exc)
    return _detect(path, info, options), CutListUse(ref.path, False, why)


def _detect(path: Path, info: VideoInfo, options: PrepareOptions) -> list[ShotSpan]:
    return detect_shots(
        path,
        info,
        threshold=options.shot_threshold,
        min_shot_s=options.min_shot_s,
        max_shot_s=options.max_shot_s,
    )


def _sample(path: Path, spans: list[ShotSpan], info: VideoInfo, options: PrepareOptions):
    per_shot = max(options.encoder_frames, options.keyframes_per_shot)
    frames, thumbs, strips = [], [], []
    for shot_frames in iter_shot_frames(path, spans, per_shot=per_shot, size=_sample_size(info)):
        frames.append(evenly_spaced(shot_frames, options.encoder_frames))
        thumbs.append(thumbnail_jpeg(shot_frames[len(shot_frames) // 2]))
        strips.append(filmstrip_jpeg(evenly_spaced(shot_frames, options.keyframes_per_shot)))
    return frames, thumbs, strips


@dataclass(frozen=True)
class EncodedBatch:
    """The vectors of a batch of videos, one ``(S, dim)`` array each, and the seconds it took."""

    vectors: list[np.ndarray]
    seconds: float


def encode_batch(encoder: Encoder, videos: Sequence[Sequence[np.ndarray]]) -> EncodedBatch:
    """:func:`encode_frames`, timed where it runs (this process, a pool, a Ray actor)."""
    start = time.perf_counter()
    vectors = encode_frames(encoder, videos)
    return EncodedBatch(vectors, time.perf_counter() - start)


def encode_frames(encoder: Encoder, videos: Sequence[Sequence[np.ndarray]]) -> list[np.ndarray]:
    """Encode the shots of several videos in one call; returns each video's ``(S, dim)``."""
    shots = [frames for video in videos for frames in video]
    vectors = encoder.encode_shots(shots) if shots else np.zeros((0, encoder.dim), np.float32)
    bounds = np.cumsum([0, *(len(video) for video in videos)])
    return [vectors[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


class _Clock:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def time(self, stage: str, fn, *args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


def _sample_size(info: VideoInfo) -> tuple[int, int] | None:
    if info.width <= SAMPLE_WIDTH:
        return None
    height = max(2, round(info.height * SAMPLE_WIDTH / info.width / 2) * 2)
    return SAMPLE_WIDTH, height


def read_metadata_csv(root: Path) -> dict[str, VideoMeta]:
    """Optional ``metadata.csv`` (columns ``file, title, genre, tags``; tags split on ``;``)."""
    path = root / "metadata.csv"
    if not path.is_file():
        return {}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if "file" not in (reader.fieldnames or ()):
                # Without it no row applies: say so rather than drop every title silently.
                raise KeyError("no 'file' column")
            return {row["file"]: _meta_from_row(row) for row in reader if row.get("file")}
    except (KeyError, UnicodeDecodeError, csv.Error) as exc:
        raise VAError(
            f"{path} could not be read ({exc}); expected columns file,title,genre,tags"
        ) from exc


def _meta_from_row(row: Mapping[str, str]) -> VideoMeta:
    tags = tuple(t.strip() for t in (row.get("tags") or "").split(";") if t.strip())
    return VideoMeta(
        row.get("title") or "", row.get("genre") or "", tags, row.get("source_url") or ""
    )


def slugify(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    return (slug or "video")[:120]


def title_from_name(stem: str) -> str:
    return re.sub(r"[_-]+", " ", stem).strip().title() or stem
