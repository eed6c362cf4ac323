"""The corpus: the SQL catalog, the h5 embedding matrix and the Chroma index, kept in step.

Write order for a video (see ``ingest``): SQL rows as ``ingesting`` → h5 rows → Chroma rows →
SQL ``ready``. Whatever an interruption leaves behind, :meth:`Corpus.recover` removes: the
shots of videos that never became ready, and any h5/Chroma row without a ready shot. Readers
open the corpus through :func:`open_corpus`, which recovers first unless an ingest is running,
so the three stores always agree in count.

Readers see the *visible* shots only (those of ready videos, see :mod:`va_app.store.catalog`):
:meth:`Corpus.load_matrix` leaves out the rows an ingest has written but not yet made visible,
so the matrix a build scores and search ranks holds exactly the shots the counts count.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from va_app.config import Settings
from va_app.domain import Shot
from va_app.store.catalog import INGESTING, Catalog
from va_app.store.index import VectorIndex
from va_app.store.matrix import CorruptMatrixError, EmbeddingMatrix
from va_app.store.meta import ENCODER_ID

# Opening a corpus re-indexes missing vectors itself only up to this many (seconds of work);
# more (an import that skipped indexing) is left to `reindex`: search stays exact meanwhile.
AUTO_INDEX_MAX = 20_000
#: Rows of the matrix read per step when indexing (Chroma writes them in batches of 1,000).
INDEX_BATCH = 5_000


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
        cleaned = [
            self._forget_video(video.id, video.key)
            for video in self.catalog.videos(status=INGESTING)
        ]
        ready = set(self.catalog.shot_ids())
        self.matrix.keep_only(ready)
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
        self.index.delete(self.catalog.delete_video(video_id))
        return key

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
        """Index these shots' vectors with their metadata (shots the catalog no longer has are
        left out), ``batch_rows`` matrix rows at a time; returns how many were indexed."""
        added = 0
        if progress:
            progress(0, len(wanted))
        for ids, vectors in self.matrix.rows_of(wanted, batch_rows=batch_rows):
            shots = {shot.id: shot for shot in self.catalog.shots(ids)}
            keep = [i for i, shot_id in enumerate(ids) if shot_id in shots]
            self.index.add(
                [ids[i] for i in keep], vectors[keep], [shot_metadata(shots[ids[i]]) for i in keep]
            )
            added += len(keep)
            if progress:
                progress(added, len(wanted))
        return added

    def _dedupe_matrix(self) -> None:
        ids = self.matrix.ids()
        if len(ids) != len(set(ids)):
            # Keep the first row of each id: rewrite with a mask via keep_only on a fresh file.
            _, matrix = self.matrix.load()
            encoder_id = self.matrix.info()[2]
            first = {}
            for row, shot_id in enumerate(ids):
                first.setdefault(shot_id, row)
            rows = sorted(first.values())
            self.matrix.reset()
            self.matrix.append(
                [ids[r] for r in rows], matrix[rows], encoder_id=encoder_id, normalise=False
            )

    # -- reading -----------------------------------------------------------------------
    def shots(self, ids=None) -> list[Shot]:
        return self.catalog.shots(ids)

    def load_matrix(self) -> tuple[list[str], np.ndarray]:
        """The visible shots' vectors, row ↔ id, in matrix order."""
        ids, X, _ = self.load_visible()
        return ids, X

    def load_visible(self) -> tuple[list[str], np.ndarray, dict[str, int | None]]:
        """:meth:`load_matrix` and every visible shot's cluster, from one look at the catalog.

        The catalog is read before the h5 file: a video made visible in between is left out
        (and has bumped the corpus version, so a cache keyed on it reloads), never half in.
        """
        cluster_of = self.catalog.clusters()
        ids, X = self.matrix.load()
        keep = np.fromiter((i in cluster_of for i in ids), dtype=bool, count=len(ids))
        if keep.all():
            return ids, X, cluster_of
        return [i for i, kept in zip(ids, keep) if kept], X[keep], cluster_of


def shot_metadata(shot: Shot) -> dict:
    """What the vector index stores with a shot, for ``where`` filters. No cluster id: it
    changes with every ingest, and search filters run over numpy arrays (``va_app.search.shots``),
    so keeping it in step would rewrite every index row for nothing."""
    return {
        "video": shot.video_key,
        "title": shot.title,
        "genre": shot.genre,
        "tags": ",".join(shot.tags),
        "start_s": round(shot.start_s, 3),
        "duration_s": round(shot.duration_s, 3),
    }


@contextmanager
def ingest_lock(settings: Settings, *, wait: bool = True) -> Iterator[bool]:
    """An exclusive lock held while an ingest writes; yields False when busy and not waiting."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / ".ingest.lock"
    with open(path, "a+") as handle:
        flags = fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB)
        try:
            fcntl.flock(handle, flags)
        except BlockingIOError:
            yield False
            return
        try:
            handle.seek(0), handle.truncate(), handle.write(str(os.getpid())), handle.flush()
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
