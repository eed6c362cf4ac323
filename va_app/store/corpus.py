"""The corpus: the SQL catalog, the h5 embedding matrix and the Chroma index, kept in step.

Write order for a video (see ``ingest``): SQL rows as ``ingesting`` → h5 rows → Chroma rows →
SQL ``ready``. Whatever an interruption leaves behind, :meth:`Corpus.recover` removes: the
shots of videos that never became ready, and any h5/Chroma row without a ready shot. Readers
open the corpus through :func:`open_corpus`, which recovers first unless an ingest is running,
so the three stores always agree in count.

Readers see the *visible* shots only (those of ready videos, see :mod:`va_app.store.catalog`):
:meth:`Corpus.visible_rows` leaves out the rows an ingest has written but not yet made visible,
so the matrix a build scores and search ranks holds exactly the shots the counts count.

After every ingest and import the matrix file is compacted (:meth:`Corpus.compact_matrix`):
rows back to back, with each row's cluster, video and duration and the ids' sort order stored
beside them under a stamp the catalog holds too. While the stamp is current, opening the
corpus maps the file and reads nothing per shot (milliseconds at millions of shots); otherwise
(an ingest in progress, a legacy file) the visible rows are found through the catalog.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeGuard

import numpy as np

from va_app.config import Settings
from va_app.domain import Shot
from va_app.store.catalog import INGESTING, Catalog
from va_app.store.index import VectorIndex
from va_app.store.locks import pid_lock
from va_app.store.matrix import (
    FLOAT16,
    FLOAT32,
    CorruptMatrixError,
    EmbeddingMatrix,
    MappedRows,
    RowFacts,
)
from va_app.store.meta import ENCODER_ID

# Opening a corpus re-indexes missing vectors itself only up to this many (seconds of work);
# more (an import that skipped indexing) is left to `reindex`: search stays exact meanwhile.
AUTO_INDEX_MAX = 20_000
#: Rows of the matrix read per step when indexing (Chroma writes them in batches of 1,000).
INDEX_BATCH = 5_000
#: ``matrix_precision="auto"`` keeps a float16 scoring copy once the float32 matrix is larger
#: than this: 8 GiB is 4M shots at 512-d, where float32 no longer leaves room beside the app
#: on a 24 GB box (docs/scale.md: the float16 pass is also ~2× faster with torch's kernel).
FLOAT16_ABOVE_BYTES = 8 << 30


@dataclass(frozen=True, eq=False)
class VisibleRows:
    """The visible shots' rows as the engine and search read them: arrays, no per-shot objects.

    ``ids`` are UTF-8 bytes (``S`` dtype); ``X`` is float32, a read-only map of the matrix file
    whenever the visible rows are a run of it (``mapped``); ``X16`` the float16 scoring copy
    (None without one); ``clusters`` int32 (-1: none). ``id_order`` (the ids' sort order),
    ``video_ids`` (catalog video id per row) and ``duration_s`` come from a current stamp
    (``stamped``) and are None otherwise (then ask the catalog).
    """

    ids: np.ndarray
    X: np.ndarray
    X16: np.ndarray | None
    clusters: np.ndarray
    id_order: np.ndarray | None = None
    video_ids: np.ndarray | None = None
    duration_s: np.ndarray | None = None
    mapped: bool = False
    stamped: bool = False
    #: Leading rows ``id_order`` sorts (the compacted ones); later rows are looked up apart.
    ordered_rows: int | None = None

    @property
    def n_rows(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True)
class Consistency:
    shots: int
    embeddings: int
    index: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class Corpus:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog(settings.sql_url)
        self.matrix = EmbeddingMatrix(settings.embeddings_path)
        self.index = VectorIndex.from_settings(settings)

    @property
    def encoder_id(self) -> str:
        return self.catalog.get_meta(ENCODER_ID) or self.matrix.info()[2]

    def close(self) -> None:
        self.index.close()
        self.catalog.close()

    # -- consistency -------------------------------------------------------------------
    def consistency(self) -> Consistency:
        ready = set(self.catalog.shot_ids())
        h5_ids = self.matrix.ids()
        index_ids = self.index.ids()
        problems = []
        if len(h5_ids) != len(set(h5_ids)):
            problems.append("the embedding matrix has duplicate rows")
        if set(h5_ids) != ready:
            problems.append(f"{len(set(h5_ids) ^ ready)} shots differ between SQL and h5")
        if index_ids != ready:
            problems.append(f"{len(index_ids ^ ready)} shots differ between SQL and Chroma")
        return Consistency(len(ready), len(h5_ids), len(index_ids), problems)

    def recover(self) -> list[str]:
        """Remove whatever an interrupted ingest left; returns the keys of videos cleaned up.

        Also heals a lost or unreadable h5 file (set aside as ``*.corrupt-<time>``): videos
        whose vectors are gone leave SQL and Chroma too, so the next ingest encodes them
        again. Annotations stay: they are keyed by shot id, which re-ingesting restores.
        """
        self._set_aside_unreadable_matrix()
        self.matrix.remove_leftovers()
        never_shown: set[str] = set()
        cleaned = []
        for video in self.catalog.videos(status=INGESTING):
            never_shown.update(self._forget_shots(video.id))
            cleaned.append(video.key)
        ready = set(self.catalog.shot_ids())
        self.matrix.keep_only(ready, never_shown=never_shown)
        self._dedupe_matrix()
        cleaned += self._forget_videos_without_vectors(ready)
        ready = set(self.catalog.shot_ids())
        stale = self.index.ids() - ready
        if stale:
            self.index.delete(stale)
        missing = ready - self.index.ids()
        if 0 < len(missing) <= AUTO_INDEX_MAX:
            self._index_from_matrix(missing)
        return cleaned

    def _forget_video(self, video_id: int, key: str) -> str:
        self._forget_shots(video_id)
        return key

    def _forget_shots(self, video_id: int) -> list[str]:
        """Delete a video from the catalog and the index; returns its shots' ids."""
        ids = self.catalog.delete_video(video_id)
        self.index.delete(ids)
        return ids

    def _set_aside_unreadable_matrix(self) -> None:
        try:
            self.matrix.info()
        except CorruptMatrixError:
            self.matrix.set_aside()

    def _forget_videos_without_vectors(self, ready: set[str]) -> list[str]:
        missing = ready - set(self.matrix.ids())
        if not missing:
            return []
        videos = {(shot.video_id, shot.video_key) for shot in self.catalog.shots(missing)}
        forgotten = [self._forget_video(video_id, key) for video_id, key in sorted(videos)]
        self.matrix.keep_only(set(self.catalog.shot_ids()))  # their other shots' rows too
        return forgotten

    def reindex(self, *, progress=None) -> int:
        """Rebuild the Chroma index from SQL + h5; returns the number of vectors indexed."""
        self.index.reset()
        return self._index_from_matrix(set(self.catalog.shot_ids()), progress=progress)

    def index_missing(self, *, batch_rows: int = INDEX_BATCH, progress=None) -> int:
        """Add to the index every visible shot it lacks, in matrix order; returns how many.

        Resumable: interrupted, it keeps what it added, and the next run adds the rest (unlike
        :meth:`reindex`, which starts from an empty index). ``progress(done, total)``.
        """
        missing = set(self.catalog.shot_ids()) - self.index.ids()
        return self._index_from_matrix(missing, batch_rows=batch_rows, progress=progress)

    def _index_from_matrix(
        self, wanted: set[str], *, batch_rows: int = INDEX_BATCH, progress=None
    ) -> int:
        """Index these shots' vectors (shots the catalog no longer has are left out),
        ``batch_rows`` matrix rows at a time; returns how many were indexed."""
        added = 0
        if progress:
            progress(0, len(wanted))
        for ids, vectors in self.matrix.rows_of(wanted, batch_rows=batch_rows):
            shots = {shot.id: shot for shot in self.catalog.shots(ids)}
            keep = [i for i, shot_id in enumerate(ids) if shot_id in shots]
            self.index.add([ids[i] for i in keep], vectors[keep])
            added += len(keep)
            if progress:
                progress(added, len(wanted))
        return added

    def _dedupe_matrix(self) -> None:
        ids = self.matrix.id_array()
        if len(np.unique(ids)) != len(ids):
            self.matrix.keep_only(set(self.catalog.shot_ids()))  # keeps the first of each id

    # -- compaction --------------------------------------------------------------------
    def compact_matrix(self, *, precision: str | None = None) -> int:
        """Rewrite the matrix file with exactly the visible shots, back to back, their facts
        and a new stamp (see the module docstring); returns the rows kept. Call it holding the
        ingest lock, after the last change to the visible shots and their clusters.

        The new file is written beside the old one and renamed over it; the corpus version
        then moves, so running readers map the new file at their next look (until then they
        keep serving from the old one, which the OS keeps while it is mapped).
        """
        version = self.catalog.corpus_version()
        token = uuid.uuid4().hex
        facts = self._row_facts(f"{token}@{int(version) + 1}")
        dim = self.matrix.info()[1]
        kept = self.matrix.compact(
            facts.ids, facts=facts, precision=precision or self.precision_for(len(facts.ids), dim)
        )
        self.catalog.stamp_matrix(token, expected_version=version, shots=kept)
        return kept

    def _row_facts(self, stamp: str) -> RowFacts:
        """The visible shots' facts as arrays, read from the catalog in batches."""
        ids, clusters, videos, durations = [], [], [], []
        for part in self.catalog.row_facts():
            ids += [str(r[0]).encode() for r in part]
            clusters.append(np.array([-1 if r[1] is None else r[1] for r in part], np.int32))
            videos.append(np.array([r[2] for r in part], dtype=np.int64))
            durations.append(np.array([r[4] - r[3] for r in part], dtype=np.float32))
        width = max((len(i) for i in ids), default=1) or 1
        return RowFacts(
            stamp=stamp,
            ids=np.array(ids, dtype=f"S{width}"),
            clusters=np.concatenate(clusters or [np.zeros(0, np.int32)]),
            video_ids=np.concatenate(videos or [np.zeros(0, np.int64)]),
            duration_s=np.concatenate(durations or [np.zeros(0, np.float32)]),
        )

    def matrix_is_current(self) -> bool:
        """True when the matrix file is compacted for the catalog as it is now."""
        version, stamp = self.catalog.matrix_stamp()
        mapped = self.matrix.open_mapped()
        return _stamp_current(mapped, version, stamp)

    def precision_for(self, rows: int, dim: int) -> str:
        """The matrix file's scoring precision for ``rows`` × ``dim`` (``matrix_precision``)."""
        wanted = self.settings.matrix_precision
        if wanted != "auto":
            return wanted
        return FLOAT16 if rows * dim * 4 > FLOAT16_ABOVE_BYTES else FLOAT32

    # -- reading -----------------------------------------------------------------------
    def shots(self, ids=None) -> list[Shot]:
        return self.catalog.shots(ids)

    def load_matrix(self) -> tuple[list[str], np.ndarray]:
        """The visible shots' vectors, row ↔ id, in matrix order."""
        ids, X, _ = self.load_visible()
        return ids, X

    def load_visible(self) -> tuple[list[str], np.ndarray, dict[str, int | None]]:
        """:meth:`visible_rows` as plain values: ids, the matrix and each shot's cluster."""
        rows = self.visible_rows()
        ids = [i.decode() for i in rows.ids.tolist()]
        clusters = rows.clusters.tolist()
        return ids, rows.X, {i: (None if c < 0 else c) for i, c in zip(ids, clusters)}

    def visible_rows(self) -> VisibleRows:
        """The visible shots' rows, mapped from the matrix file (see :class:`VisibleRows`).

        With a current stamp nothing is read per shot. Otherwise the catalog is read before
        the h5 file: a video made visible in between is left out (and has bumped the corpus
        version, so a cache keyed on it reloads), never half in.
        """
        version, stamp = self.catalog.matrix_stamp()
        mapped = self.matrix.open_mapped()
        if _stamp_current(mapped, version, stamp):
            n = mapped.stamp_rows
            assert mapped.clusters is not None, "a stamped file stores every row's cluster"
            return VisibleRows(
                ids=mapped.ids[:n],
                X=mapped.X[:n],
                X16=None if mapped.X16 is None else mapped.X16[:n],
                clusters=mapped.clusters,
                id_order=mapped.id_order,
                video_ids=mapped.video_ids,
                duration_s=mapped.duration_s,
                mapped=True,
                stamped=True,
            )
        if (
            mapped is not None
            and mapped.stamp
            and mapped.stamp.split("@")[0] == stamp.split("@")[0]
        ):
            grown = self._visible_rows_grown(mapped)
            if grown is not None:
                return grown
        return self._visible_rows_from_catalog(mapped)

    def _visible_rows_grown(self, mapped: MappedRows) -> VisibleRows | None:
        """The stamped rows plus the rows appended and made visible since (an ingest into a
        compacted corpus), asking the catalog about the appended rows only; None when the
        visible shots are not exactly those (something was removed: ask about every row)."""
        n = mapped.stamp_rows
        tail = [i.decode() for i in mapped.ids[n:].tolist()]
        facts = self.catalog.visible_row_facts(tail)
        if len(facts) != len(tail) or self.catalog.counted_shots() != n + len(tail):
            return None
        rows = [facts[i] for i in tail]
        end = n + len(tail)
        return VisibleRows(
            ids=mapped.ids[:end],
            X=mapped.X[:end],
            X16=None if mapped.X16 is None else mapped.X16[:end],
            clusters=np.r_[mapped.clusters, np.array([_cluster(r[0]) for r in rows], np.int32)],
            id_order=mapped.id_order,
            video_ids=np.r_[mapped.video_ids, np.array([r[1] for r in rows], np.int64)],
            duration_s=np.r_[mapped.duration_s, np.array([r[2] for r in rows], np.float32)],
            mapped=True,
            ordered_rows=n,
        )

    def _visible_rows_from_catalog(self, mapped: MappedRows | None) -> VisibleRows:
        cluster_of = self.catalog.clusters()
        if mapped is None:
            listed, X = self.matrix.load()
            ids, X16 = _as_bytes(listed), None
        else:
            ids, X, X16 = mapped.ids, mapped.X, mapped.X16
        keep = np.isin(ids, _as_bytes(cluster_of)) if len(ids) else np.zeros(0, dtype=bool)
        kept = int(keep.sum())
        leading = bool(keep[:kept].all())
        if leading:  # a leading run (the usual case, an ingest's rows come last): views
            ids, X = ids[:kept], X[:kept]
            X16 = None if X16 is None else X16[:kept]
        else:
            ids, X = ids[keep], np.asarray(X[keep])
            X16 = None if X16 is None else np.asarray(X16[keep])
        clusters = np.fromiter(
            (_cluster(cluster_of.get(i.decode())) for i in ids.tolist()),
            dtype=np.int32,
            count=len(ids),
        )
        return VisibleRows(ids, X, X16, clusters, mapped=mapped is not None and leading)


def _stamp_current(mapped: MappedRows | None, version: str, stamp: str) -> TypeGuard[MappedRows]:
    return (
        mapped is not None
        and bool(stamp)
        and mapped.stamp == stamp
        and stamp.endswith(f"@{version}")
    )


def _as_bytes(ids) -> np.ndarray:
    encoded = [str(i).encode() for i in ids]
    return np.array(encoded, dtype=f"S{max((len(e) for e in encoded), default=1) or 1}")


def _cluster(value: int | None) -> int:
    return -1 if value is None else int(value)


@contextmanager
def ingest_lock(settings: Settings, *, wait: bool = True) -> Iterator[bool]:
    """An exclusive lock held while an ingest writes; yields False when busy and not waiting."""
    with pid_lock(settings.data_dir / ".ingest.lock", wait=wait) as held:
        yield held
