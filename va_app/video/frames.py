"""Frames out of videos: shot keyframes (one decode pass), single frames, thumbnails, filmstrips.

A frame's index is its presentation time × fps, rounded — the numbering PySceneDetect gives
shot boundaries — so shot spans, keyframes and previews all point at the same pictures.
Decoding is PyAV. It decodes ~16k frames/s at 320×180 here; a pass decodes every frame and
converts to RGB only the frames it keeps, with one reused scaler (``RgbConverter``).
"""

from __future__ import annotations

import io
import os
import uuid
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Sequence
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image

from va_app.domain import ShotSpan
from va_app.errors import BadVideoError, ValidationError
from va_app.video.probe import decode_frames, quarter_turns, video_fps

JPEG_QUALITY = 85


def keyframe_indices(span: ShotSpan, k: int) -> list[int]:
    """Centres of ``k`` equal parts of the shot: ``start + floor((j + ½) · n / k)``, j < k.

    ``k = 1`` gives the middle frame. Short shots repeat frames rather than return fewer.
    """
    if k < 1:
        raise ValidationError(f"need at least one keyframe per shot, got {k}")
    return [span.start_frame + (2 * j + 1) * span.n_frames // (2 * k) for j in range(k)]


def sample_shot_frames(
    path: str | Path,
    shots: Sequence[ShotSpan],
    *,
    per_shot: int,
    size: tuple[int, int] | None = None,
) -> list[np.ndarray]:
    """For each shot, ``per_shot`` evenly spaced RGB frames ``(per_shot, H, W, 3)`` uint8.

    ``size`` is (width, height) of the returned frames (the video's own size when None; mind
    memory for long high-resolution videos — or stream with ``iter_shot_frames``).
    """
    return list(iter_shot_frames(path, shots, per_shot=per_shot, size=size))


def iter_shot_frames(
    path: str | Path,
    shots: Sequence[ShotSpan],
    *,
    per_shot: int,
    size: tuple[int, int] | None = None,
) -> Iterator[np.ndarray]:
    """``sample_shot_frames`` as a stream: yields each shot's frames, in order, as soon as
    the one sequential decode pass has passed them, and keeps no others in memory."""
    wanted = [keyframe_indices(span, per_shot) for span in shots]
    if not wanted:
        return
    still_needed = Counter(i for indices in wanted for i in indices)
    targets = sorted(still_needed)
    kept: dict[int, np.ndarray] = {}
    to_rgb = RgbConverter(size)
    next_target = next_shot = 0
    frames = _decode_indexed(path)
    for index, frame in frames:
        # The first frame at or after a target stands in for it (variable frame rate gaps).
        while next_target < len(targets) and targets[next_target] <= index:
            kept[targets[next_target]] = to_rgb(frame)
            next_target += 1
        while next_shot < len(wanted) and all(i in kept for i in wanted[next_shot]):
            yield _take(kept, still_needed, wanted[next_shot])
            next_shot += 1
        if next_shot == len(wanted):
            break
    frames.close()  # closes the file now, not when garbage collection gets to it
    if next_shot < len(wanted):
        missing = max(wanted[next_shot])
        reason = f"decoding stopped before frame {missing}: the file is truncated or damaged"
        raise BadVideoError(str(path), reason)


def _take(kept: dict[int, np.ndarray], still_needed: Counter, indices: list[int]) -> np.ndarray:
    stacked = np.stack([kept[i] for i in indices])
    for i in indices:
        still_needed[i] -= 1
        if still_needed[i] == 0:
            del kept[i]
    return stacked


def read_frame(path: str | Path, frame_index: int) -> np.ndarray:
    """The exact frame ``frame_index`` as RGB ``(H, W, 3)``: seek to the keyframe before it,
    decode forward to it."""
    if frame_index < 0:
        raise ValidationError(f"frame index must be >= 0, got {frame_index}")
    for _, frame in indexed_frames(path, start=frame_index):
        return RgbConverter()(frame)
    raise ValidationError(f"{path} has no frame {frame_index}: the video is shorter")


def indexed_frames(
    path: str | Path, *, start: int = 0, stop: int | None = None
) -> Iterator[tuple[int, av.VideoFrame]]:
    """``(index, frame)`` for the frames ``start <= index < stop`` (seeks near ``start``)."""
    for index, frame in _decode_indexed(path, first_index=start):
        if stop is not None and index >= stop:
            return
        if index >= start:
            yield index, frame


def _decode_indexed(
    path: str | Path, *, first_index: int = 0
) -> Generator[tuple[int, av.VideoFrame], None, None]:
    """``(index, frame)`` pairs from about ``first_index`` on (earlier frames may come too)."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            yield from _indexed_from(container, stream, first_index)
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        raise BadVideoError(str(path), f"could not be decoded ({exc})") from exc


def _indexed_from(container, stream, first_index: int) -> Iterator[tuple[int, av.VideoFrame]]:
    if first_index > 0 and _seek_before(container, stream, first_index):
        frames = _indexed(container, stream)
        first = next(frames, None)
        if first is not None and first[1].pts is not None and first[0] <= first_index:
            yield first
            yield from frames
            return
        # The seek landed past the frame, or frames carry no times: decode from the start.
        container.seek(0)
    yield from _indexed(container, stream)


def _seek_before(container, stream, index: int) -> bool:
    fps = video_fps(stream)
    if not fps or not stream.time_base:
        return False
    # Half a frame early, so rounding never lands the seek on the frame after the target.
    seconds = max(0.0, (index - 0.5) / fps)
    container.seek((stream.start_time or 0) + int(seconds / stream.time_base), stream=stream)
    return True


def _indexed(container, stream) -> Iterator[tuple[int, av.VideoFrame]]:
    fps = video_fps(stream) or 1.0
    start = stream.start_time or 0
    index = -1
    for frame in decode_frames(container, stream):
        if frame.pts is None or frame.time_base is None:
            index += 1  # no timestamps: count, valid when decoding from the start
        else:
            index = round(float((frame.pts - start) * frame.time_base) * fps)
        if index >= 0:
            yield index, frame


class RgbConverter:
    """Frames to RGB arrays, optionally resized to (width, height).

    One converter per decode pass: it keeps FFmpeg's scaler between frames, which makes a
    conversion ~0.1 ms instead of ~7 ms for ``VideoFrame.to_ndarray`` setting one up each call.
    """

    def __init__(self, size: tuple[int, int] | None = None) -> None:
        self._width: int | None
        self._height: int | None
        self._width, self._height = size or (None, None)
        self._interpolation = "AREA" if size else None
        self._reformatter = VideoReformatter()

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        turns = quarter_turns(frame)
        width, height = (self._height, self._width) if turns % 2 else (self._width, self._height)
        rgb = self._reformatter.reformat(
            frame,
            width=width,
            height=height,
            format="rgb24",
            interpolation=self._interpolation,
        )
        array = rgb.to_ndarray()
        # Upright as players show it (a phone's portrait video is stored sideways).
        return np.ascontiguousarray(np.rot90(array, turns)) if turns else array


def write_thumbnail(frame: np.ndarray, path: str | Path, *, width: int = 320) -> Path:
    """Save ``frame`` as a JPEG ``width`` pixels wide (height keeps the aspect ratio)."""
    return write_jpeg(thumbnail_jpeg(frame, width=width), path)


def write_filmstrip(frames: Iterable[np.ndarray], path: str | Path, *, height: int = 90) -> Path:
    """Save frames side by side, each scaled to ``height`` pixels high, as one JPEG."""
    return write_jpeg(filmstrip_jpeg(frames, height=height), path)


def thumbnail_jpeg(frame: np.ndarray, *, width: int = 320) -> bytes:
    """:func:`write_thumbnail`'s JPEG as bytes (made where the frames are, written elsewhere)."""
    height = max(1, round(frame.shape[0] * width / frame.shape[1]))
    image = Image.fromarray(_as_rgb_uint8(frame)).resize((width, height), Image.Resampling.BILINEAR)
    return _jpeg_bytes(image)


def filmstrip_jpeg(frames: Iterable[np.ndarray], *, height: int = 90) -> bytes:
    """:func:`write_filmstrip`'s JPEG as bytes."""
    tiles = [_scaled_to_height(frame, height) for frame in frames]
    if not tiles:
        raise ValidationError("a filmstrip needs at least one frame")
    return _jpeg_bytes(Image.fromarray(np.hstack(tiles)))


def _jpeg_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _scaled_to_height(frame: np.ndarray, height: int) -> np.ndarray:
    width = max(1, round(frame.shape[1] * height / frame.shape[0]))
    image = Image.fromarray(_as_rgb_uint8(frame)).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image)


def _as_rgb_uint8(frame: np.ndarray) -> np.ndarray:
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        got = f"{frame.dtype} {frame.shape}"
        raise ValidationError(f"expected a uint8 RGB frame (H, W, 3), got {got}")
    return np.ascontiguousarray(frame)


def write_jpeg(data: bytes, path: str | Path) -> Path:
    """Write JPEG bytes atomically: a reader never sees half a JPEG (the app may show it
    meanwhile)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
