"""The offline visual descriptor: an encoder that needs no model weights and no network.

Owns :class:`DescriptorEncoder`. Each shot becomes one L2-normalised vector made of feature
groups computed with OpenCV on a few evenly spaced frames (shrunk to 128 x 72 first):

* colour: a joint HSV histogram (hue x saturation x value) over all frames;
* layout: the mean Lab colour of a 4 x 4 grid of cells (where things are);
* texture: gradient orientation histograms per grid cell (HOG-like: Sobel gradients pooled per
  orientation; OpenCV 5 no longer ships ``HOGDescriptor``);
* edges: Canny edge density on an 8 x 6 grid; regions: sizes of the areas the edges enclose
  (one face, two people, a crowd); runs: horizontal run lengths between edges per band;
* tilt (version 2): how far the strong straight edges lean from the frame's horizontal and
  vertical axes — a level camera films horizons, roofs and walls square to the frame, a
  tilted one (a Dutch angle) at a slant, whatever the scene;
* motion between consecutive sampled frames: translation by phase correlation (pans,
  handheld shake and how consistent it is), a dense Farneback flow fitted by an affine model
  (zoom as divergence, roll as curl) and what the camera motion does not explain (objects
  moving fast, as in a car chase).

Each group is L2-normalised and weighted before the concatenation, so no group dominates
by its size. Version 1 (no tilt group) is still computed for corpora built with it. There is
no text tower: text search falls back to keywords (see
:meth:`DescriptorEncoder.encode_texts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from va_app.encoders.base import NoTextTowerError, l2_normalise
from va_app.errors import ValidationError

# Frames are shrunk to this working size (width, height) first: features are about layout and
# motion, not detail, and it keeps a shot to a few milliseconds.
WORK_SIZE = (128, 72)
# Dense optical flow runs on a smaller picture still; the pyramid handles pans of ~20 px.
FLOW_SIZE = (64, 36)
GRID = 4
# Edge density uses a finer grid (width, height): people and buildings are told by outlines.
EDGE_GRID = (8, 6)
CANNY_LOW, CANNY_HIGH = 50, 130
# Region sizes as shares of the frame; specks below the minimum are noise.
REGION_CENTRES = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
MIN_REGION_SHARE = 0.0005
# Horizontal run lengths between edges (shares of the width) in top/middle/bottom bands:
# how wide the things side by side are (two people, a crowd, a face, a row of buildings).
RUN_CENTRES = (1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)
RUN_BANDS = 3
_KERNEL = np.ones((2, 2), np.uint8)
HSV_BINS = (12, 3, 3)
ORIENTATIONS = 6
# Soft-binning centres (log-spaced) turn each motion measure into a small histogram, so a
# linear classifier can pick a band ("shakes a little, goes nowhere") and not just a trend.
SHIFT_CENTRES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # % of frame width per frame step
SCALE_CENTRES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # % size change per step
ROLL_CENTRES = (0.1, 0.3, 1.0, 3.0)  # % rotation (radians x 100) per step
ENERGY_CENTRES = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)  # grey levels of change per pixel
CONSISTENCY_CENTRES = (0.0, 0.33, 0.67, 1.0)  # |sum of steps| / sum of |steps|
# Degrees an edge leans from the nearest frame axis (folded: 10°, -10° and 80° are alike),
# soft-binned; the centres up to 2° count as level, those from 8° to 17° as tilted (a lean of
# about 5° to 20°: a Dutch angle; steeper leans read as diagonal things, not a tilted camera).
TILT_CENTRES = (0.0, 2.0, 4.5, 8.0, 12.0, 17.0, 24.0, 34.0, 45.0)
LEVEL_BINS, TILTED_BINS = slice(0, 2), slice(3, 6)
# log2(tilted / level edge energy) from where a shot starts to look tilted to surely tilted
# (on the demo world: level shots' 75th percentile 0.6, tilted shots' 5th 1.6, median 2.5).
TILT_RATIO = (0.5, 2.5)
# Only edges this strong count (Sobel magnitude on 0..255 grey): noise has no direction.
TILT_MIN_GRADIENT = 60.0
# Relative weight of each L2-normalised group (tuned for learnability on the demo corpus:
# shape groups count more than the colour histogram, which alone is an easy but narrow cue).
GROUP_WEIGHTS = {
    "colour": 0.5,
    "layout": 1.0,
    "texture": 1.5,
    "edges": 1.5,
    "regions": 1.0,
    "runs": 1.0,
    "motion": 1.0,
    "tilt": 1.0,
}


def _motion_dim() -> int:
    shift = len(SHIFT_CENTRES) * 2 + len(CONSISTENCY_CENTRES) + 1
    scale = len(SCALE_CENTRES) * 2 + len(CONSISTENCY_CENTRES)
    return shift + scale + len(ROLL_CENTRES) + len(ENERGY_CENTRES) * 4


GROUP_DIMS = {
    "colour": int(np.prod(HSV_BINS)),
    "layout": GRID * GRID * 3,
    "texture": GRID * GRID * ORIENTATIONS,
    "edges": EDGE_GRID[0] * EDGE_GRID[1],
    "regions": len(REGION_CENTRES) * 2,
    "runs": RUN_BANDS * len(RUN_CENTRES),
    "motion": _motion_dim(),
    "tilt": 2,
}
#: The feature groups of each descriptor version, in vector order.
VERSION_GROUPS = {1: tuple(g for g in GROUP_DIMS if g != "tilt"), 2: tuple(GROUP_DIMS)}
LATEST_VERSION = 2
ID_PREFIX = "descriptor:v"

NO_TEXT_MESSAGE = (
    "The offline visual descriptor has no text tower, so text search falls back to keyword "
    "search over video titles and tags. For text search, use CLIP: set VA_ENCODER=clip and "
    "VA_CLIP_PRETRAINED to a local weights file (.safetensors or .bin) or to a pretrained tag "
    "already in the local Hugging Face cache, then re-ingest the corpus."
)


class DescriptorEncoder:
    """Encoder with hand-picked OpenCV features; works offline on any machine.

    ``version`` picks the feature groups (:data:`VERSION_GROUPS`): the latest for a new
    corpus, the corpus's own for one built with an older version (see :func:`version_of`).
    """

    has_text = False
    frames_per_shot = 8

    def __init__(self, version: int = LATEST_VERSION):
        if version not in VERSION_GROUPS:
            raise ValidationError(
                f"unknown descriptor version {version}; this release computes "
                f"versions {', '.join(map(str, VERSION_GROUPS))}"
            )
        self.version = version
        self.id = f"{ID_PREFIX}{version}"
        self.dim = sum(GROUP_DIMS[g] for g in VERSION_GROUPS[version])

    def encode_shots(self, shots: list[np.ndarray]) -> np.ndarray:
        """Each item is one shot's frames, uint8 RGB ``(K, H, W, 3)``; returns ``(S, dim)``."""
        vectors = np.zeros((len(shots), self.dim), np.float32)
        for i, frames in enumerate(shots):
            vectors[i] = describe_shot(_checked(frames, i), version=self.version)
        return vectors

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        raise NoTextTowerError(NO_TEXT_MESSAGE)


