"""Probing video files: what a file holds (size, frame rate, frames, codec), or why it is unusable.

Owns ``probe_video`` (PyAV; decodes the first frame to prove the file plays), the list of
video suffixes and ``discover_videos`` (which files of a folder ingest looks at), and
``file_fingerprint`` (a cheap identity that changes when a file's content changes).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import av

from va_app.domain import VideoInfo
from va_app.errors import BadVideoError, NotFoundError, ValidationError

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv"}
)
# Bytes hashed at each end of a file: enough to tell re-encoded or replaced files apart
# without reading gigabytes.
FINGERPRINT_CHUNK = 1 << 20
# A decoder that fails on this many packets in a row has reached the damaged part of a file.
MAX_BAD_PACKETS = 8
NOTHING_DECODES = "no frame could be decoded: the file is truncated or corrupt"
UNSUPPORTED_CODEC = (
    "unsupported video codec: FFmpeg has no decoder for it; re-encode the file, "
    "e.g. ffmpeg -i IN -c:v libx264 -crf 18 OUT.mp4"
)


def probe_video(path: str | Path) -> VideoInfo:
    """Describe the video at ``path``; raise ``BadVideoError`` saying why it cannot be used."""
    path = Path(path)
    _check_readable_file(path)
    try:
        with av.open(str(path)) as container:
            return _describe(path, container)
    except av.error.InvalidDataError as exc:
        raise BadVideoError(
            str(path),
            "not a video: its format is not one FFmpeg recognises (a renamed or damaged file?)",
        ) from exc
    except (av.error.FFmpegError, OSError) as exc:
        raise BadVideoError(str(path), f"could not be read ({exc})") from exc


def _check_readable_file(path: Path) -> None:
    if not path.exists():
        raise BadVideoError(str(path), "file not found")
    if not path.is_file():
        raise BadVideoError(str(path), "not a regular file")
    if path.stat().st_size == 0:
        raise BadVideoError(str(path), "the file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise BadVideoError(str(path), "cannot be read: permission denied")


def _describe(path: Path, container: av.container.InputContainer) -> VideoInfo:
    if not container.streams.video:
        what = "only audio" if container.streams.audio else "no audio or video"
        raise BadVideoError(str(path), f"no video stream: the file holds {what}")
    stream = container.streams.video[0]
    if stream.codec_context is None:  # FFmpeg knows no decoder for the stream's codec
        raise BadVideoError(str(path), UNSUPPORTED_CODEC)
    fps = video_fps(stream)
    if fps is None:
        raise BadVideoError(str(path), "the frame rate is unknown, so frames cannot be timed")
    first = next(decode_frames(container, stream), None)
    if first is None:
        raise BadVideoError(str(path), NOTHING_DECODES)
    n_frames = max(1, _frame_count(container, stream, fps))
    # The size players show: a rotated (portrait phone) video's display matrix swaps it.
    width, height = (
        (first.height, first.width) if quarter_turns(first) % 2 else (first.width, first.height)
    )
    return VideoInfo(
        path=str(path),
        width=width,
        height=height,
        fps=fps,
        n_frames=n_frames,
        duration_s=n_frames / fps,
        codec=stream.codec_context.name,
        container=container.format.name,
    )


def quarter_turns(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns that show ``frame`` upright, from its display matrix
    (PyAV's ``rotation``: degrees counter-clockwise, as FFmpeg's autorotate reads it); 0–3."""
    degrees = getattr(frame, "rotation", 0) or 0
    return round(degrees / 90) % 4


def video_fps(stream: av.video.stream.VideoStream) -> float | None:
    """Frames per second of ``stream`` (its average rate; FFmpeg's guess when absent)."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def decode_frames(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> Iterator[av.VideoFrame]:
    """Decode ``stream`` from the container's current position, skipping damaged packets.

    Stops at the end, after ``MAX_BAD_PACKETS`` undecodable packets in a row, or where the
    file's bytes stop (a truncated file yields the frames before the cut).
    """
    packets = container.demux(stream)
    bad_in_a_row = 0
    while bad_in_a_row < MAX_BAD_PACKETS:
        try:
            packet = next(packets)
        except (StopIteration, av.error.FFmpegError):
            return
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            bad_in_a_row += 1
            continue
        bad_in_a_row = 0
        yield from frames


def _frame_count(container: av.container.InputContainer, stream, fps: float) -> int:
    """The header's frame count when it agrees with the duration, else the smaller estimate.

    Headers and durations disagree mostly in damaged files (an AVI header still counts the
    frames a truncation removed); the smaller number is the one closer to what decodes.
    """
    counted = stream.frames if stream.frames and stream.frames > 0 else None
    seconds = _duration_s(container, stream)
    estimated = round(seconds * fps) if seconds else None
    if counted and estimated:
        agree = abs(counted - estimated) <= 1 + 0.01 * counted
        return counted if agree else min(counted, estimated)
    return counted or estimated or _count_packets(container, stream)


def _duration_s(container: av.container.InputContainer, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration and container.duration > 0:
        return container.duration / av.time_base
    return None


def _count_packets(container: av.container.InputContainer, stream) -> int:
    """Last resort for streams that state neither frames nor duration: one packet per frame."""
    container.seek(0)
    return sum(1 for packet in container.demux(stream) if packet.size)


def discover_videos(root: str | Path) -> list[Path]:
    """Every video file under ``root`` (recursive, by suffix, sorted); hidden entries skipped."""
    root = Path(root).expanduser()
    if not root.exists():
        raise NotFoundError(f"video folder {root} does not exist")
    if not root.is_dir():
        raise ValidationError(f"{root} is not a folder: give the folder that holds the videos")
    if not os.access(root, os.R_OK | os.X_OK):
        raise ValidationError(f"video folder {root} cannot be read: permission denied")
    found = (
        p
        for p in root.rglob("*")
        if p.suffix.lower() in VIDEO_EXTENSIONS and not _is_hidden(p, root) and p.is_file()
    )
    return sorted(found)


def _is_hidden(path: Path, root: Path) -> bool:
    # Dot-files include macOS "._clip.mp4" resource forks, which only look like videos.
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def file_fingerprint(path: str | Path) -> str:
    """``"<size>-<mtime_ns>-<sha1 of first and last MiB>"``: changes when the file does."""
    path = Path(path)
    try:
        stat = path.stat()
        digest = hashlib.sha1()
        with path.open("rb") as handle:
            digest.update(handle.read(FINGERPRINT_CHUNK))
            if stat.st_size > FINGERPRINT_CHUNK:
                handle.seek(max(FINGERPRINT_CHUNK, stat.st_size - FINGERPRINT_CHUNK))
                digest.update(handle.read(FINGERPRINT_CHUNK))
    except OSError as exc:
        raise BadVideoError(str(path), f"cannot be read ({exc.strerror or exc})") from exc
    return f"{stat.st_size}-{stat.st_mtime_ns}-{digest.hexdigest()}"
