"""Test videos with known content: hard cuts at known frames, frames that carry their index.

Every generated frame shows a textured, panning picture whose colour changes at each cut,
and (by default) a strip of black/white cells at the bottom that encodes the frame index
(Gray code: one cell flips per frame, so the strip barely adds motion). ``read_frame_code``
reads the index back from a decoded frame, even a resized one, so tests can check exactly
which frame a function returned.

Also here: the broken files ingest must survive — empty, renamed text, truncated, audio-only
— and videos in codecs browsers do not play (``codec="mpeg4"`` in ``.avi``, ``"mjpeg"``).

    starts = make_cut_video(tmp_path / "a.mp4", cuts=[0, 30, 75, 120])   # -> [0, 30, 75]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import av
import cv2
import numpy as np

from va_app.video.writer import TimedFrame, write_timed_video, write_video

DEFAULT_CUTS = (0, 30, 75, 120)
# Cells of the index strip; 12 bits number 4096 frames before the code wraps.
CODE_BITS = 12
_PIX_FMT = {"mjpeg": "yuvj420p"}
_ENCODER_OPTIONS = {
    "libx264": {"preset": "veryfast"},
    "mpeg4": {"qscale": "3"},  # the default bitrate smears small frames
    "mpeg2video": {"qscale": "3"},
}
# Scene hues stay clear of red, where OpenCV's hue wraps (0 = 180) and codec noise near the
# wrap would read as a huge hue change inside a shot.
_HUE_MIN, _HUE_SPAN = 20.0, 140.0


def make_cut_video(
    path: str | Path,
    *,
    cuts: Sequence[int] = DEFAULT_CUTS,
    fps: float = 24,
    size: tuple[int, int] = (160, 96),
    seed: int = 0,
    codec: str = "libx264",
    index_code: bool = True,
    container_options: Mapping[str, str] | None = None,
    timecode: str | None = None,
) -> list[int]:
    """Write a video whose shots are ``[cuts[i], cuts[i+1])``; return the shot start frames.

    ``cuts`` are the shot boundaries, first 0 and last the total frame count, e.g.
    ``[0, 30, 75, 120]`` writes 120 frames with hard cuts at 30 and 75 and returns
    ``[0, 30, 75]``. ``size`` is (width, height), both even. ``codec`` is any PyAV encoder
    (``libx264``, ``libvpx-vp9``, ``mpeg4``, ``mjpeg``, ...); the container follows the suffix.
    ``timecode`` (e.g. ``"10:00:00:00"``, ``;`` for drop-frame) is the start timecode a camera
    writes: a QuickTime ``tmcd`` track in .mov and .mp4.
    """
    bounds = [int(c) for c in cuts]
    if bounds[0] != 0 or any(b <= a for a, b in pairwise(bounds)):
        raise ValueError(f"cuts must start at 0 and increase strictly: {bounds}")
    frames = render_frames(bounds, size=size, seed=seed, index_code=index_code)
    if codec == "libx264" and not container_options and not timecode:
        write_video(path, frames, fps=fps)
    else:
        encode_frames(
            path,
            frames,
            fps=fps,
            codec=codec,
            container_options=container_options,
            timecode=timecode,
        )
    return bounds[:-1]


def render_frames(
    cuts: Sequence[int],
    *,
    size: tuple[int, int] = (160, 96),
    seed: int = 0,
    index_code: bool = True,
) -> Iterator[np.ndarray]:
    """Yield RGB frames ``(H, W, 3)``: one textured, panning scene per segment of ``cuts``."""
    rng = np.random.default_rng(seed)
    width, height = size
    hue = float(rng.uniform(0, _HUE_SPAN))
    for segment, (start, end) in enumerate(pairwise(cuts)):
        # Consecutive scenes differ strongly in hue and brightness: a hard cut for any detector.
        hue = (hue + rng.uniform(45, _HUE_SPAN - 45)) % _HUE_SPAN
        canvas = _scene_canvas(rng, width, height, hue, bright=segment % 2 == 0)
        velocity = rng.integers(1, 3, size=2) * rng.choice([-1, 1], size=2)
        for index in range(start, end):
            shift = velocity * (index - start)
            frame = np.roll(canvas, (int(shift[0]), int(shift[1])), axis=(0, 1))
            if index_code:
                draw_frame_code(frame, index)
            yield frame


def _scene_canvas(
    rng: np.random.Generator, width: int, height: int, hue: float, *, bright: bool
) -> np.ndarray:
    """A smooth random texture around one hue (offset from ``_HUE_MIN``, OpenCV units)."""
    coarse = rng.uniform(0, 1, size=(max(2, height // 12), max(2, width // 12), 2))
    smooth = cv2.resize(coarse.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    value_base = 200 if bright else 110
    hsv = np.empty((height, width, 3), np.float32)
    hsv[..., 0] = _HUE_MIN + hue + 10 * (smooth[..., 0] - 0.5)
    hsv[..., 1] = 140 + 100 * smooth[..., 1]
    hsv[..., 2] = value_base + 100 * (smooth[..., 0] - 0.5)
    hsv = np.clip(hsv, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def draw_frame_code(frame: np.ndarray, index: int, *, bits: int = CODE_BITS) -> None:
    """Paint ``index`` (Gray code, most significant bit left) into the bottom strip, in place."""
    height, width = frame.shape[:2]
    gray = index ^ (index >> 1)
    top = height - _strip_height(height)
    for bit in range(bits):
        left, right = bit * width // bits, (bit + 1) * width // bits
        on = (gray >> (bits - 1 - bit)) & 1
        frame[top:, left:right] = 255 if on else 0


def read_frame_code(frame: np.ndarray, *, bits: int = CODE_BITS) -> int:
    """The index ``draw_frame_code`` painted into ``frame`` (works on resized frames too)."""
    height, width = frame.shape[:2]
    strip = frame[height - _strip_height(height) :].mean(axis=2)
    row = strip[strip.shape[0] // 2]
    gray = 0
    for bit in range(bits):
        centre = int((bit + 0.5) * width / bits)
        gray = (gray << 1) | int(row[centre] > 127)
    index, shift = gray, gray >> 1
    while shift:
        index ^= shift
        shift >>= 1
    return index


def _strip_height(height: int) -> int:
    return max(4, height // 8)


def encode_frames(
    path: str | Path,
    frames: Iterator[np.ndarray],
    *,
    fps: float = 24,
    codec: str = "mpeg4",
    container_options: Mapping[str, str] | None = None,
    timecode: str | None = None,
) -> int:
    """Encode RGB frames with any PyAV encoder (``write_video`` only does what browsers play);
    ``timecode``: the stream's start timecode tag (FFmpeg's muxers write a ``tmcd`` track)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with av.open(str(path), mode="w", options=dict(container_options or {})) as container:
        stream = None
        for frame in frames:
            if stream is None:
                stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = _PIX_FMT.get(codec, "yuv420p")
                stream.options = _ENCODER_OPTIONS.get(codec, {})
                if timecode:
                    stream.metadata["timecode"] = timecode
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            count += 1
        if stream is not None:
            container.mux(stream.encode(None))
    return count


