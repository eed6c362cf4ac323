"""One corpus's derived state, held in memory and shared by every session of the app.

The embedding matrix (read once, again only when an ingest changed the corpus), search over
it, the encoder of the corpus's vectors (loaded, or fetched, once), the watch on the vector
index's progress and each label's latest build as shown. Nothing here is a user action and
nothing is written: the actions (``va_app.services.labelling``, ``.modelling``) read the
matrix from here, and ``bootstrap`` has a finished build handed to :meth:`remember_build` so
its feeds are not scored a second time. Thread-safe: the app's sessions share one view.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from va_app.config import Settings
from va_app.domain import ModelVersion
from va_app.encoders.base import Encoder
from va_app.encoders.text_cache import CachedTextEncoder, TextVectorCache, has_text_tower
from va_app.errors import VAError
from va_app.learn.matrix import CorpusMatrix
from va_app.search.index_progress import IndexProgress, IndexWatch
from va_app.search.shots import ShotSearch, TextEncoder
from va_app.store.corpus import Corpus
from va_app.store.index import forget_cached_clients

log = logging.getLogger(__name__)

#: ``progress(done_bytes, total_bytes, note)`` of a weights download.
ByteProgress = Callable[..., None]


@dataclass(frozen=True, eq=False)
class FeedView:
    """A stored model version's feeds, exactly as its build made them."""

    version: ModelVersion
    previous: ModelVersion | None
    probabilities: np.ndarray
    feeds: dict[str, list[str]]


def _feed_options(n: int, hide_labelled: bool) -> str:
    return f"{n}|{hide_labelled}"


def same_version(a: ModelVersion, b: ModelVersion) -> bool:
    """The same stored version: the number alone is not enough (a label deleted and created
    again starts at 1 anew)."""
    return (a.label, a.version, a.created_at, a.fingerprint) == (
        b.label,
        b.version,
        b.created_at,
        b.fingerprint,
    )


