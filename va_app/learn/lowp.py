"""Scoring a float16 copy of the matrix, with the top-n exactly as float32 would rank it.

A float16 copy halves the matrix (10M × 512: 10 GB instead of 20 GB) and torch's float16
matrix-vector kernel passes over it ~2× faster than numpy's float32 pass here (docs/scale.md).
Its scores differ from float32's by rounding, so a top-n read off them alone reorders
near-ties (at 500k the borderline feed shared only half its shots with float32's). The funnel
restores the exact answer; for each top-n (a feed, a search page):

1. every row: ``z̃ = X16 · w16`` (torch: float16 in, float32 accumulation);
2. the rows whose key can still be among the n best given a bound on ``|z̃ − z|`` — the
   kernel's rounding of ``w`` and of its output (bounded), and the storage rounding of the
   vectors (:data:`SIGMAS` standard deviations) — re-scored in float32 arithmetic from their
   float16 rows, which leaves only the storage rounding, bounded per row;
3. the rows still in reach (a few thousand at 10M shots) re-scored from the float32 rows of
   the file; the n smallest of those exact keys, ties by the lower row, are float32's answer.

"In reach" (:func:`in_reach`): with approximate keys ``k̃`` and per-row bounds ``m`` on their
error, a row can be among the n smallest true keys only if ``k̃ − m ≤ T``, where ``T`` is the
n-th smallest ``k̃ + m`` (n rows have a true key at most ``T``). Keys are 1-Lipschitz functions
of the score ``p = f(z)`` (``−p``, ``p``, ``|p − ½|``), and ``f`` is the calibrated sigmoid
for builds or the identity for search, so a bound on ``z`` carries over through ``f``'s slope.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from va_app.learn.feeds import smallest_candidates

log = logging.getLogger(__name__)

#: float16's unit roundoff (half an ulp, relative): 2⁻¹¹.
UNIT = 2.0**-11
#: Storage rounding errors are sums of D independent uniform terms (near-Gaussian): a row's
#: is taken to stay within this many of its standard deviations (P(beyond) < 2·10⁻⁹).
SIGMAS = 6.0
#: Slack for float32's own rounding of scores and keys (sigmoid, subtraction of ½).
EPS = 1e-6
#: Rows scored per torch call when rows are gathered (bounded temporaries).
GATHER_ROWS = 65_536
#: Rows gathered by several threads from this many on; threads used (I/O bound, not CPU).
GATHER_PARALLEL_MIN, GATHER_THREADS = 1024, 16

Key = Callable[[np.ndarray], np.ndarray]


def float16_scores(X16: np.ndarray, w: np.ndarray, b: float = 0.0) -> np.ndarray:
    """``X16 · w + b`` as float32 for a float16 ``X16`` (a memory map is fine): torch's
    float16 kernel, one pass, no float32 copy of the matrix."""
    import torch

    if not len(X16):
        return np.zeros(0, dtype=np.float32)
    with warnings.catch_warnings():
        # A read-only map: torch warns that writing would be undefined; nothing writes to it.
        warnings.simplefilter("ignore", UserWarning)
        matrix = torch.from_numpy(np.asarray(X16))
    out = torch.mv(matrix, torch.from_numpy(np.asarray(w, dtype=np.float16))).float().numpy()
    out += np.float32(b)
    return out


@dataclass(frozen=True, eq=False)
class Funnel:
    """What the funnel needs of one scoring: the float32 and float16 matrices, the weights,
    the score's map ``f`` (``transform``) and its slope bound (``slope(|z|, M)``)."""

    X: np.ndarray
    X16: np.ndarray
    w: np.ndarray
    b: float
    transform: Callable[[np.ndarray], np.ndarray]
    slope: Callable[[np.ndarray, np.ndarray], np.ndarray]

    @classmethod
    def for_build(cls, X: np.ndarray, X16: np.ndarray, w: np.ndarray, b: float) -> Funnel:
        """Scores are probabilities ``σ(z)`` (float32, as :func:`score_corpus` gives them)."""
        return cls(X, X16, np.asarray(w, np.float32), float(b), _sigmoid, _sigmoid_slope)

    @classmethod
    def for_search(cls, X: np.ndarray, X16: np.ndarray, q: np.ndarray) -> Funnel:
        """Scores are cosine similarities ``X · q`` (unit rows, unit query)."""
        return cls(X, X16, np.asarray(q, np.float32), 0.0, _identity, _unit_slope)

    def approximate(self) -> np.ndarray:
        """Stage 1: every row's ``z̃`` from the float16 kernel."""
        return float16_scores(self.X16, self.w, self.b)

    def kernel_bound(self, z: np.ndarray, *, strict: bool = False) -> np.ndarray:
        """Bound on ``|z̃ − z|``: :data:`SIGMAS` times the largest storage deviation, plus the
        kernel's own error (:meth:`kernel_error`)."""
        return self.kernel_error(z, strict=strict) + np.float32(self.storage_sigma_max() * SIGMAS)

    def kernel_error(self, z: np.ndarray, *, strict: bool = False) -> np.ndarray:
        """Bound on the kernel's own error ``|z̃ − X16·w|``: its rounding of ``w`` — like the
        storage's, :data:`SIGMAS` standard deviations (``strict``: the worst case u·‖w‖) —,
        of its output (≤ u·|z̃|) and float32 accumulation (≤ D·2⁻²⁴·‖w‖ for unit rows)."""
        w = self.w.astype(np.float64)
        norm = np.linalg.norm(w)
        rounding = UNIT * norm * 1.01 if strict else self.storage_sigma_max() * SIGMAS
        fixed = rounding + w.size * 2.0**-24 * norm + EPS
        return (fixed + UNIT * 1.01 * np.abs(z)).astype(np.float32)

    def storage_sigma_max(self) -> float:
        """Largest standard deviation of a unit row's storage error: ``u/√3 · max|w_d|``."""
        return float(UNIT / np.sqrt(3.0) * np.abs(self.w).max(initial=0.0))

    def refine(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stage 2: ``(z, bound)`` of ``rows`` (ascending) in float32 arithmetic from their
        float16 values; ``bound`` is :data:`SIGMAS` standard deviations of the storage
        rounding left (each element's error is uniform within ``u·|x|``)."""
        z = np.empty(rows.size, dtype=np.float32)
        sigma = np.empty(rows.size, dtype=np.float32)
        w2 = self.w * self.w
        for start in range(0, rows.size, GATHER_ROWS):
            part = slice(start, start + GATHER_ROWS)
            block = _as_float32(gather_rows(self.X16, rows[part]))
            z[part] = block @ self.w
            block *= block
            sigma[part] = np.sqrt(block @ w2)
        z += np.float32(self.b)
        scale = np.float32(UNIT * 1.001 / np.sqrt(3.0) * SIGMAS)
        return z, sigma * scale + np.float32(EPS)

    def exact(self, rows: np.ndarray) -> np.ndarray:
        """Stage 3: float32 scores of ``rows`` (ascending) from the float32 matrix, exactly as
        one pass over it gives them."""
        out = np.asarray(gather_rows(self.X, rows), dtype=np.float32) @ self.w
        out += np.float32(self.b)
        return self.transform(out)

    def score_margin(self, z: np.ndarray, bound: np.ndarray) -> np.ndarray:
        """A bound on the score's error given ``|z̃ − z| ≤ bound`` (through ``f``'s slope)."""
        return (self.slope(np.abs(z), bound) * bound + np.float32(EPS)).astype(np.float32)


def _as_float32(block: np.ndarray) -> np.ndarray:
    """float16 rows as float32 through torch (numpy's cast runs ~10× slower here)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(block)).float().numpy()


def gather_rows(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``X[rows]`` for ascending ``rows`` of a mapped matrix, read by several threads: numpy
    lets go of the GIL while it copies, so the page faults of cold rows overlap (12k rows of a
    cold 20 GB file: 0.3 s with 16 threads, 0.8 s in one, measured)."""
    if rows.size < GATHER_PARALLEL_MIN:
        return X[rows]
    from concurrent.futures import ThreadPoolExecutor

    out = np.empty((rows.size, X.shape[1]), dtype=X.dtype)
    parts = np.array_split(np.arange(rows.size), GATHER_THREADS * 4)

    def copy(part: np.ndarray) -> None:
        if part.size:
            out[part] = X[rows[part]]

    with ThreadPoolExecutor(GATHER_THREADS) as pool:
        list(pool.map(copy, parts))
    return out


@dataclass(frozen=True, eq=False)
class Picked:
    """A funnel's answer: the rows (best first) and every row re-scored on the way."""

    rows: np.ndarray
    scored_rows: np.ndarray
    scores: np.ndarray


def smallest(
    funnel: Funnel,
    key: Key,
    z: np.ndarray,
    n: int,
    *,
    hidden: np.ndarray | None = None,
    rows: np.ndarray | None = None,
    scores: np.ndarray | None = None,
) -> Picked:
    """The ``n`` rows of smallest ``key(f(z_exact))``, ties by the lower row, from the stage-1
    scores ``z`` (see the module docstring). Rows in ``hidden`` are never picked. ``z`` covers
    every row of the matrix, or the ascending ``rows`` only (a filter's). ``scores``: ``f(z)``
    when the caller has it already (one pass over millions of rows saved per call)."""
    n = min(n, z.size - (int(hidden.sum()) if hidden is not None else 0))
    if n <= 0:
        empty = np.empty(0, dtype=np.intp)
        return Picked(empty, empty, np.empty(0, dtype=np.float32))
    keys = key(funnel.transform(z) if scores is None else scores)
    if hidden is not None:
        keys = np.where(hidden, np.float32(np.inf), keys)
    for strict in (False, True):
        at = _prefilter(funnel, keys, z, n, strict=strict)  # positions in z
        bound = funnel.kernel_bound(z[at], strict=strict)
        at = at[in_reach(keys[at], funnel.score_margin(z[at], bound), n)]
        found = at if rows is None else rows[at]
        z16, storage = funnel.refine(found)
        # The kernel's error is measured on these rows: beyond its bound (a kernel that rounds
        # more than float32 accumulation would), stage 1's reach is taken again, worst case.
        if strict or (np.abs(z[at] - z16) <= funnel.kernel_error(z[at])).all():
            break
        log.warning("float16 kernel error above its bound: re-taking the funnel, worst case")
    found = found[in_reach(key(funnel.transform(z16)), funnel.score_margin(z16, storage), n)]
    exact = funnel.exact(found)
    best = np.lexsort((found, key(exact)))[:n]
    return Picked(found[best], found, exact)


def in_reach(keys: np.ndarray, margins: np.ndarray, n: int) -> np.ndarray:
    """Mask of the rows that can be among the ``n`` smallest true keys, given approximate
    ``keys`` within ``margins`` of them."""
    upper = keys + margins
    cut = np.partition(upper, n - 1)[n - 1]
    return keys - margins <= cut


def _prefilter(
    funnel: Funnel, keys: np.ndarray, z: np.ndarray, n: int, *, strict: bool
) -> np.ndarray:
    """Rows within reach under the widest margin any row can have (one comparison pass), so
    that per-row margins are worked out for these only."""
    largest = np.abs(z).max(initial=0.0)
    bound = funnel.kernel_bound(np.array([largest], dtype=np.float32), strict=strict)
    widest = funnel.score_margin(np.zeros(1, dtype=np.float32), bound)[0]
    near = smallest_candidates(keys, n)  # a few more than the n smallest, nothing sorted
    cut = np.partition(keys[near], n - 1)[n - 1]
    return np.flatnonzero(keys <= cut + 2 * widest)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return expit(np.asarray(z, dtype=np.float32))


def _identity(z: np.ndarray) -> np.ndarray:
    return np.asarray(z, dtype=np.float32)


def _sigmoid_slope(z_abs: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """Largest slope of σ between ``z − bound`` and ``z + bound``: σ'(max(|z| − bound, 0))."""
    nearest = np.maximum(z_abs - bound, 0).astype(np.float64)
    s = expit(nearest)
    return (s * (1 - s)).astype(np.float32)


def _unit_slope(z_abs: np.ndarray, bound: np.ndarray) -> np.ndarray:
    return np.ones_like(z_abs, dtype=np.float32)
