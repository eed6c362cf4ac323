"""The corpus matrix as the learning loop sees it: every visible shot's vector, row ↔ id,
with its cluster — mapped once per process and shared by every build, feed and search.

Light on purpose (no scikit-learn): the reads and the CLI's quick commands load it without
paying for the classifier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from va_app.store.corpus import Corpus
from va_app.store.rowids import RowLookup, ShotIds


@dataclass(frozen=True)
class Scoring:
    """Where a build's pass runs (``Settings.scoring``): here, or on Ray actors."""

    backend: str = "local"
    ray_address: str = ""
    shards: int = 2

    @classmethod
    def from_settings(cls, settings) -> Scoring:
        return cls(settings.scoring, settings.ray_address, settings.ray_shards)


@dataclass(frozen=True, eq=False)
class CorpusMatrix:
    """Every visible shot's vector, row ↔ id, with its diversity cluster (-1 = none).

    Loaded from a corpus, ``X`` (and ``X16``, a float16 scoring copy of big corpora) are
    read-only maps of the matrix file, shared with every other process on the machine, and
    ``ids`` / ``row_of`` read the file's fixed-width ids (:mod:`va_app.store.rowids`) — no
    Python object per shot. ``video_ids`` and ``duration_s`` (per row, from the compacted
    file) spare search a scan of the catalog; None when the file is not current.
    """

    ids: Sequence[str]
    X: np.ndarray
    clusters: np.ndarray
    encoder_id: str
    row_of: Mapping[str, int] = field(repr=False)
    X16: np.ndarray | None = field(default=None, repr=False)
    video_ids: np.ndarray | None = field(default=None, repr=False)
    duration_s: np.ndarray | None = field(default=None, repr=False)
    scoring: Scoring = field(default_factory=Scoring)
    #: The matrix file and the first row of ``X`` in it, when ``X`` maps it (Ray shards map
    #: the same file); None when ``X`` is a copy.
    source: tuple[str, int] | None = None

    @classmethod
    def load(cls, corpus: Corpus) -> CorpusMatrix:
        rows = corpus.visible_rows()
        return cls(
            ShotIds(rows.ids),
            rows.X,
            rows.clusters,
            corpus.encoder_id,
            RowLookup(rows.ids, rows.id_order, ordered=rows.ordered_rows),
            X16=rows.X16,
            video_ids=rows.video_ids,
            duration_s=rows.duration_s,
            scoring=Scoring.from_settings(corpus.settings),
            source=(str(corpus.matrix.path), 0) if rows.mapped else None,
        )

    @property
    def n_shots(self) -> int:
        return len(self.ids)

    @property
    def k(self) -> int:
        return int(self.clusters.max()) + 1 if self.clusters.size else 0

    def rows(self, shot_ids: list[str]) -> np.ndarray:
        """Rows of the ids found, in the order given (ids not in the corpus left out)."""
        if isinstance(self.row_of, RowLookup):
            return self.row_of.rows(shot_ids)
        return np.fromiter((self.row_of[i] for i in shot_ids if i in self.row_of), dtype=np.intp)
