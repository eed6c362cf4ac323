"""Importing the Netflix Video Annotator data release as a corpus, without any video file.

The release's files are read by :mod:`.format`; what the app later looks up about the import
is in :mod:`.lookups`. :func:`import_netflix`:

- every row of ``shot-data.csv`` becomes a shot (its ``key`` is the shot id), grouped into one
  video per ``yt_id`` (title = ``desc``, genre, a YouTube link as the source); the file's
  ``cluster_index`` becomes the diversity cluster; the vectors of ``embeddings.h5`` go to the
  embedding matrix (L2-normalised, encoder :data:`~.format.ENCODER_ID`);
- ``agg/<label>.json`` becomes a label with every annotator's word (the primary and each
  secondary as separate annotators, source ``import``);
- ``text-embeddings.json``, ``agg/``, ``cmp/``, ``checkpoints/`` (and ``task_descriptions.json``
  / ``queries.json`` when present) are copied to ``<data dir>/netflix/``: the zero-shot query
  of each label (:func:`~.lookups.zero_shot_query`) and the files the experiments read.

Stages, each safe to interrupt (run the same import again to finish):

1. shots + vectors, streamed in chunks of ``chunk_rows`` rows (bounded memory at 504,030 ×
   512); videos stay ``ingesting`` until every shot has its vector, then all become ``ready``
   (visible) at once, and the matrix file is compacted (every app process maps it). An
   interrupted stage is removed in bulk by the next import (or, slowly, video by video, by
   :meth:`va_app.store.corpus.Corpus.recover` when the corpus is opened first).
2. labels and annotations, one transaction per label; labels that already have annotations
   are left alone.
3. only with ``index=True``: the vector index (Chroma), in batches of the shots it does not
   hold yet (:func:`index_missing_shots`, also on its own). Off by default: it is derived data,
   and by far the slowest stage — Chroma inserts ~1.3k vectors/s at best, and with the
   index's high-recall HNSW settings on 2 busy cores it was measured at 50–100/s beyond 20k
   vectors, i.e. 1.5–3 hours for the 504k shots — while search without it stays exact and
   fast enough (one ~40 ms pass over the matrix; ``open_corpus`` leaves a large un-indexed
   corpus alone). Run it later when wanted; an interrupted run resumes where it stopped,
   unlike ``reindex``, which starts from an empty index.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from va_app.config import Settings
from va_app.datasets.netflix.format import (
    ENCODER_ID,
    LABEL_DIRS,
    QUERIES,
    SHOT_DATA,
    TASK_DESCRIPTIONS,
    TEXT_EMBEDDINGS,
    NetflixFiles,
    check_shot_data,
    read_task_descriptions,
    shot_chunks,
)
from va_app.datasets.netflix.lookups import netflix_dir, youtube_url
from va_app.domain import Source
from va_app.errors import ValidationError
from va_app.formats.netflix_agg import AggregatedLabel, read_agg
from va_app.store import meta
from va_app.store.catalog import INGESTING
from va_app.store.corpus import INDEX_BATCH, Corpus, ingest_lock
from va_app.store.labels import LabelStore
from va_app.store.matrix import CorruptMatrixError
from va_app.store.schema import utcnow

#: Rows per step of the shots stage: 50k × 512 float32 = 100 MiB of vectors at a time.
DEFAULT_CHUNK_ROWS = 50_000
Progress = Callable[[int, int, str], None]


# -- the import -------------------------------------------------------------------------------
@dataclass(frozen=True)
class NetflixImportReport:
    """What one import run did; :meth:`line` for people, :meth:`summary` for ``--json``."""

    data_dir: str
    shots: int
    videos: int
    added_shots: int
    cleaned_up: bool
    labels: list[str]
    imported_labels: list[str]
    annotations: int
    annotators: list[str]
    skipped_keys: int
    indexed: int
    index_missing: int
    copied: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        parts = [
            f"{self.shots} shots in {self.videos} videos ({self.added_shots} added)",
            f"{len(self.labels)} labels ({len(self.imported_labels)} imported now, "
            f"{self.annotations} annotations by {', '.join(self.annotators) or 'nobody'})",
            f"vector index: {self.indexed} added, {self.index_missing} missing"
            + (" (search stays exact until it is built)" if self.index_missing else ""),
        ]
        if self.skipped_keys:
            parts.append(f"{self.skipped_keys} annotated keys are not in {SHOT_DATA}: skipped")
        if self.cleaned_up:
            parts.append("cleaned up an interrupted import")
        return "; ".join(parts)


@dataclass(frozen=True)
class _Source:
    files: NetflixFiles
    n_rows: int
    dim: int
    fingerprint: str


def import_netflix(
    settings: Settings,
    data_dir: str | Path,
    *,
    index: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Progress | None = None,
) -> NetflixImportReport:
    """Import a Netflix-format data dir into the corpus of ``settings`` (see module docstring).

    The corpus must be empty or hold this same import (then the run resumes where the last one
    stopped). ``progress(done, total, stage)`` is called with stage ``"shots"``, ``"labels"``
    and ``"index"``; each stage starts at 0 and ends with ``done == total``.
    """
    started = time.perf_counter()
    source = _inspect_source(NetflixFiles.open(data_dir), chunk_rows)
    with ingest_lock(settings):
        corpus = Corpus(settings)
        try:
            existing = _check_existing(corpus, source)
            cleaned = _clean_interrupted(corpus)
            existing = existing and corpus.catalog.count_shots() > 0
            added = 0 if existing else _import_shots(corpus, source, chunk_rows, progress)
            if added or cleaned or not corpus.matrix_is_current():
                corpus.compact_matrix()  # rows back to back, stamped: the app maps the file
            copied = _copy_label_files(source.files, netflix_dir(settings))
            labels = _import_labels(corpus, source.files, progress)
            indexed = _index_missing(corpus, progress) if index else 0
            missing = _count_missing(corpus)
            videos = len(corpus.catalog.videos())
            shots = corpus.catalog.count_shots()
        finally:
            corpus.close()
    return NetflixImportReport(
        str(source.files.root),
        shots,
        videos,
        added,
        cleaned,
        labels.labels,
        labels.imported,
        labels.annotations,
        labels.annotators,
        labels.skipped_keys,
        indexed,
        missing,
        copied,
        round(time.perf_counter() - started, 2),
    )


def _inspect_source(files: NetflixFiles, chunk_rows: int) -> _Source:
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    rows, dim = check_shot_data(files)
    fingerprint = f"{files.shot_data.stat().st_size}:{rows}x{dim}"
    return _Source(files, rows, dim, fingerprint)


def _clean_interrupted(corpus: Corpus) -> bool:
    """Bulk-remove videos left ``ingesting`` and any vector without a ready shot.

    An unreadable matrix file is left to the corpus's own repair, which sets it aside and
    forgets the shots that lost their vectors (the import then writes them again).
    """
    catalog = corpus.catalog
    try:
        vectors = corpus.matrix.count()
    except CorruptMatrixError:
        corpus.recover()
        return True
    if not catalog.videos(status=INGESTING) and vectors == catalog.count_shots():
        return False
    catalog.delete_ingesting()
    ready = set(catalog.shot_ids())
    if ready:
        corpus.matrix.keep_only(ready)
    else:
        corpus.matrix.reset()
    stale_index = corpus.index.ids() - ready if corpus.index.count() else set()
    if stale_index:
        corpus.index.delete(stale_index)
    return True


def _check_existing(corpus: Corpus, source: _Source) -> bool:
    """True when the corpus already holds this import's shots; raises when it holds others."""
    catalog = corpus.catalog
    shots = catalog.count_shots()
    if not shots:
        return False
    previous = json.loads(catalog.get_meta(meta.NETFLIX_IMPORT, "{}") or "{}")
    if not previous:
        raise ValidationError(
            f"{corpus.settings.data_dir} already holds a corpus of {shots} shots: import the "
            "Netflix data into an empty data dir (--data-dir or VA_DATA_DIR)"
        )
    if previous.get("fingerprint") != source.fingerprint:
        raise ValidationError(
            f"{corpus.settings.data_dir} holds another Netflix import (from "
            f"{previous.get('source')}): import this one into a new data dir"
        )
    return True


