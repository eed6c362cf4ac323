"""Shot clips: one shot cut into its own small H.264 mp4 that holds exactly the shot's frames.

Why not play the original between the shot's times: ``st.video`` floors fractional start and
end times to whole seconds (a shot at 4.3–5.4 s plays 4.0–5.0 s, a third of a second of the
shot before and its own end cut off), and a looping player would replay the neighbours. A clip
is the shot and nothing else, so playing or looping it can never show another shot.

A clip holds the frames whose index lies in ``[start_frame, end_frame)`` — the index is the
frame's presentation time × fps, rounded (:mod:`va_app.video.frames`, the numbering shot
boundaries use) — each at its own presentation time relative to the shot's first frame, so a
variable-frame-rate source keeps its timing; the last frame lasts until the shot's end time.
Clips are ~360 lines, yuv420p (what Chromium decodes), no audio, index at the front
(``faststart``: playback starts before the download ends). They are made on first play,
cached under ``clips_dir`` and written atomically (a temp file renamed into place).
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from va_app.domain import Shot, VideoInfo
from va_app.errors import BadVideoError, NotFoundError, ValidationError
from va_app.video.frames import RgbConverter, indexed_frames
from va_app.video.probe import probe_video
from va_app.video.writer import TimedFrame, write_timed_video

#: Lines of a clip: enough to judge a shot in a card, small enough to cut on first play
#: (a 3 s 1080p shot cuts in well under a second here; decoding the source dominates).
CLIP_HEIGHT = 360


@dataclass(frozen=True)
class ShotClipRequest:
    """Which frames of which file a clip is made of (frames ``[start_frame, end_frame)``)."""

    video_path: str
    start_frame: int
    end_frame: int
    fps: float
    key: str

    def __post_init__(self) -> None:
        if not 0 <= self.start_frame < self.end_frame:
            raise ValidationError(f"bad shot span [{self.start_frame}, {self.end_frame})")
        if self.fps <= 0:
            raise ValidationError(f"bad frame rate {self.fps}")

    @classmethod
    def of(cls, shot: Shot) -> ShotClipRequest:
        return cls(shot.video_path, shot.start_frame, shot.end_frame, shot.fps, key=shot.id)


def clip_of_shot(shot: Shot, *, clips_dir: str | Path) -> Path:
    """:func:`shot_clip` of a stored shot; a shot whose video is not here (an imported corpus
    of YouTube links, a moved file) raises ``NotFoundError`` saying where it can be seen."""
    if not shot.video_path or not Path(shot.video_path).is_file():
        raise _no_video(shot.id, shot.video_path, seen_at=shot.source_url)
    return shot_clip(ShotClipRequest.of(shot), clips_dir=clips_dir)


def shot_clip(request: ShotClipRequest, *, clips_dir: str | Path) -> Path:
    """The clip of the shot, cut now unless a clip newer than the source is already cached."""
    source = Path(request.video_path)
    if not request.video_path or not source.is_file():
        raise _no_video(request.key, request.video_path)
    target = clip_path(request, clips_dir=clips_dir)
    if not (target.is_file() and target.stat().st_mtime_ns >= source.stat().st_mtime_ns):
        write_clip(request, target)
    return target


def clip_path(request: ShotClipRequest, *, clips_dir: str | Path) -> Path:
    """Where the clip of ``request`` is cached: its key and frame span name it."""
    return (
        Path(clips_dir) / f"{_safe_name(request.key)}-{request.start_frame}-"
        f"{request.end_frame}.clip.mp4"
    )


def write_clip(request: ShotClipRequest, target: Path) -> int:
    """Cut the shot's frames to ``target`` (atomically); returns how many frames it holds."""
    info = probe_video(request.video_path)
    n_frames = request.end_frame - request.start_frame
    end = Fraction(n_frames) / Fraction(request.fps).limit_denominator(1001)
    tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex}.tmp.mp4")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        count = write_timed_video(tmp, _timed_frames(info, request), fps=info.fps, end_s=end)
        if count == 0:
            raise BadVideoError(
                info.path,
                f"no frame decodes in frames {request.start_frame}–"
                f"{request.end_frame}: the file is shorter or damaged",
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def _timed_frames(info: VideoInfo, request: ShotClipRequest) -> Iterator[TimedFrame]:
    """The shot's frames, upright and scaled, timed from the first one (streamed: a 12 s
    shot never sits in memory whole)."""
    to_rgb = RgbConverter(clip_size(info.width, info.height))
    first: Fraction | None = None
    for _, frame in indexed_frames(info.path, start=request.start_frame, stop=request.end_frame):
        if frame.pts is None or frame.time_base is None:
            yield TimedFrame(to_rgb(frame), None)  # untimed: the writer times it
            continue
        when = Fraction(frame.pts * frame.time_base)
        first = when if first is None else first
        yield TimedFrame(to_rgb(frame), when - first)


def clip_size(width: int, height: int, *, max_height: int = CLIP_HEIGHT) -> tuple[int, int]:
    """Even width and height (yuv420p needs them), at most ``max_height`` high, aspect kept."""
    scale = min(1.0, max_height / height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def _no_video(key: str, path: str, *, seen_at: str = "") -> NotFoundError:
    where = f"; it can be seen at {seen_at}" if seen_at else ""
    return NotFoundError(
        f"the video of shot {key!r} is not on this machine "
        f"({path or 'no file recorded'}): nothing to play{where}"
    )


def _safe_name(key: str) -> str:
    # Shot ids hold "|" and video names anything; the hash keeps distinct keys distinct.
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._")[:80]
    return f"{readable}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
