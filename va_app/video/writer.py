"""Write H.264 mp4 files with PyAV (``libx264``, ``yuv420p``) — the format browsers play.

``write_video`` writes frames at a constant rate; ``write_timed_video`` keeps each frame's own
presentation time (shot clips of variable-frame-rate sources).

OpenCV's writer here only has ``mp4v``, which Chromium refuses; PyAV bundles libx264.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    *,
    fps: float = 24.0,
    codec: str = "libx264",
    crf: int = 23,
) -> int:
    """Encode uint8 RGB frames ``(H, W, 3)`` (even H and W) to ``path``; returns frames written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with av.open(str(path), mode="w") as container:
        stream = None
        for frame in frames:
            if stream is None:
                stream = _add_stream(container, codec, fps, frame.shape, crf)
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            container.mux(stream.encode(video_frame))
            count += 1
        if stream is not None:
            container.mux(stream.encode(None))
    return count


def _add_stream(container, codec: str, fps: float, shape: tuple[int, ...], crf: int):
    stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
    stream.height, stream.width = int(shape[0]), int(shape[1])
    stream.pix_fmt = "yuv420p"
    if codec == "libx264":
        # Every frame a possible cut point; fast presets keep tests and the demo quick.
        stream.options = {"crf": str(crf), "preset": "veryfast", "tune": "fastdecode"}
    return stream


#: Time base of timed clips: 90 kHz, the MPEG clock — exact for 24, 25, 30 and 1001-based rates.
CLIP_TIME_BASE = Fraction(1, 90_000)


@dataclass(frozen=True)
class TimedFrame:
    """An RGB frame and when it shows, in seconds from the clip's start (None: one frame
    period after the frame before)."""

    image: np.ndarray
    time: Fraction | None


def write_timed_video(
    path: str | Path,
    frames: Iterable[TimedFrame],
    *,
    fps: float,
    end_s: Fraction,
    crf: int = 23,
) -> int:
    """Encode frames at their own times (variable frame rates stay as they were) as H.264 mp4.

    Each frame lasts until the next one's time, the last until ``end_s`` (at least one frame
    period), so the file's duration is the span it was cut from. No B-frames and every
    frame's timestamp kept: a player shows exactly these frames, first to last. Returns how
    many frames were written.
    """
    period = Fraction(1) / Fraction(fps).limit_denominator(1001)
    count = 0
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = None
        previous: tuple[av.VideoFrame, Fraction] | None = None
        for frame in frames:
            when = (
                frame.time
                if frame.time is not None
                else (previous[1] + period if previous else Fraction(0))
            )
            if stream is None:
                stream = _add_timed_stream(out, fps, frame.image.shape, crf)
            if previous is not None:
                _mux_timed(out, stream, *previous, until=when)
                count += 1
            video_frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(frame.image), format="rgb24"
            )
            previous = (video_frame, when)
        if previous is not None:
            _mux_timed(out, stream, *previous, until=max(end_s, previous[1] + period))
            count += 1
            assert stream is not None  # added for the first frame
            out.mux(stream.encode(None))
    return count


def _mux_timed(container, stream, frame: av.VideoFrame, when: Fraction, *, until: Fraction) -> None:
    frame.time_base = CLIP_TIME_BASE
    frame.pts = round(when / CLIP_TIME_BASE)
    frame.duration = max(1, round(until / CLIP_TIME_BASE) - frame.pts)  # never 0: it shows
    container.mux(stream.encode(frame))


def _add_timed_stream(container, fps: float, shape: tuple[int, ...], crf: int):
    stream = _add_stream(container, "libx264", fps, shape, crf)
    stream.codec_context.time_base = CLIP_TIME_BASE
    stream.time_base = CLIP_TIME_BASE
    # zerolatency: no B-frames and no lookahead — presentation order is decode order, so the
    # first frame shown is the first frame decoded (no edit list for players to get wrong).
    stream.options = {**stream.options, "tune": "fastdecode,zerolatency"}
    return stream
