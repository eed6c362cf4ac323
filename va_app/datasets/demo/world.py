"""The demo world's renderer: a procedural corpus of short movies whose shots carry ground truth.

Owns :func:`render_demo_corpus` (plans, draws and encodes the movies, writes ``manifest.json``)
and :class:`ShotRenderer` (films one shot's drawn world through its camera). The pieces live
beside it: :mod:`.manifest` (concepts, the manifest), :mod:`.plan` (what each shot shows),
:mod:`.camera` (how it is filmed), :mod:`.drawing` (skylines, streets with cars, landscapes,
rooms, people and faces, lit by day, golden-hour or night light). Consecutive shots are joined
by hard cuts that differ clearly in colour, so a content-based shot detector finds each cut
exactly. The same seed always gives the same corpus.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from va_app.datasets.demo.camera import Camera, shot_camera
from va_app.datasets.demo.drawing import (
    Canvas,
    RainVeil,
    Sprite,
    draw_subject,
    light_sprite,
    lit_world,
    paste_moving,
    shot_gain,
)
from va_app.datasets.demo.manifest import (
    DEMO_CONCEPTS,
    MANIFEST_NAME,
    MANIFEST_VERSION,
    RENDERER_VERSION,
    DemoManifest,
    DemoShot,
    DemoVideo,
    Size,
)
from va_app.datasets.demo.plan import ShotPlan, VideoPlan, plan_corpus
from va_app.errors import NotFoundError, ValidationError
from va_app.video.writer import write_video

VIDEO_PATTERN = "demo_*.mp4"
# A content-detector score (mean |ΔH|,|ΔS|,|ΔV|) well above PySceneDetect's default 27,
# so H.264 noise cannot hide a cut.
MIN_CUT_SCORE = 40.0

ProgressFn = Callable[[int, int], None]


# --------------------------------------------------------------------------- entry point


def render_demo_corpus(
    out_dir: str | Path,
    *,
    n_shots: int = 400,
    seed: int = 0,
    fps: int = 24,
    size: Size = (256, 144),
    progress: ProgressFn | None = None,
) -> DemoManifest:
    """Render the demo movies into ``out_dir`` and return their manifest.

    ``size`` is (width, height), both even. Nothing is rendered when ``out_dir`` already holds
    a complete corpus with the same seed, shot count, frame rate and size; otherwise an older
    corpus there (its manifest and ``demo_*.mp4`` movies) is replaced. ``progress(done, total)``
    is called after each movie.
    """
    _validate_options(n_shots, fps, size)
    out_dir = Path(out_dir)
    existing = _existing_corpus(out_dir, seed=seed, n_shots=n_shots, fps=fps, size=size)
    if existing is not None:
        return existing
    out_dir.mkdir(parents=True, exist_ok=True)
    _clear_previous_render(out_dir)
    plans = plan_corpus(n_shots, seed=seed, fps=fps)
    videos = []
    for done, plan in enumerate(plans, start=1):
        videos.append(_render_video(out_dir, plan, size=size, fps=fps))
        if progress is not None:
            progress(done, len(plans))
    manifest = DemoManifest(out_dir, seed, n_shots, float(fps), size, DEMO_CONCEPTS, tuple(videos))
    manifest.save()
    return manifest


def _validate_options(n_shots: int, fps: int, size: Size) -> None:
    if n_shots < 1:
        raise ValidationError(f"the demo needs at least one shot (n_shots={n_shots})")
    if fps <= 0:
        raise ValidationError(f"fps must be positive (fps={fps})")
    width, height = size
    if width < 64 or height < 36 or width % 2 or height % 2:
        raise ValidationError(f"demo frame size must be even and at least 64x36, got {size}")


def _existing_corpus(out_dir: Path, **expected: object) -> DemoManifest | None:
    try:
        manifest = DemoManifest.load(out_dir)
    except (NotFoundError, ValidationError):
        return None
    found = {
        "seed": manifest.seed,
        "n_shots": manifest.n_shots,
        "fps": manifest.fps,
        "size": manifest.size,
    }
    same = all(found[k] == v for k, v in expected.items())
    current = manifest.version == MANIFEST_VERSION and manifest.renderer == RENDERER_VERSION
    return manifest if same and current and manifest.is_complete() else None


def _clear_previous_render(out_dir: Path) -> None:
    """Forget an older corpus first: a half-finished render must never look complete, and
    movies of a bigger old corpus must not be ingested with the new one."""
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    for old in out_dir.glob(VIDEO_PATTERN):
        old.unlink()


# --------------------------------------------------------------------------- rendering videos


def _render_video(out_dir: Path, plan: VideoPlan, *, size: Size, fps: int) -> DemoVideo:
    rng = np.random.default_rng([plan.seed, 1, plan.index])
    look = VideoLook.draw(rng)
    spans: list[DemoShot] = []

    def frames() -> Iterator[np.ndarray]:
        previous: np.ndarray | None = None
        start = 0
        for shot in plan.shots:
            renderer = _shot_after(previous, shot, size=size, fps=fps, look=look, rng=rng)
            for i in range(shot.n_frames):
                previous = renderer.frame(i)
                yield previous
            spans.append(DemoShot(start, start + shot.n_frames, shot.attributes()))
            start += shot.n_frames

    write_video(out_dir / plan.file, frames(), fps=fps)
    return DemoVideo(plan.file, plan.title, plan.genre, plan.tags, float(fps), tuple(spans))


def _shot_after(
    previous: np.ndarray | None,
    plan: ShotPlan,
    *,
    size: Size,
    fps: float,
    look: VideoLook,
    rng: np.random.Generator,
) -> ShotRenderer:
    """A renderer whose first frame differs from ``previous`` enough to read as a hard cut."""
    best, best_score = None, -1.0
    for _ in range(8):
        renderer = ShotRenderer.build(plan, size=size, fps=fps, look=look, rng=rng)
        score = math.inf if previous is None else cut_score(previous, renderer.frame(0))
        if score >= MIN_CUT_SCORE:
            return renderer
        if score > best_score:
            best, best_score = renderer, score
    assert best is not None  # every score is ≥ 0 > -1, so the first try is kept at least
    return best


def cut_score(frame_a: np.ndarray, frame_b: np.ndarray) -> float:
    """PySceneDetect ContentDetector's default score: mean |Δhue|, |Δsat|, |Δvalue|."""
    hsv_a = cv2.cvtColor(frame_a, cv2.COLOR_RGB2HSV)
    hsv_b = cv2.cvtColor(frame_b, cv2.COLOR_RGB2HSV)
    return float(np.mean(cv2.absdiff(hsv_a, hsv_b)))


