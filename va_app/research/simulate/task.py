"""One label's world in the oracle simulator: its train/test split and its text-search ranking.

Owns :class:`LabelTask` (the training part the strategies see, the held-out test, the rows the
label's search finds), the stratified split, and what the simulated expert types.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from va_app.learn.matrix import CorpusMatrix
from va_app.search.shots import MODE_SEMANTIC, ShotSearch, ShotTable

#: Share of each label's shots held out for the AP (stratified on the label).
TEST_SHARE = 0.3
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True, eq=False)
class LabelTask:
    """One label: the training part the strategies see, the held-out test, the search ranking."""

    concept: str
    matrix: CorpusMatrix
    search: ShotSearch
    truth: np.ndarray  # bool per training row
    X_test: np.ndarray
    y_test: np.ndarray
    search_rows: np.ndarray  # training rows the label's text search finds, best first

    @property
    def n_train(self) -> int:
        return self.matrix.n_shots

    def summary(self) -> dict[str, Any]:
        return {
            "train": self.n_train,
            "test": int(self.y_test.size),
            "train_positives": int(self.truth.sum()),
            "test_positives": int(self.y_test.sum()),
            "search_hits": int(self.search_rows.size),
            "search_precision": rounded(float(self.truth[self.search_rows].mean()))
            if self.search_rows.size
            else None,
        }


def split_rows(
    truth: np.ndarray, *, test_share: float = TEST_SHARE, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices, stratified on ``truth``; the same inputs, the same split."""
    rows = np.arange(truth.size)
    train, test = train_test_split(rows, test_size=test_share, stratify=truth, random_state=seed)
    return np.sort(train), np.sort(test)


def make_task(
    concept: str,
    full: CorpusMatrix,
    table_shots: Sequence[Any],
    truth_of: dict[str, bool],
    *,
    encoder: Any | None,
    test_share: float = TEST_SHARE,
    queries: Sequence[str] | None = None,
) -> LabelTask:
    """Split the corpus for ``concept`` and rank its training part by the label's text search."""
    rows = np.fromiter((full.row_of[i] for i in truth_of if i in full.row_of), dtype=np.intp)
    rows.sort()
    truth = np.fromiter((truth_of[full.ids[r]] for r in rows), dtype=bool, count=rows.size)
    train, test = split_rows(truth, test_share=test_share, seed=zlib.crc32(concept.encode()))
    ids = [full.ids[r] for r in rows[train]]
    matrix = CorpusMatrix(
        ids,
        full.X[rows[train]],
        full.clusters[rows[train]],
        full.encoder_id,
        {i: r for r, i in enumerate(ids)},
    )
    search = ShotSearch(matrix, None, ShotTable.from_shots(ids, table_shots))
    found = search_ranking(search, queries or label_queries(concept), encoder)
    return LabelTask(concept, matrix, search, truth[train], full.X[rows[test]], truth[test], found)


def label_queries(concept: str) -> list[str]:
    """What the expert types: the label's words as a phrase, then each word alone."""
    words = _WORD.findall(concept.replace("_", " "))
    phrase = " ".join(words) or concept
    return [phrase] + [w for w in words if len(words) > 1]


def search_ranking(search: ShotSearch, queries: Sequence[str], encoder: Any | None) -> np.ndarray:
    """Rows the queries find, best first, each once: the semantic ranking of the first query
    with a text tower, else the keyword hits of every query in turn."""
    row_of = {shot_id: row for row, shot_id in enumerate(search.ids)}
    found: dict[int, None] = {}
    for query in queries:
        result = search.search_text(query, encoder, search.n_shots)
        for hit in result.hits:
            found.setdefault(row_of[hit.shot_id])
        if result.mode == MODE_SEMANTIC:
            break
    return np.fromiter(found, dtype=np.intp, count=len(found))


def rounded(value: float) -> float:
    return round(value, 4) if math.isfinite(value) else value
