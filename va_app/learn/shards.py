"""A build's scoring pass on Ray: actors that each map one shard of the matrix file.

``VA_SCORING=ray`` (:class:`~va_app.config.Settings`). The matrix's rows are cut into
``ray_shards`` runs; one actor per run maps its rows of the matrix file (the file must be on
storage every node reads; a matrix that is not a map of the file is put into Ray's object
store instead). A build sends the calibrated weights (D floats) to every actor; each scores
its rows — float32, or its float16 rows through the funnel of :mod:`va_app.learn.lowp` — and
keeps them. For the feeds, each actor returns its own n best rows per feed with their exact
keys; the driver takes the n smallest of those, ties by the lower row: exactly the feed one
box computes over all rows (the n best overall are among each shard's n best). Each actor also
returns its probabilities (N floats in all): the build shows every shot's score.

:func:`shard_feeds` is the per-shard work, the same function in an actor and in the tests.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from va_app.domain import Source
from va_app.learn.classifier import ShotClassifier
from va_app.learn.feeds import (
    FEED_KEYS,
    Feed,
    borderline_feed,
    candidates_for,
    exclusion_mask,
    random_feed,
    spread_ranked,
    top_negative_feed,
    top_positive_feed,
)

_EXACT_FEEDS: dict[str, Feed] = {
    Source.POSITIVE: top_positive_feed,
    Source.NEGATIVE: top_negative_feed,
    Source.BORDERLINE: borderline_feed,
}


@dataclass(frozen=True, eq=False)
class ShardFeeds:
    """One shard's answer: per feed its best rows (global numbers) and their keys, and the
    rows it re-scored in float32 with their probabilities (float16 shards)."""

    feeds: dict[str, tuple[np.ndarray, np.ndarray]]
    exact_rows: np.ndarray
    exact_probabilities: np.ndarray


@dataclass(eq=False)
class ShardScorer:
    """The rows ``[start, stop)`` of a matrix (float32, and float16 if kept) and their scores."""

    X: np.ndarray
    X16: np.ndarray | None
    start: int
    probabilities: np.ndarray | None = None
    logits: np.ndarray | None = None
    funnel: Any = None

    def score(self, w: np.ndarray, b: float) -> np.ndarray:
        """Probabilities of the shard's rows, as :func:`~va_app.learn.classifier.score_corpus`
        gives them (float16 shards: from the float16 kernel, the funnel's stage 1)."""
        if self.X16 is None:
            logits = self.X @ w
            logits += np.float32(b)
            self.probabilities = expit(logits, out=logits)
        else:
            from va_app.learn.lowp import Funnel

            self.funnel = Funnel.for_build(self.X, self.X16, w, b)
            self.logits = self.funnel.approximate()
            self.probabilities = expit(self.logits)
        return self.probabilities

    def exact(self, rows: np.ndarray) -> np.ndarray:
        """float32 probabilities of the shard's (local, ascending) ``rows``."""
        if self.X16 is None:
            return self.scored()[rows]
        return self.funnel.exact(rows)

    def scored(self) -> np.ndarray:
        """The probabilities :meth:`score` gave (it runs before the feeds are asked for)."""
        assert self.probabilities is not None, "score() runs before exact() and feeds()"
        return self.probabilities

    def feeds(self, n: int, hidden: np.ndarray | None) -> ShardFeeds:
        """Per feed the shard's ``n`` best rows (global) and keys; ``hidden``: local rows."""
        probabilities = self.scored()
        mask = exclusion_mask(hidden, probabilities.size)
        if self.X16 is None:
            out = {
                name: _with_keys(feed(probabilities, n, exclude=mask), FEED_KEYS[name], self)
                for name, feed in _EXACT_FEEDS.items()
            }
            empty = np.empty(0, dtype=np.intp)
            return ShardFeeds(out, empty, np.empty(0, dtype=np.float32))
        from va_app.learn.lowp import smallest

        assert self.logits is not None, "score() keeps a float16 shard's logits"
        out, rescored, values = {}, [], []
        for name, key in FEED_KEYS.items():
            found = smallest(self.funnel, key, self.logits, n, hidden=mask)
            out[name] = (found.rows + self.start, key(_exact_of(found, found.rows)))
            rescored.append(found.scored_rows + self.start)
            values.append(found.scores)
        return ShardFeeds(out, np.concatenate(rescored), np.concatenate(values))


def shard_feeds(parts: list[ShardFeeds], n: int) -> dict[str, np.ndarray]:
    """Merge the shards' answers: per feed the ``n`` smallest keys, ties by the lower row."""
    merged = {}
    for name in FEED_KEYS:
        rows = np.concatenate([p.feeds[name][0] for p in parts]).astype(np.intp)
        keys = np.concatenate([p.feeds[name][1] for p in parts])
        merged[name] = rows[np.lexsort((rows, keys))[:n]]
    return merged


def shard_bounds(n_rows: int, shards: int) -> list[tuple[int, int]]:
    """``shards`` runs of rows covering ``[0, n_rows)``, as even as whole rows allow."""
    cuts = np.linspace(0, n_rows, max(1, shards) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]


@dataclass(eq=False)
class RayScores:
    """A build's scores on Ray (see the module docstring); a ScoredCorpus."""

    probabilities: np.ndarray
    pool: _Pool

    def feeds(
        self,
        n: int,
        *,
        seed,
        exclude: np.ndarray | None,
        clusters: np.ndarray | None = None,
        spread: tuple[str, ...] = (),
    ) -> dict[str, np.ndarray]:
        hidden = exclusion_mask(exclude, self.probabilities.size)
        wanted = max(candidates_for(name, n, clusters, spread) for name in FEED_KEYS)
        parts = self.pool.ray.get(
            [
                actor.feeds.remote(wanted, None if hidden is None else hidden[start:stop])
                for actor, (start, stop) in zip(self.pool.actors, self.pool.bounds)
            ]
        )
        for part in parts:
            self.probabilities[part.exact_rows] = part.exact_probabilities
        picked = spread_ranked(shard_feeds(parts, wanted), n, clusters, spread)
        rng = np.random.default_rng(seed)
        picked[Source.RANDOM] = random_feed(self.probabilities, n, rng=rng, exclude=hidden)
        self._rescore(picked[Source.RANDOM])
        return picked

    def _rescore(self, rows: np.ndarray) -> None:
        """float32 probabilities of ``rows`` (the random feed's) from their shards' actors."""
        calls = []
        for actor, (start, stop) in zip(self.pool.actors, self.pool.bounds):
            mine = np.sort(rows[(rows >= start) & (rows < stop)])
            if mine.size:
                calls.append((mine, actor.exact.remote(mine - start)))
        for mine, call in calls:
            self.probabilities[mine] = self.pool.ray.get(call)


def score_on_ray(matrix: Any, clf: ShotClassifier, scoring: Any) -> RayScores:
    """Score ``matrix`` on Ray actors (one per shard); see the module docstring."""
    pool = _pool_for(matrix, scoring)
    w, b = clf.calibrated_weights()
    parts = pool.ray.get([actor.score.remote(w, float(b)) for actor in pool.actors])
    return RayScores(np.concatenate(parts).astype(np.float32, copy=False), pool)


# -- the actors ------------------------------------------------------------------------------
class ShardActor:
    """(On Ray) one shard: maps its rows of the matrix file, or takes them from the object
    store, and answers :meth:`ShardScorer.score` / :meth:`ShardScorer.feeds`."""

    def __init__(self, source: tuple[str, int] | None, start: int, stop: int, X=None) -> None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)  # one core per actor: the shards run side by side
        try:
            import torch

            torch.set_num_threads(1)
        except ImportError:  # pragma: no cover - torch is in requirements.txt
            pass
        X16 = None
        if source is not None:
            from va_app.store.matrix import EmbeddingMatrix

            path, first = source
            rows = EmbeddingMatrix(path).open_mapped()
            assert rows is not None, f"{path} is the matrix file the driver maps"
            X = rows.X[first + start : first + stop]
            X16 = None if rows.X16 is None else rows.X16[first + start : first + stop]
        else:
            X = X[start:stop]
        self.scorer = ShardScorer(X, X16, start)
        self._timings: dict[str, list[float]] = {"score_ms": [], "feeds_ms": []}

    def score(self, w: np.ndarray, b: float) -> np.ndarray:
        t0 = time.perf_counter()
        out = self.scorer.score(w, b)
        self._timings["score_ms"].append((time.perf_counter() - t0) * 1000)
        return out

    def feeds(self, n: int, hidden: np.ndarray | None) -> ShardFeeds:
        t0 = time.perf_counter()
        out = self.scorer.feeds(n, hidden)
        self._timings["feeds_ms"].append((time.perf_counter() - t0) * 1000)
        return out

    def timings(self) -> dict:
        """This shard's own seconds per call (the per-shard cost the 100M plan scales)."""
        return {**self._timings, "rows": int(self.scorer.X.shape[0])}

    def exact(self, rows: np.ndarray) -> np.ndarray:
        return self.scorer.exact(rows)