def _checked(frames: np.ndarray, index: int) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise ValidationError(
            f"shot {index}: expected RGB frames shaped (K, H, W, 3), got {frames.shape}"
        )
    if frames.dtype != np.uint8:
        raise ValidationError(f"shot {index}: expected uint8 frames, got {frames.dtype}")
    return frames


def version_of(encoder_id: str) -> int | None:
    """The descriptor version an encoder id names (``"descriptor:v1"`` → 1), else None."""
    number = encoder_id.removeprefix(ID_PREFIX) if encoder_id.startswith(ID_PREFIX) else ""
    return int(number) if number.isdigit() and int(number) in VERSION_GROUPS else None


def describe_shot(frames: np.ndarray, *, version: int = LATEST_VERSION) -> np.ndarray:
    """One shot's descriptor: weighted, per-group normalised feature groups, L2-normalised."""
    names = VERSION_GROUPS[version]
    groups = feature_groups(frames, names)
    parts = [GROUP_WEIGHTS[name] * l2_normalise(groups[name]) for name in names]
    return l2_normalise(np.concatenate(parts))


def feature_groups(
    frames: np.ndarray, names: tuple[str, ...] = VERSION_GROUPS[LATEST_VERSION]
) -> dict[str, np.ndarray]:
    """The feature groups ``names`` of one shot's frames ``(K, H, W, 3)``, before weighting."""
    small = [cv2.resize(f, WORK_SIZE, interpolation=cv2.INTER_AREA) for f in frames]
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in small]
    # What a shot shows changes less than how it moves: shape features use every other frame.
    sparse = grey[::2]
    edges = [cv2.Canny(f, CANNY_LOW, CANNY_HIGH) for f in sparse]
    compute = {
        "colour": lambda: colour_histogram(small),
        "layout": lambda: colour_layout(small),
        "texture": lambda: gradient_orientations(sparse),
        "edges": lambda: edge_density(edges),
        "regions": lambda: region_sizes(edges),
        "runs": lambda: run_lengths(edges),
        "motion": lambda: motion_features(grey),
        "tilt": lambda: edge_tilt(sparse),
    }
    return {name: compute[name]() for name in names}