def _import_shots(
    corpus: Corpus, source: _Source, chunk_rows: int, progress: Progress | None
) -> int:
    corpus.matrix.check_encoder(ENCODER_ID)
    corpus.matrix.reserve(source.n_rows, dim=source.dim, encoder_id=ENCODER_ID)
    videos_seen: set[str] = set()
    next_idx: dict[str, int] = {}
    done = 0
    _report(progress, 0, source.n_rows, "shots")
    for frame, block in shot_chunks(source.files, chunk_rows):
        new = frame.drop_duplicates("yt_id")
        new = new[~new["yt_id"].isin(videos_seen)]
        videos_seen.update(new["yt_id"])
        now = utcnow()  # given once per chunk instead of a per-row default
        corpus.catalog.insert_ingesting(
            _video_records(new, now), _shot_records(frame, next_idx, now)
        )
        corpus.matrix.append(frame["key"].tolist(), block, encoder_id=ENCODER_ID)
        done += len(frame)
        _report(progress, done, source.n_rows, "shots")
    record = {
        "source": str(source.files.root),
        "fingerprint": source.fingerprint,
        "shots": source.n_rows,
        "dim": source.dim,
    }
    corpus.catalog.publish_ingesting(
        {meta.NETFLIX_IMPORT: json.dumps(record), meta.ENCODER_ID: ENCODER_ID}
    )
    return done


