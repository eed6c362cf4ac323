"""Shot detection: PySceneDetect's ContentDetector finds hard cuts; our rules shape the shots.

The rules, applied after detection (pure functions, tested on their own):
- a shot is at least ``min_shot_s`` long: walking forward, a cut that comes sooner than
  that after the last kept cut is ignored, so a flash or a very short shot becomes the
  start of the shot after it; a too-short last shot joins the one before it;
- a shot longer than ``max_shot_s`` is split into the fewest equal parts that fit;
- shots cover the video contiguously from frame 0 to the last frame that decodes.

The detector runs on OpenCV's decoder (≈2.6k frames/s at 320×180 here against ≈1.1–1.7k for
the PyAV backend; both give the exact cut frames); PyAV is the fallback for files OpenCV
cannot open.
"""

from __future__ import annotations

import logging
import math
from itertools import pairwise
from pathlib import Path

from scenedetect import ContentDetector, SceneManager, open_video
from scenedetect.video_stream import VideoOpenFailure

from va_app.domain import ShotSpan, VideoInfo
from va_app.errors import BadVideoError
from va_app.video.probe import NOTHING_DECODES

log = logging.getLogger(__name__)


def detect_shots(
    path: str | Path,
    info: VideoInfo,
    *,
    threshold: float = 27.0,
    min_shot_s: float = 0.5,
    max_shot_s: float = 12.0,
) -> list[ShotSpan]:
    """Shots of the video, contiguous from frame 0 to its last decodable frame.

    Frame numbers are presentation time × ``info.fps`` (the numbering ``va_app.video.frames``
    uses). A truncated file gets shots up to where decoding stops (logged as a warning).
    """
    cuts, n_frames = _detect_cuts(path, info.fps, threshold)
    if n_frames < info.n_frames:
        log.warning("%s: only %d of %d frames decode", path, n_frames, info.n_frames)
    starts = enforce_min_length(cuts, n_frames, min_frames=max(1, round(min_shot_s * info.fps)))
    spans = [ShotSpan(start, end, info.fps) for start, end in pairwise([*starts, n_frames])]
    return split_long_shots(spans, max_frames=max(1, math.floor(max_shot_s * info.fps)))


def _detect_cuts(path: str | Path, fps: float, threshold: float) -> tuple[list[int], int]:
    """Frames where a new shot starts (no minimum length) and the number of frames decoded."""
    video = _open(path, fps)
    manager = SceneManager()
    # No minimum here: enforce_min_length applies ours, the same for every backend.
    manager.add_detector(ContentDetector(threshold=threshold, min_scene_len=0))
    manager.detect_scenes(video)
    scenes = manager.get_scene_list(start_in_scene=True)
    if not scenes:
        raise BadVideoError(str(path), NOTHING_DECODES)
    n_frames = scenes[-1][1].frame_num
    cuts = [start.frame_num for start, _ in scenes[1:] if 0 < start.frame_num < n_frames]
    return cuts, n_frames


def _open(path: str | Path, fps: float):
    # The frame rate is passed so both backends number frames exactly like PyAV's probe.
    try:
        return open_video(str(path), backend="opencv", frame_rate=fps)
    except (VideoOpenFailure, OSError):
        pass
    try:
        return open_video(str(path), backend="pyav", frame_rate=fps, suppress_output=True)
    except (VideoOpenFailure, OSError) as exc:
        raise BadVideoError(str(path), f"could not be opened for shot detection ({exc})") from exc


def enforce_min_length(cuts: list[int], n_frames: int, *, min_frames: int) -> list[int]:
    """Shot starts (0 first) from sorted cut frames, every shot at least ``min_frames`` long
    (unless the whole video is shorter)."""
    starts = [0]
    for cut in cuts:
        if cut - starts[-1] >= min_frames and cut < n_frames:
            starts.append(cut)
    if len(starts) > 1 and n_frames - starts[-1] < min_frames:
        starts.pop()
    return starts


def split_long_shots(spans: list[ShotSpan], *, max_frames: int) -> list[ShotSpan]:
    """Split each span longer than ``max_frames`` into the fewest equal parts that fit."""
    out: list[ShotSpan] = []
    for span in spans:
        parts = math.ceil(span.n_frames / max_frames)
        bounds = [span.start_frame + span.n_frames * j // parts for j in range(parts + 1)]
        out.extend(ShotSpan(a, b, span.fps) for a, b in pairwise(bounds))
    return out
