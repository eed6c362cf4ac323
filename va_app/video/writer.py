"""Write H.264 mp4 files with PyAV (``libx264``, ``yuv420p``) — the format browsers play.

OpenCV's writer here only has ``mp4v``, which Chromium refuses; PyAV bundles libx264.
"""

from __future__ import annotations

from collections.abc import Iterable
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
