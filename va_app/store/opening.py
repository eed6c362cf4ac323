"""Opening a corpus as its readers do: an older catalog schema is upgraded first (after a
backup), and leftovers of an interrupted ingest are repaired unless one is running."""

from __future__ import annotations

import logging

from va_app.config import Settings
from va_app.store.catalog import INGESTING
from va_app.store.corpus import AUTO_INDEX_MAX, Corpus, ingest_lock
from va_app.store.matrix import CorruptMatrixError
from va_app.store.migrate import SchemaOutdatedError
from va_app.store.upgrade import upgrade_corpus

log = logging.getLogger(__name__)


def open_corpus(settings: Settings, *, recover: bool = True, check_index: bool = True) -> Corpus:
    """Open the corpus; upgrades an older catalog schema (after a backup) and repairs
    leftovers of an interrupted ingest unless one is running.

    ``check_index=False`` leaves the vector index out of the cheap check (its client costs
    half a second to start): for commands that never search. An interrupted ingest is still
    found (its videos stay ``ingesting``), and the next opening that searches heals the index.
    """
    try:
        corpus = Corpus(settings)
    except SchemaOutdatedError:
        upgrade_corpus(settings)
        corpus = Corpus(settings)
    if recover and _looks_inconsistent(corpus, check_index=check_index):
        with ingest_lock(settings, wait=False) as free:
            if free:
                corpus.recover()
    return corpus


def _looks_inconsistent(corpus: Corpus, *, check_index: bool = True) -> bool:
    """Cheap check (counts only) before the full repair."""
    try:
        shots = corpus.catalog.count_shots()
        if corpus.catalog.videos(status=INGESTING):
            return True
        if not check_index:
            return shots != corpus.matrix.count()
        try:
            indexed = corpus.index.count()
        except Exception as exc:  # noqa: BLE001 — a damaged index fails in Chroma's own ways
            # Derived data: search is exact without it, `check --repair` rebuilds it.
            log.warning("the vector index cannot be read (%s); run `check --repair`", exc)
            return shots != corpus.matrix.count()
        if shots - indexed > AUTO_INDEX_MAX and indexed <= shots == corpus.matrix.count():
            return False  # a large corpus not indexed yet: only `reindex` fills it
        return not (shots == corpus.matrix.count() == indexed)
    except CorruptMatrixError:
        return True  # recover() sets the file aside