def _video_records(new: pd.DataFrame, now) -> list[dict]:
    # No file: the path only has to be unique; the app then shows metadata and the link.
    yt_ids = new["yt_id"].tolist()
    return _records(
        key=yt_ids,
        path=[f"netflix://{v}" for v in yt_ids],
        fingerprint="",
        title=new["desc"].tolist(),
        genre=new["genre"].tolist(),
        tags=[[] for _ in yt_ids],
        source_url=[youtube_url(v) for v in yt_ids],
        fps=new["fps"].tolist(),
        width=0,
        height=0,
        n_frames=0,
        duration_s=0.0,
        codec="",
        added_at=now,
    )


def _shot_records(frame: pd.DataFrame, next_idx: dict[str, int], now) -> list[dict]:
    """Rows for ``shots``; ``idx`` counts a video's shots in file order, across chunks."""
    videos = frame["yt_id"]
    idx = videos.groupby(videos, sort=False).cumcount() + videos.map(next_idx).fillna(0)
    next_idx.update((idx.groupby(videos, sort=False).max() + 1).astype(int).to_dict())
    return _records(
        id=frame["key"].tolist(),
        video_key=videos.tolist(),
        idx=idx.astype(np.int64).tolist(),
        start_frame=frame["frame_in"].tolist(),
        end_frame=frame["frame_out"].tolist(),
        start_s=frame["start"].tolist(),
        end_s=frame["end"].tolist(),
        fps=frame["fps"].tolist(),
        thumb_path="",
        filmstrip_path="",
        cluster=frame["cluster_index"].tolist(),
        added_at=now,
    )


def _records(**columns) -> list[dict]:
    """Row dicts from column lists (scalars repeat); plain Python values, as drivers want."""
    n = max(len(v) for v in columns.values() if isinstance(v, list))
    lists = {k: v if isinstance(v, list) else [v] * n for k, v in columns.items()}
    names = list(lists)
    return [dict(zip(names, values)) for values in zip(*lists.values())]


def _report(progress: Progress | None, done: int, total: int, stage: str) -> None:
    if progress:
        progress(done, total, stage)


