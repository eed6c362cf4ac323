"""The vector index filled by the product itself: one resumable background job per corpus.

An import leaves the Chroma index empty and an ingest into a big corpus may leave it behind;
search is exact meanwhile (``va_app.search.shots``), and this job catches the index up:

- :func:`start_index_job` (called after an ingest, an import or a demo build, and by
  ``reindex --background``) starts ``python -m va_app reindex --missing`` as a detached process
  when the index lacks shots and no job runs; its output goes to ``<data dir>/logs/``.
- :func:`fill_index` (that process) holds ``<data dir>/.index-job.lock`` for its lifetime, so
  one job runs per corpus; it walks the matrix file in steps of :data:`STEP` rows, asks the
  index which of a step's shots it already has and adds the others. Killed, it keeps what it
  added; the next job skips those. Each step holds the ingest lock (an ingest waits one step
  at most), and after another process wrote to the index the job reopens its Chroma client
  (a long-lived client does not see other processes' writes).
- :func:`index_job_status` says whether a job runs and how far the index is (for the pages).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from va_app.config import PROJECT_ROOT, Settings
from va_app.store.locks import pid_lock

#: Matrix rows per step: ~10 s of Chroma inserts on two busy cores, the longest an ingest
#: waits for the job to let go of the ingest lock.
STEP = 10_000
LOCK_NAME = ".index-job.lock"
LOG_NAME = "index-job.log"
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class IndexJobStatus:
    """Whether a background index job runs for the corpus, and the index's fill."""

    running: bool
    pid: int | None
    indexed: int
    shots: int
    log: Path

    @property
    def missing(self) -> int:
        return max(0, self.shots - self.indexed)


def start_index_job(settings: Settings) -> bool:
    """Start the background job when the index lacks shots and no job runs; True if started.
    Never with ``Settings.index_job`` off."""
    if not settings.index_job:
        return False
    if job_pid(settings) is not None or not _index_lacks_shots(settings):
        return False
    log = _log_path(settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        subprocess.Popen(
            [sys.executable, "-m", "va_app", "reindex", "--missing", "--quiet"],
            cwd=PROJECT_ROOT,
            env={**os.environ, **settings.as_env()},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the app or CLI that started it
        )
    return True


def job_pid(settings: Settings) -> int | None:
    """The pid of the running job, or None when none holds the job lock."""
    path = _lock_path(settings)
    if not path.exists():
        return None
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None


def index_job_status(settings: Settings, corpus=None) -> IndexJobStatus:
    """:class:`IndexJobStatus` (counts from ``corpus``, or a corpus opened for the look)."""
    from va_app.store.corpus import Corpus

    own = corpus is None
    corpus = corpus or Corpus(settings)
    try:
        indexed, shots = corpus.index.count(), corpus.catalog.count_shots()
    finally:
        if own:
            corpus.close()
    pid = job_pid(settings)
    return IndexJobStatus(pid is not None, pid, indexed, shots, _log_path(settings))


def fill_index(
    settings: Settings, *, progress: Progress | None = None, step: int = STEP
) -> int | None:
    """Add every visible shot the index lacks (see the module docstring); returns how many
    were added, or None when another job already runs for this corpus."""
    with _job_lock(settings) as mine:
        if not mine:
            return None
        return _fill(settings, progress, step)


def _fill(settings: Settings, progress: Progress | None, step: int) -> int:
    from va_app.store.corpus import Corpus, ingest_lock
    from va_app.store.index import forget_cached_clients

    added, start, corpus, rows, seen = 0, 0, None, None, None
    try:
        while True:
            with ingest_lock(settings):
                if corpus is None or _changed(corpus, seen):
                    if corpus is not None:
                        corpus.close()
                        forget_cached_clients()
                    corpus = Corpus(settings)
                    rows, start = corpus.visible_rows(), 0  # walk again: skips are cheap
                done, start = _one_step(corpus, rows, start, step)
                added += done
                seen = (corpus.index.count(), corpus.catalog.corpus_version())
            assert rows is not None, "the first pass opens the corpus and reads its rows"
            if progress:
                progress(seen[0], rows.n_rows, "index")
            if start >= rows.n_rows:
                return added
    finally:
        if corpus is not None:
            corpus.close()


def _one_step(corpus, rows, start: int, step: int) -> tuple[int, int]:
    """Index the shots of the visible rows ``[start, start + step)`` the index lacks; returns
    ``(added, next start)``."""
    stop = min(start + step, rows.n_rows)
    ids = [i.decode() for i in rows.ids[start:stop].tolist()]
    present = _present(corpus.index, ids)
    lacking = [k for k, shot_id in enumerate(ids) if shot_id not in present]
    if lacking:
        vectors = np.asarray(rows.X[start:stop][lacking], dtype=np.float32)
        wanted = [ids[k] for k in lacking]
        corpus.index.add(wanted, vectors)
    return len(lacking), stop


def _present(index, ids: list[str]) -> set[str]:
    """Which of ``ids`` the index holds (looked up by id, a page at a time)."""
    found: set[str] = set()
    for at in range(0, len(ids), 1000):
        found.update(index.collection.get(ids=ids[at : at + 1000], include=[])["ids"])
    return found


def _changed(corpus, seen: tuple[int, str] | None) -> bool:
    """Whether another process wrote to the index or changed the corpus since our last step."""
    return seen is not None and (corpus.index.count(), corpus.catalog.corpus_version()) != seen


def _index_lacks_shots(settings: Settings) -> bool:
    from va_app.store.corpus import Corpus

    corpus = Corpus(settings)
    try:
        return corpus.catalog.count_shots() > corpus.index.count()
    finally:
        corpus.close()


@contextlib.contextmanager
def _job_lock(settings: Settings) -> Iterator[bool]:
    with pid_lock(_lock_path(settings), wait=False) as held:
        yield held


def _lock_path(settings: Settings) -> Path:
    return settings.data_dir / LOCK_NAME


def _log_path(settings: Settings) -> Path:
    return settings.data_dir / "logs" / LOG_NAME