def make_vfr_video(
    path: str | Path,
    times_s: Sequence[Fraction],
    *,
    cuts: Sequence[int],
    size: tuple[int, int] = (160, 96),
    seed: int = 0,
) -> None:
    """A variable-frame-rate H.264 mp4: frame i (its code strip reads i) shows at
    ``times_s[i]``; ``cuts`` are scene boundaries in those frames, as for ``make_cut_video``.
    """
    frames = render_frames(cuts, size=size, seed=seed)
    timed = (TimedFrame(image, Fraction(t)) for image, t in zip(frames, times_s, strict=True))
    periods = [b - a for a, b in pairwise(times_s)]
    end = Fraction(times_s[-1]) + Fraction(min(periods))
    write_timed_video(path, timed, fps=len(times_s) / float(end), end_s=end)


def make_empty_file(path: str | Path) -> Path:
    """A zero-byte file with a video suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def make_text_file(path: str | Path) -> Path:
    """A text file renamed to look like a video (e.g. ``notes.mp4``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("These are meeting notes, not a video.\n" * 50)
    return path


def make_truncated_video(
    path: str | Path, *, keep_fraction: float = 0.5, faststart: bool = True, **video_options
) -> list[int]:
    """A video cut off after ``keep_fraction`` of its bytes; returns the full video's starts.

    With ``faststart`` (mp4/mov) the index sits before the data, so the file still opens and
    decodes up to where the bytes stop; without it an mp4 loses its index and does not open.
    Matroska/AVI/TS files always open and decode their first part.
    """
    path = Path(path)
    full = path.with_name(f"full-{path.name}")
    if faststart and path.suffix.lower() in (".mp4", ".mov", ".m4v"):
        video_options.setdefault("container_options", {"movflags": "faststart"})
    starts = make_cut_video(full, **video_options)
    data = full.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    full.unlink()
    return starts


# Where a container names the video codec, and a same-length name no FFmpeg decoder knows
# (the file still parses; only the decoder is missing, as with a camera's raw format).
_CODEC_NAMES = {".mp4": (b"avc1", b"zzzz"), ".mkv": (b"V_MPEG4/ISO/AVC", b"V_QWERTY/RAW/XY")}


def make_unknown_codec_video(path: str | Path, **video_options) -> Path:
    """An H.264 .mp4 or .mkv whose codec tag (mp4) or codec id (Matroska) is renamed in place
    to one no FFmpeg decoder knows. ``video_options`` go to :func:`make_cut_video`."""
    path = Path(path)
    known, unknown = _CODEC_NAMES[path.suffix.lower()]
    path.parent.mkdir(parents=True, exist_ok=True)
    full = path.with_name(f"h264-{path.name}")
    make_cut_video(full, codec="libx264", **video_options)
    data = full.read_bytes()
    full.unlink()
    assert known in data, f"expected the H.264 codec name {known!r} in the file"
    path.write_bytes(data.replace(known, unknown))
    return path


def make_audio_only(path: str | Path, *, seconds: float = 1.0, rate: int = 44100) -> Path:
    """An AAC file with a tone and no video stream (``.m4a`` or ``.mp4``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        t = np.arange(int(seconds * rate)) / rate
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, tone.size, 1024):
            chunk = tone[None, start : start + 1024]
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate = rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path
