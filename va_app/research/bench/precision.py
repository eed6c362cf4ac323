"""What a smaller matrix costs in accuracy: float16 storage and PCA-reduced dimensions.

For a corpus past one machine's memory (10M shots × 512 float32 = 20 GB) the plan
(``docs/scale.md``) halves or quarters the matrix. :func:`run_precision_bench` measures, on the
bench's synthetic corpus, what each variant changes for the user:

- ``search_recall_at_50``: text-style top-50 of the variant against the float32 top-50;
- ``feed_overlap_at_50``: the top-positive feed (top 50 by a model's score) against the float32
  model's — the model is fitted on the variant's own vectors, as a build would;
- ``borderline_overlap_at_50``: the same for the borderline feed (smallest |logit|);
- ``matrix_mb`` and ``pass_ms`` (one pass ``X @ w``, float16 cast to float32 block by block).

Command: ``python -m va_app bench --precision --shots 500000``.
"""

from __future__ import annotations

import time

import numpy as np

from va_app.learn.classifier import ShotClassifier
from va_app.learn.feeds import borderline_feed, top_positive_feed
from va_app.research.bench.engine import SyntheticCorpus, _labelled_rows, _unit

TOP_K = 50
#: PCA is fitted on a sample (the plan fits it once per corpus, like the k-means clusters).
PCA_SAMPLE = 20_000
#: float16 rows are cast back to float32 this many at a time for a pass (bounded memory).
CAST_ROWS = 65_536


def run_precision_bench(
    *,
    shots: int = 500_000,
    dim: int = 512,
    labelled: int = 1000,
    seed: int = 0,
    dims: tuple[int, ...] = (256, 128),
    n_queries: int = 50,
) -> dict:
    """Accuracy and size of float16 and PCA variants against the float32 matrix."""
    corpus = SyntheticCorpus.make(shots, dim, seed=seed)
    X = np.concatenate([v for _, v in corpus.chunks()])
    queries, _ = corpus.text_queries(n_queries, seed=seed)
    rows, y = _labelled_rows(X, labelled, seed)
    truth = _answers(X, queries, rows, y)
    variants = {"float32": (X, queries), "float16": (X.astype(np.float16), queries)}
    for d in dims:
        variants[f"pca{d}"] = _pca(X, queries, d, seed)
    results: dict[str, dict[str, float]] = {}
    for name, (Xv, qv) in variants.items():
        got = _answers(Xv, qv, rows, y)
        results[name] = {
            "matrix_mb": round(Xv.nbytes / 2**20, 1),
            "pass_ms": _pass_ms(Xv),
            "search_recall_at_50": _overlap(got["search"], truth["search"]),
            "feed_overlap_at_50": _overlap([got["top"]], [truth["top"]]),
            "borderline_overlap_at_50": _overlap([got["borderline"]], [truth["borderline"]]),
        }
    return {"shots": shots, "dim": dim, "labelled": labelled, "variants": results}


def _answers(X: np.ndarray, queries: np.ndarray, rows: np.ndarray, y: np.ndarray) -> dict:
    search = [top_positive_feed(_scores(X, q), TOP_K) for q in queries]
    model = ShotClassifier().fit(np.asarray(X[rows], dtype=np.float32), y)
    logits = _scores(X, model.coef_) + model.intercept_
    return {
        "search": search,
        "top": top_positive_feed(logits, TOP_K),
        "borderline": borderline_feed(logits, TOP_K, boundary=0.0),
    }


def _scores(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=np.float32)
    if X.dtype == np.float32:
        return X @ w
    out = np.empty(len(X), dtype=np.float32)
    for start in range(0, len(X), CAST_ROWS):
        out[start : start + CAST_ROWS] = X[start : start + CAST_ROWS].astype(np.float32) @ w
    return out


def _pca(X: np.ndarray, queries: np.ndarray, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Project onto the top ``d`` principal directions of a sample, re-normalised (cosine)."""
    rng = np.random.default_rng([seed, 9])
    sample = X[rng.choice(len(X), min(PCA_SAMPLE, len(X)), replace=False)]
    mean = sample.mean(axis=0)
    _, _, vt = np.linalg.svd(sample - mean, full_matrices=False)
    basis = vt[:d].T.astype(np.float32)
    reduced = np.empty((len(X), d), dtype=np.float32)
    for start in range(0, len(X), CAST_ROWS):
        reduced[start : start + CAST_ROWS] = (X[start : start + CAST_ROWS] - mean) @ basis
    return _unit(reduced), _unit((queries - mean) @ basis)


def _overlap(got: list[np.ndarray], truth: list[np.ndarray]) -> float:
    shares = [len(set(g.tolist()) & set(t.tolist())) / max(len(t), 1) for g, t in zip(got, truth)]
    return round(float(np.mean(shares)), 4)


def _pass_ms(X: np.ndarray) -> float:
    w = _unit(np.random.default_rng(7).standard_normal((X.shape[1],)))
    _scores(X, w)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        _scores(X, w)
        times.append((time.perf_counter() - t0) * 1000)
    return round(float(np.median(times)), 1)