class CorpusView:
    def __init__(self, settings: Settings, corpus: Corpus) -> None:
        self.settings = settings
        self.corpus = corpus
        self._lock = threading.Lock()
        self._matrix: CorpusMatrix | None = None
        self._matrix_version = ""
        #: How often the matrix was read from disk (the app must do it once per corpus change).
        self.matrix_loads = 0
        self._search: tuple[str, ShotSearch] | None = None
        self._index_watch = IndexWatch()
        self._encoder: tuple[str, Encoder | None] | None = None
        self._encoder_lock = threading.Lock()
        #: Why the corpus's encoder could not be loaded here ("" when it could, or not tried).
        self.encoder_problem = ""
        # Each label's latest build in this process, as shown, by (label key, n, hide).
        self._built: dict[tuple[str, int, bool], FeedView] = {}

    # -- the matrix and search ---------------------------------------------------------------
    @property
    def corpus_version(self) -> str:
        """Changes whenever an ingest changed the corpus (cache key for derived data)."""
        return self.corpus.catalog.corpus_version()

    @property
    def matrix(self) -> CorpusMatrix:
        """The whole corpus in memory; re-read only when an ingest changed the corpus."""
        version = self.corpus_version
        with self._lock:
            if self._matrix is None or version != self._matrix_version:
                self._matrix = CorpusMatrix.load(self.corpus)
                self._matrix_version = version
                self.matrix_loads += 1
                self._built.clear()  # feeds of the old corpus
            return self._matrix

    @property
    def search(self) -> ShotSearch:
        """Search over the matrix in memory; rebuilt only when an ingest changed the corpus."""
        matrix, version = self.matrix, self.corpus_version
        with self._lock:
            if self._search is None or self._search[0] != version:
                self._search = (version, ShotSearch.from_corpus(self.corpus, matrix))
            return self._search[1]

    def index_progress(self) -> IndexProgress | None:
        """How far the vector index is behind the matrix, with an ETA; None while search does
        not wait for it (the index is in step, or the corpus is small enough to scan).

        When the index has caught up (filled by another process), search switches to it.
        """
        search = self.search
        if not search.needs_index or search.index_in_step:
            return None
        try:
            indexed = self.corpus.index.count()
        except Exception:  # noqa: BLE001 — an unusable index: search is exact, says so itself
            return None
        progress = self._index_watch.look(indexed, search.n_shots)
        if progress.complete:
            self._reopen_index()
        return progress

    def _reopen_index(self) -> None:
        """Reopen the Chroma client (a long-lived one does not see other processes' vectors in
        queries) and rebuild search over it."""
        with self._lock:
            self.corpus.index.close()
            forget_cached_clients()
            self._search = None

    # -- the encoder -------------------------------------------------------------------------
    def encoder(self, *, progress: ByteProgress | None = None) -> Encoder | None:
        """The encoder of this corpus's vectors, loaded once; None when it cannot be had here.

        A CLIP corpus whose weights are missing gets them fetched once when the hub can be
        reached (``progress(done_bytes, total_bytes, note)`` follows the download). Without an
        encoder — e.g. an imported corpus's Clip4CLIP vectors — search still works by keywords,
        by example and by stored zero-shot vectors; :attr:`encoder_problem` says why.
        """
        from va_app.encoders import encoder_for_corpus

        corpus_id = self.corpus.encoder_id or ""
        if not corpus_id:  # nothing ingested yet: nothing to search, nothing worth a download
            self.encoder_problem = "the corpus has no shots yet"
            return None
        with self._encoder_lock:  # one download and one model load, however many sessions ask
            if self._encoder is None or self._encoder[0] != corpus_id:
                try:
                    loaded = encoder_for_corpus(self.settings, corpus_id, progress=progress)
                    self.encoder_problem = ""
                except VAError as exc:
                    loaded, self.encoder_problem = None, str(exc)
                self._encoder = (corpus_id, loaded)
            return self._encoder[1]

    def text_encoder(self, *, progress: ByteProgress | None = None) -> TextEncoder | None:
        """What text queries are encoded with: for a corpus whose encoder has a text tower,
        the on-disk cache in front of it (the model loads only for a text never seen before),
        else the encoder itself (the descriptor: keyword search) or None."""
        corpus_id = self.corpus.encoder_id or ""
        if not has_text_tower(corpus_id):
            return self.encoder(progress=progress)
        cache = TextVectorCache(self.settings.data_dir / "cache" / "text-vectors.sqlite")
        return CachedTextEncoder(corpus_id, cache, lambda: self.encoder(progress=progress))

    # -- builds as shown ---------------------------------------------------------------------
    def remember_build(self, view: FeedView, *, n: int, hide_labelled: bool) -> None:
        """Keep a label's latest build (one per label) to hand out instead of re-scoring, in
        this process and on disk (:meth:`stored_build`: a restarted server shows it without a
        pass over the matrix — at 10M shots that pass first reads 10 GB back from disk)."""
        key = view.version.label.casefold()
        with self._lock:
            for old in [k for k in self._built if k[0] == key]:
                del self._built[old]
            self._built[(key, n, hide_labelled)] = view
        try:
            self._write_build(view, n=n, hide_labelled=hide_labelled)
        except OSError as exc:  # a cache: a full or read-only disk costs a re-score, no more
            log.warning("could not keep the build's feeds on disk (%s)", exc)

    def stored_build(
        self, version: ModelVersion, *, n: int, hide_labelled: bool
    ) -> tuple[dict[str, list[str]], np.ndarray] | None:
        """``(feeds, probabilities)`` the build of exactly this stored ``version`` (same feed
        options, same corpus) left on disk; None when there is none."""
        try:
            with self._open_build(version) as stored:
                if str(stored["options"]) != _feed_options(n, hide_labelled):
                    return None
                feeds = {str(name): stored[f"feed_{name}"].tolist() for name in stored["feeds"]}
                return feeds, stored["probabilities"].astype(np.float32)
        except (OSError, KeyError, ValueError):  # none yet, or damaged: score again
            return None

    def stored_probabilities(self, version: ModelVersion) -> np.ndarray | None:
        """Every shot's probability under exactly this stored ``version``, as its build left
        them on disk; None when there are none."""
        try:
            with self._open_build(version) as stored:
                return stored["probabilities"].astype(np.float32)
        except (OSError, KeyError, ValueError):
            return None

    def _open_build(self, version: ModelVersion):
        """The stored build of ``version`` on this corpus, opened; raises KeyError when the
        file holds another build (an older version, another corpus version)."""
        stored = np.load(self._build_file(version.label), allow_pickle=False)
        if str(stored["identity"]) != self._build_identity(version):
            stored.close()
            raise KeyError("another build")
        return stored

    def _write_build(self, view: FeedView, *, n: int, hide_labelled: bool) -> None:
        path = self._build_file(view.version.label)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial.npz")
        arrays: dict[str, Any] = {
            f"feed_{name}": np.array(ids, dtype=str) for name, ids in view.feeds.items()
        }
        np.savez(
            partial,
            identity=np.array(self._build_identity(view.version)),
            options=np.array(_feed_options(n, hide_labelled)),
            feeds=np.array(list(view.feeds)),
            probabilities=np.asarray(view.probabilities, dtype=np.float32),
            **arrays,
        )
        os.replace(partial, path)

    def _build_file(self, label: str) -> Path:
        digest = hashlib.sha256(label.casefold().encode()).hexdigest()[:16]
        return self.settings.data_dir / "cache" / "builds" / f"{digest}.npz"

    def _build_identity(self, version: ModelVersion) -> str:
        created = version.created_at.isoformat() if version.created_at else ""
        return "|".join(
            (
                version.label.casefold(),
                str(version.version),
                created,
                version.fingerprint,
                self.corpus_version,
            )
        )

    def remembered_build(
        self, version: ModelVersion, *, n: int, hide_labelled: bool
    ) -> FeedView | None:
        """The build remembered for exactly this stored ``version`` and feed options."""
        with self._lock:
            built = self._built.get((version.label.casefold(), n, hide_labelled))
        return built if built is not None and same_version(built.version, version) else None