@dataclass(frozen=True)
class VideoLook:
    """A per-video colour grade, so movies differ a little from each other."""

    tint: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator) -> VideoLook:
        return cls(rng.uniform(0.92, 1.08, size=3))


class ShotRenderer:
    """Draws one shot's world once, then films it frame by frame through the camera."""

    def __init__(
        self,
        world: np.ndarray,
        camera: Camera,
        sprites: list[Sprite],
        size: Size,
        rain: RainVeil | None = None,
    ):
        self._world = world
        self._camera = camera
        self._sprites = sprites
        self._size = size
        self._rain = rain
        self._cached: tuple[int, np.ndarray] | None = None

    @classmethod
    def build(
        cls,
        plan: ShotPlan,
        *,
        size: Size,
        fps: float,
        look: VideoLook,
        rng: np.random.Generator,
    ) -> ShotRenderer:
        camera = shot_camera(plan, size, fps, rng)
        canvas = Canvas.blank(camera.world_size, camera.view, plan.time_of_day)
        sprites = draw_subject(canvas, plan, rng)
        gain = shot_gain(plan, rng) * look.tint
        world = lit_world(canvas, gain, rng)
        sprites = [light_sprite(s, gain, plan.time_of_day) for s in sprites]
        rain = RainVeil.draw(size, plan.detail_seed) if plan.rain else None
        return cls(world, camera, sprites, size, rain)

    def frame(self, i: int) -> np.ndarray:
        still = (
            not self._sprites
            and self._rain is None
            and np.array_equal(self._camera.matrices[i], self._camera.matrices[0])
        )
        if still and self._cached is not None:
            return self._cached[1]
        world = self._world_at(i)
        frame = cv2.warpAffine(
            world,
            self._camera.matrices[i],
            self._size,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        if self._rain is not None:
            frame = self._rain.over(frame, i)
        if still:
            self._cached = (i, frame)
        return frame

    def _world_at(self, i: int) -> np.ndarray:
        if not self._sprites:
            return self._world
        world = self._world.copy()
        for sprite in self._sprites:
            paste_moving(world, sprite, i)
        return world
