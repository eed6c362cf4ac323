"""The demo world's cameras: per-frame affine matrices for static, panning, zooming and
handheld shots, and how much world each one needs to see."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from va_app.datasets.demo.manifest import Size
from va_app.datasets.demo.plan import PEOPLE_SUBJECTS, ShotPlan


@dataclass(frozen=True)
class Camera:
    """Per-frame world->frame affine matrices and the world the camera needs to see."""

    matrices: np.ndarray
    world_size: Size
    # The middle frame's widest view in world pixels: (x0, y0, width, height).
    view: tuple[float, float, float, float]


@dataclass(frozen=True)
class _Moves:
    """How far a camera move goes: pan length (share of frame width), zoom factor range."""

    pan: tuple[float, float]
    zoom: tuple[float, float]


SCENE_MOVES = _Moves(pan=(0.3, 0.5), zoom=(1.45, 1.9))
# Moves that keep the people of a two-shot or group in frame, as a camera operator would.
PEOPLE_MOVES = _Moves(pan=(0.18, 0.28), zoom=(1.3, 1.5))


def shot_camera(plan: ShotPlan, size: Size, fps: float, rng: np.random.Generator) -> Camera:
    n = plan.n_frames
    moves = PEOPLE_MOVES if plan.subject in PEOPLE_SUBJECTS else SCENE_MOVES
    centre, zoom, angle = _camera_path(plan.camera, n, size, fps, moves, rng)
    angle = angle + math.radians(plan.tilt_degrees)  # a Dutch angle tilts the whole shot
    corners = _frame_corners_in_world(centre, zoom, angle, size)
    margin = 4.0
    low = corners.min(axis=(0, 1)) - margin
    high = corners.max(axis=(0, 1)) + margin
    centre = centre - low
    world = (int(math.ceil(high[0] - low[0])), int(math.ceil(high[1] - low[1])))
    matrices = _affine(centre, zoom, angle, size)
    mid = centre[n // 2]
    view_w, view_h = size[0] / zoom.min(), size[1] / zoom.min()
    return Camera(matrices, world, (mid[0] - view_w / 2, mid[1] - view_h / 2, view_w, view_h))


def _camera_path(
    kind: str, n: int, size: Size, fps: float, moves: _Moves, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """View centre (n, 2) in world pixels, zoom (n,) in frame px per world px, angle (n,)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    centre = np.zeros((n, 2))
    zoom = np.ones(n)
    angle = np.zeros(n)
    if kind == "pan":
        direction = _pan_direction(rng)
        centre = (t - 0.5) * rng.uniform(*moves.pan) * size[0] * direction
    elif kind == "zoom":
        factor = rng.uniform(*moves.zoom)
        ramp = t[:, 0] if rng.random() < 0.5 else 1.0 - t[:, 0]
        zoom = factor**ramp
    elif kind == "handheld":
        centre, angle = _shake(n, size, fps, rng)
    return centre, zoom, angle


def _pan_direction(rng: np.random.Generator) -> np.ndarray:
    roll = rng.random()
    if roll < 0.65:
        degrees = 0.0
    elif roll < 0.8:
        degrees = 90.0
    else:
        degrees = rng.choice([35.0, -35.0])
    theta = math.radians(degrees + (180.0 if rng.random() < 0.5 else 0.0))
    return np.array([math.cos(theta), math.sin(theta)])


def _shake(
    n: int, size: Size, fps: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A handheld wobble: a few slow random sinusoids per axis, several pixels strong.

    Slow enough (at most ~4 px per frame) that no frame-to-frame change looks like a cut.
    """
    seconds = np.arange(n)[:, None] / fps
    freqs = rng.uniform(0.5, 1.6, size=(1, 3))
    phases = rng.uniform(0, 2 * math.pi, size=(2, 3))
    amplitude = rng.uniform(0.025, 0.04) * size[0]
    wave_x = np.sin(2 * math.pi * freqs * seconds + phases[0]).sum(axis=1)
    wave_y = np.sin(2 * math.pi * freqs[:, ::-1] * seconds + phases[1]).sum(axis=1)
    centre = np.stack([wave_x, 0.7 * wave_y], axis=1) * amplitude / 1.7
    degrees = rng.uniform(0.4, 1.2)
    angle = np.sin(2 * math.pi * freqs[0, 1] * seconds[:, 0] + phases[0, 2]) * degrees
    return centre, np.radians(angle)


def _rotation(angle: np.ndarray) -> np.ndarray:
    cos, sin = np.cos(angle), np.sin(angle)
    return np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)


def _frame_corners_in_world(
    centre: np.ndarray, zoom: np.ndarray, angle: np.ndarray, size: Size
) -> np.ndarray:
    half = np.array([size[0], size[1]]) / 2.0
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half
    inverse = _rotation(-angle) / zoom[:, None, None]
    return centre[:, None, :] + np.einsum("nij,cj->nci", inverse, corners)


def _affine(centre: np.ndarray, zoom: np.ndarray, angle: np.ndarray, size: Size) -> np.ndarray:
    """frame = zoom * R(angle) * (world - centre) + frame centre."""
    linear = _rotation(angle) * zoom[:, None, None]
    half = np.array([size[0], size[1]]) / 2.0
    shift = half - np.einsum("nij,nj->ni", linear, centre)
    return np.concatenate([linear, shift[:, :, None]], axis=2).astype(np.float32)