# -- label files --------------------------------------------------------------------------------
def _copy_label_files(files: NetflixFiles, target: Path) -> list[str]:
    """Copy the files the app and the experiments read; unchanged files are not copied again."""
    copied = []
    names = [TEXT_EMBEDDINGS, TASK_DESCRIPTIONS, QUERIES]
    for kind in LABEL_DIRS:
        names += [f"{kind}/{label}.json" for label in files.labels(kind)]
    for name in names:
        src, dst = files.root / name, target / name
        if src.is_file() and not _same_file(src, dst):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            copied.append(name)
    return copied


def _same_file(src: Path, dst: Path) -> bool:
    if not dst.is_file():
        return False
    a, b = src.stat(), dst.stat()
    return a.st_size == b.st_size and math.isclose(a.st_mtime, b.st_mtime, abs_tol=1e-3)


@dataclass(frozen=True)
class _LabelsDone:
    labels: list[str]
    imported: list[str]
    annotations: int
    annotators: list[str]
    skipped_keys: int


def _import_labels(corpus: Corpus, files: NetflixFiles, progress: Progress | None) -> _LabelsDone:
    store = LabelStore(corpus.catalog)
    names = files.labels("agg")
    descriptions = read_task_descriptions(files)
    known = set(corpus.catalog.shot_ids())
    imported: list[str] = []
    annotators: set[str] = set()
    added, skipped = 0, 0
    _report(progress, 0, len(names), "labels")
    for done, name in enumerate(names, 1):
        agg = read_agg(files.label_file("agg", name))
        store.record_annotator_roles(agg.label, agg.primary, agg.secondaries)
        annotators.update(agg.annotators)
        skipped += sum(item.key not in known for item in agg.items)
        n = _import_label(store, agg, descriptions.get(name, {}), known)
        if n:
            imported.append(name)
            added += n
        _report(progress, done, len(names), "labels")
    return _LabelsDone(names, imported, added, sorted(annotators), skipped)


def _import_label(
    store: LabelStore, agg: AggregatedLabel, task: Mapping[str, str], known: set[str]
) -> int:
    """Create the label if needed and store every annotator's words, unless it has some."""
    if not any(label.name.casefold() == agg.label.casefold() for label in store.labels()):
        keywords = task.get("keywords", "")
        hints = ", ".join(map(str, keywords)) if isinstance(keywords, list) else str(keywords)
        store.create_label(
            agg.label,
            description=str(task.get("description", "")),
            hints=hints,
            created_by=Source.IMPORT,
        )
    elif store.count_annotations(agg.label):
        return 0
    annotations = agg.annotations(keep=known)
    return store.import_annotations(annotations) if annotations else 0


# -- the vector index ----------------------------------------------------------------------------
def index_missing_shots(
    settings: Settings, *, batch_rows: int = INDEX_BATCH, progress: Progress | None = None
) -> tuple[int, int]:
    """Add to the corpus's vector index the ready shots it lacks; returns (added, missing).

    Resumable: interrupt it at any point and run it again. Works on any corpus, not only an
    imported one. ``progress(done, total, "index")`` after each batch of ``batch_rows`` rows.
    """
    with ingest_lock(settings):
        corpus = Corpus(settings)
        try:
            return _index_missing(corpus, progress, batch_rows), _count_missing(corpus)
        finally:
            corpus.close()


def _count_missing(corpus: Corpus) -> int:
    return max(0, corpus.catalog.count_shots() - corpus.index.count())


def _index_missing(corpus: Corpus, progress: Progress | None, batch_rows: int = INDEX_BATCH) -> int:
    return corpus.index_missing(
        batch_rows=batch_rows,
        progress=None if progress is None else (lambda done, total: progress(done, total, "index")),
    )


__all__ = ["DEFAULT_CHUNK_ROWS", "NetflixImportReport", "import_netflix", "index_missing_shots"]
