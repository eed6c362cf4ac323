"""Browser previews of shots: play the original where browsers can, else a transcoded segment.

Chromium plays H.264 (8-bit 4:2:0) in mp4/mov/m4v and VP8/VP9 in webm; ``st.video`` then
plays the original between the shot's start and end. Anything else (mpeg4 in .avi, mjpeg,
HEVC, ...) gets only the shot transcoded to H.264 mp4 under ``previews_dir``, once per key.
Previews carry no audio.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import av

from va_app.domain import VideoInfo
from va_app.errors import BadVideoError, ValidationError
from va_app.video.frames import RgbConverter, indexed_frames
from va_app.video.probe import probe_video
from va_app.video.writer import write_video

BROWSER_CODECS = {
    ".mp4": {"h264"},
    ".m4v": {"h264"},
    ".mov": {"h264"},
    ".webm": {"vp8", "vp9"},
}
# Chromium decodes only 8-bit 4:2:0 H.264; 4:2:2, 4:4:4 and 10-bit streams show nothing.
BROWSER_H264_PIX_FMTS = {"yuv420p", "yuvj420p"}
# Previews are for looking at in a card, not for archiving: at most 480 lines. A 5 s 1080p
# shot then transcodes in ~1.8 s here (~3.9 s at 720 lines; encoding dominates).
MAX_PREVIEW_HEIGHT = 480


@dataclass(frozen=True)
class PlayableSegment:
    """A file a browser can play and the part of it that is the shot (seconds)."""

    path: Path
    start_s: float
    end_s: float
    transcoded: bool


def playable_segment(
    info_or_path: VideoInfo | str | Path,
    start_s: float,
    end_s: float,
    *,
    previews_dir: str | Path,
    key: str,
) -> PlayableSegment:
    """The original and its times when browsers play it, else a cached H.264 clip of the shot.

    ``key`` names the clip in ``previews_dir`` (a shot id): a clip already there for that key
    is reused, so one key must always mean the same segment.
    """
    if not 0 <= start_s < end_s:
        raise ValidationError(f"bad segment: start {start_s} s, end {end_s} s")
    info = info_or_path if isinstance(info_or_path, VideoInfo) else probe_video(info_or_path)
    if browser_playable(info):
        return PlayableSegment(Path(info.path), start_s, end_s, transcoded=False)
    target = Path(previews_dir) / f"{_safe_name(key)}.mp4"
    if not target.exists():
        _transcode_segment(info, start_s, end_s, target)
    return PlayableSegment(target, 0.0, _duration_s(target), transcoded=True)


def browser_playable(info: VideoInfo) -> bool:
    """True when Chromium plays the file as it is (codec fits the suffix, and pixel format)."""
    codecs = BROWSER_CODECS.get(Path(info.path).suffix.lower(), set())
    if info.codec not in codecs:
        return False
    return info.codec != "h264" or _pix_fmt(info.path) in BROWSER_H264_PIX_FMTS


def _pix_fmt(path: str) -> str | None:
    try:
        with av.open(path) as container:
            return container.streams.video[0].codec_context.pix_fmt
    except (av.error.FFmpegError, OSError, IndexError):
        return None


def _safe_name(key: str) -> str:
    # Shot ids hold "|" and video names anything; the hash keeps distinct keys distinct.
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._")[:80]
    return f"{readable}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"


def _transcode_segment(info: VideoInfo, start_s: float, end_s: float, target: Path) -> None:
    """Write frames ``[start, end)`` of the video to ``target`` as H.264, atomically."""
    start = round(start_s * info.fps)
    stop = max(start + 1, round(end_s * info.fps))
    to_rgb = RgbConverter(_preview_size(info.width, info.height))
    frames = (to_rgb(frame) for _, frame in indexed_frames(info.path, start=start, stop=stop))
    tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex}.mp4")
    try:
        if write_video(tmp, frames, fps=info.fps) == 0:
            between = f"between {start_s:.2f} s and {end_s:.2f} s"
            raise BadVideoError(info.path, f"no frame decodes {between}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _preview_size(width: int, height: int) -> tuple[int, int]:
    """Even width and height (yuv420p needs them), at most ``MAX_PREVIEW_HEIGHT`` high."""
    scale = min(1.0, MAX_PREVIEW_HEIGHT / height)
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def _duration_s(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.frames and stream.average_rate:
            return float(stream.frames / stream.average_rate)
        return float(container.duration or 0) / av.time_base