@dataclass(eq=False)
class _Pool:
    ray: Any
    key: tuple
    actors: list = field(default_factory=list)
    bounds: list = field(default_factory=list)

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)


_pools: dict[str, _Pool] = {}
_pools_lock = threading.Lock()


def _pool_for(matrix: Any, scoring: Any) -> _Pool:
    """The actors serving ``matrix`` (started on its first build, reused while it lasts)."""
    import ray

    source = getattr(matrix, "source", None)
    n_rows = int(matrix.X.shape[0])
    key = (scoring.ray_address, scoring.shards, n_rows, _file_key(source), id(matrix.X))
    with _pools_lock:
        pool = _pools.get("current")
        if pool is not None and pool.key == key:
            return pool
        if pool is not None:
            pool.close()
        _start_ray(scoring)
        actor = ray.remote(num_cpus=0)(ShardActor)
        data = None if source is not None else ray.put(np.asarray(matrix.X))
        bounds = shard_bounds(n_rows, scoring.shards)
        pool = _Pool(ray, key, [actor.remote(source, a, b, data) for a, b in bounds], bounds)
        _pools["current"] = pool
        return pool


def _file_key(source: tuple[str, int] | None) -> tuple:
    if source is None:
        return ()
    stat = Path(source[0]).stat()
    return (source[0], source[1], stat.st_ino, stat.st_mtime_ns)


def _start_ray(scoring: Any) -> None:
    import ray

    if ray.is_initialized():
        return
    if scoring.ray_address:
        import va_app

        ray.init(
            address=scoring.ray_address,
            log_to_driver=False,
            runtime_env={"py_modules": [str(Path(va_app.__file__).parent)]},
        )
    else:
        ray.init(num_cpus=max(1, scoring.shards), include_dashboard=False, log_to_driver=False)


def shutdown_pools() -> None:
    """Stop the shard actors (tests; a process that ends stops them anyway)."""
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()


def _with_keys(rows: np.ndarray, key, scorer: ShardScorer) -> tuple[np.ndarray, np.ndarray]:
    return rows + scorer.start, key(scorer.scored()[rows])


def _exact_of(found, rows: np.ndarray) -> np.ndarray:
    """The exact probabilities of ``rows`` (all among the rows the funnel re-scored)."""
    return found.scores[np.searchsorted(found.scored_rows, rows)]