def colour_histogram(frames: list[np.ndarray]) -> np.ndarray:
    """Joint HSV histogram over all frames; square-rooted (Hellinger) so big areas don't rule."""
    hsv = [cv2.cvtColor(f, cv2.COLOR_RGB2HSV) for f in frames]
    hist = cv2.calcHist(hsv, [0, 1, 2], None, list(HSV_BINS), [0, 180, 0, 256, 0, 256])
    return np.sqrt(hist.ravel() / max(float(hist.sum()), 1.0))


def colour_layout(frames: list[np.ndarray]) -> np.ndarray:
    """Lab colour of each grid cell's mean colour over the shot, centred on grey."""
    cells = [cv2.resize(f, (GRID, GRID), interpolation=cv2.INTER_AREA) for f in frames]
    mean = np.mean(cells, axis=0).astype(np.float32) / 255.0
    lab = cv2.cvtColor(mean, cv2.COLOR_RGB2Lab)  # float input: L in 0..100, a/b about -127..127
    return (lab - np.array([50.0, 0.0, 0.0], np.float32)).ravel() / np.float32(64.0)


def gradient_orientations(grey: list[np.ndarray]) -> np.ndarray:
    """Per grid cell, the gradient energy in each of a few orientations (HOG-like)."""
    h, w = grey[0].shape
    cell_bins = _cell_index(w, h) * ORIENTATIONS
    pooled = np.zeros(GRID * GRID * ORIENTATIONS)
    for frame in grey:
        gx = cv2.Sobel(frame, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(frame, cv2.CV_32F, 0, 1, ksize=3)
        magnitude, angle = cv2.cartToPolar(gx, gy, angleInDegrees=True)
        orientation = (angle * (ORIENTATIONS / 180.0)).astype(np.int32) % ORIENTATIONS
        pooled += np.bincount(
            (cell_bins + orientation).ravel(), weights=magnitude.ravel(), minlength=pooled.size
        )
    return np.sqrt(pooled / (len(grey) * h * w / (GRID * GRID) * 255.0))


def edge_tilt(grey: list[np.ndarray]) -> np.ndarray:
    """How tilted the shot looks, ``t`` in [0, 1], as the unit vector (cos, sin)(t·π/2).

    ``t`` grows with the edge energy leaning 5°–20° from the nearest frame axis against the
    energy within about 2° of one (:func:`edge_leans`). Most shots are level and sit at
    (1, 0) together, so the group adds no noise to them; a tilted one moves towards (0, 1).
    (Measured on the demo world with 10 positives and 30 negatives: the lean histogram itself
    as a group taught a classifier the Dutch angle as well, but cost pans and zooms up to 0.15
    AP; this two-number summary costs them ≤ 0.02.)
    """
    shares = edge_leans(grey)
    level, tilted = float(shares[LEVEL_BINS].sum()), float(shares[TILTED_BINS].sum())
    ratio = np.log2((tilted + 0.02) / (level + 0.02))
    t = float(np.clip((ratio - TILT_RATIO[0]) / (TILT_RATIO[1] - TILT_RATIO[0]), 0.0, 1.0))
    return np.array([np.cos(t * np.pi / 2), np.sin(t * np.pi / 2)])


def edge_leans(grey: list[np.ndarray]) -> np.ndarray:
    """Shares of strong-edge energy by how far the edge leans from the nearest frame axis
    (soft bins at :data:`TILT_CENTRES` degrees); zeros for a shot without strong edges.

    Folding by 90° puts horizontal and vertical edges together: a tilted camera moves both off
    0° by the same angle, while curves (faces, trees) spread over every bin.
    """
    hist = np.zeros(len(TILT_CENTRES))
    for frame in grey:
        smooth = cv2.GaussianBlur(frame, (3, 3), 0)
        gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
        magnitude, angle = cv2.cartToPolar(gx, gy, angleInDegrees=True)
        strong = magnitude > TILT_MIN_GRADIENT
        if not strong.any():
            continue
        lean = np.abs((angle[strong] + 45.0) % 90.0 - 45.0)
        hist += _soft_bins(lean, TILT_CENTRES, log=False).T @ magnitude[strong]
    total = float(hist.sum())
    return hist / total if total > 0 else hist


@lru_cache(maxsize=4)
def _cell_index(w: int, h: int) -> np.ndarray:
    """Grid cell number of every pixel (row-major)."""
    ys, xs = np.mgrid[0:h, 0:w]
    return (ys * GRID // h) * GRID + xs * GRID // w


def edge_density(edges: list[np.ndarray]) -> np.ndarray:
    """Share of Canny edge pixels in each cell of a finer grid (where the outlines are)."""
    cells = [cv2.resize(e, EDGE_GRID, interpolation=cv2.INTER_AREA) for e in edges]
    return np.sqrt(np.mean(cells, axis=0).ravel() / 255.0)


def region_sizes(edges: list[np.ndarray]) -> np.ndarray:
    """How many regions (enclosed by edges) of each size there are, and their area shares.

    A crude segmentation: a face is one big region, two people are two large ones, a
    group or a city many small ones.
    """
    counts, areas = [], []
    for edge in edges:
        closed = cv2.dilate(edge, _KERNEL)
        _, _, stats, _ = cv2.connectedComponentsWithStats(255 - closed, connectivity=4)
        share = stats[1:, cv2.CC_STAT_AREA] / edge.size
        share = share[share >= MIN_REGION_SHARE]
        bins = _soft_bins(share, REGION_CENTRES)
        counts.append(bins.sum(axis=0))
        areas.append(bins.T @ share)
    return np.sqrt(np.concatenate([np.mean(counts, axis=0), np.mean(areas, axis=0)]))


def run_lengths(edges: list[np.ndarray]) -> np.ndarray:
    """Grey-level run-length statistics on edge maps: per horizontal band, the share of the
    band covered by runs (stretches between two edges along a row) of each length."""
    h, w = edges[0].shape
    hist = np.zeros((RUN_BANDS, len(RUN_CENTRES)))
    for edge in edges:
        boundary = edge > 0
        boundary[:, -1] = True  # every row ends a run
        ends = np.flatnonzero(boundary)
        share = np.diff(ends, prepend=-1) / w
        band = np.minimum(ends // w * RUN_BANDS // h, RUN_BANDS - 1)
        np.add.at(hist, band, _soft_bins(share, RUN_CENTRES) * share[:, None])
    return np.sqrt(hist.ravel() / (len(edges) * h / RUN_BANDS))


# --------------------------------------------------------------------------- motion


def motion_features(grey: list[np.ndarray]) -> np.ndarray:
    """How the picture moves between consecutive sampled frames (zeros for a single frame)."""
    if len(grey) < 2:
        return np.zeros(GROUP_DIMS["motion"], np.float32)
    frames = [_MotionFrame.of(f) for f in _stretch_contrast(grey)]
    steps = np.array([_step(a, b) for a, b in zip(frames[:-1], frames[1:], strict=True)])
    shift, scale, roll = steps[:, 0:2], steps[:, 2], steps[:, 3]
    energies = steps[:, 4:8]
    return np.concatenate(
        [
            _translation_features(shift),
            _scale_features(scale),
            _soft_bins(np.abs(roll), ROLL_CENTRES).mean(axis=0),
            *(_soft_bins(energies[:, k], ENERGY_CENTRES).mean(axis=0) for k in range(4)),
        ]
    ).astype(np.float32)


def _stretch_contrast(grey: list[np.ndarray]) -> list[np.ndarray]:
    """One contrast stretch for the whole shot, so dark night shots still show motion."""
    sample = np.stack([f[::3, ::3] for f in grey])
    low, high = np.percentile(sample, (1, 99))
    scale = 255.0 / max(float(high - low), 16.0)
    return [cv2.convertScaleAbs(f, alpha=scale, beta=-low * scale) for f in grey]


@dataclass(frozen=True)
class _MotionFrame:
    """One frame ready for motion estimation: float for phase correlation, small for flow."""

    full: np.ndarray
    small: np.ndarray

    @classmethod
    def of(cls, grey: np.ndarray) -> _MotionFrame:
        small = cv2.resize(grey, FLOW_SIZE, interpolation=cv2.INTER_AREA)
        return cls(grey.astype(np.float32), small)


def _step(previous: _MotionFrame, current: _MotionFrame) -> np.ndarray:
    """[dx %, dy %, scale change %, roll %, 4 change energies] between two frames."""
    width = float(previous.full.shape[1])
    window = _hanning(previous.full.shape[::-1])
    (dx, dy), _ = cv2.phaseCorrelate(previous.full, current.full, window)
    flow = cv2.calcOpticalFlowFarneback(
        previous.small, current.small, None, 0.5, 3, 9, 2, 5, 1.1, 0
    )
    affine, residual_flow = _fit_affine(flow)
    scale = (affine[0, 0] + affine[1, 1]) / 2.0
    roll = (affine[1, 0] - affine[0, 1]) / 2.0
    energies = _change_energies(previous.small, current.small, affine, residual_flow)
    return np.array([100 * dx / width, 100 * dy / width, 100 * scale, 100 * roll, *energies])


def _change_energies(
    previous: np.ndarray, current: np.ndarray, affine: np.ndarray, residual_flow: float
) -> list[float]:
    """Raw change, change the camera motion does not explain, its worst cell, flow residual."""
    raw = cv2.absdiff(previous, current)
    warp = _pixel_affine(affine, previous.shape[::-1])
    aligned = cv2.warpAffine(previous, warp, previous.shape[::-1], borderMode=cv2.BORDER_REPLICATE)
    left = cv2.absdiff(aligned, current)
    cells = cv2.resize(left, (GRID, GRID), interpolation=cv2.INTER_AREA)
    return [float(raw.mean()), float(left.mean()), float(cells.max()), 4.0 * residual_flow]


def _fit_affine(flow: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares affine flow ``flow = A @ (p - centre) + t`` over all pixels p.

    Returns the 2x3 matrix [A | t] (A is the flow's Jacobian: its diagonal is the relative
    size change per step, its skew part the roll) and the mean length of what it leaves.
    """
    h, w = flow.shape[:2]
    design, pinv = _affine_design(w, h)
    uv = flow.reshape(-1, 2)
    params = pinv @ uv  # (3, 2): rows t, d/dx, d/dy
    residual = uv - design @ params
    affine = np.array(
        [[params[1, 0], params[2, 0], params[0, 0]], [params[1, 1], params[2, 1], params[0, 1]]]
    )
    return affine, float(np.linalg.norm(residual, axis=1).mean())


@lru_cache(maxsize=4)
def _affine_design(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y = xs.ravel() - (w - 1) / 2.0, ys.ravel() - (h - 1) / 2.0
    design = np.stack([np.ones(h * w), x, y], axis=1)
    return design, np.linalg.pinv(design)


def _pixel_affine(affine: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The flow model as a warp that maps the previous frame onto the current one."""
    w, h = size
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    linear = np.eye(2) + affine[:, :2]
    shift = affine[:, 2] + centre - linear @ centre
    return np.hstack([linear, shift[:, None]]).astype(np.float32)


@lru_cache(maxsize=4)
def _hanning(size: tuple[int, int]) -> np.ndarray:
    return cv2.createHanningWindow(size, cv2.CV_32F)


def _translation_features(shift: np.ndarray) -> np.ndarray:
    """Step size histograms (per step and for the shot's net path) and direction consistency."""
    lengths = np.linalg.norm(shift, axis=1)
    net = np.linalg.norm(shift.sum(axis=0)) / len(shift)
    consistency = np.linalg.norm(shift.sum(axis=0)) / max(float(lengths.sum()), 1e-6)
    return np.concatenate(
        [
            _soft_bins(lengths, SHIFT_CENTRES).mean(axis=0),
            _soft_bins(np.array([net]), SHIFT_CENTRES)[0],
            _soft_bins(np.array([consistency]), CONSISTENCY_CENTRES, log=False)[0],
            [float(np.std(lengths) / (lengths.mean() + 0.5))],
        ]
    )


def _scale_features(scale: np.ndarray) -> np.ndarray:
    net = abs(float(scale.mean()))
    consistency = abs(float(scale.sum())) / max(float(np.abs(scale).sum()), 1e-6)
    return np.concatenate(
        [
            _soft_bins(np.abs(scale), SCALE_CENTRES).mean(axis=0),
            _soft_bins(np.array([net]), SCALE_CENTRES)[0],
            _soft_bins(np.array([consistency]), CONSISTENCY_CENTRES, log=False)[0],
        ]
    )


def _soft_bins(values: np.ndarray, centres: tuple[float, ...], *, log: bool = True) -> np.ndarray:
    """Each value spread over its two nearest centres (linear in log space): ``(n, len(c))``."""
    values = np.asarray(values, np.float64)
    grid = np.asarray(centres, np.float64)
    if log:
        values, grid = np.log2(np.maximum(values, grid[0])), np.log2(grid)
    position = np.interp(values, grid, np.arange(len(grid)))
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(grid) - 1)
    weight_high = position - low
    bins = np.zeros((len(values), len(grid)))
    rows = np.arange(len(values))
    np.add.at(bins, (rows, low), 1.0 - weight_high)
    np.add.at(bins, (rows, high), weight_high)
    return bins
