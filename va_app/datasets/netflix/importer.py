"""The Netflix Video Annotator data: its file format, and importing it as a corpus.

Owns reading the released data (``shot-data.csv``, ``embeddings.h5``, ``text-embeddings.json``,
``agg/``, ``cmp/``, ``checkpoints/``; format in ../shared/reference/netflix-va-data-format.md)
and :func:`import_netflix`, which turns it into a corpus of this app without any video file:

- every row of ``shot-data.csv`` becomes a shot (its ``key`` is the shot id), grouped into one
  video per ``yt_id`` (title = ``desc``, genre, a YouTube link as the source); the file's
  ``cluster_index`` becomes the diversity cluster; the vectors of ``embeddings.h5`` go to the
  embedding matrix (L2-normalised, encoder :data:`ENCODER_ID`);
- ``agg/<label>.json`` becomes a label with every annotator's word (the primary and each
  secondary as separate annotators, source ``import``);
- ``text-embeddings.json``, ``agg/``, ``cmp/``, ``checkpoints/`` (and ``task_descriptions.json``
  / ``queries.json`` when present) are copied to ``<data dir>/netflix/``: the zero-shot query
  of each label (:func:`zero_shot_query`) and the files the experiments read.

Stages, each safe to interrupt (run the same import again to finish):

1. shots + vectors, streamed in chunks of ``chunk_rows`` rows (bounded memory at 504,030 ×
   512); videos stay ``ingesting`` until every shot has its vector, then all become ``ready``
   at once. An interrupted stage is removed in bulk by the next import (or, slowly, video by
   video, by :meth:`va_app.store.corpus.Corpus.recover` when the corpus is opened first).
2. labels and annotations, one transaction per label; labels that already have annotations
   are left alone.
3. only with ``index=True``: the vector index (Chroma), in batches of the shots it does not
   hold yet (:func:`index_missing_shots`, also on its own). Off by default: it is derived data,
   and by far the slowest stage — Chroma inserts ~1.3k vectors/s at best (NOTES), and with the
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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select, update

from va_app.config import Settings
from va_app.domain import Annotation
from va_app.encoders.base import l2_normalise
from va_app.errors import StoreError, ValidationError
from va_app.store.catalog import INGESTING, READY, Catalog
from va_app.store.corpus import ENCODER_META, Corpus, ingest_lock, shot_metadata
from va_app.store.labels import LabelStore
from va_app.store.matrix import CorruptMatrixError
from va_app.store.schema import MetaRow, ShotRow, VideoRow, utcnow

#: Encoder id of the imported vectors (Clip4CLIP video embeddings, CLIP ViT-B/32 based).
ENCODER_ID = "netflix:clip4clip-vit-b32"
SHOT_DATA = "shot-data.csv"
EMBEDDINGS = "embeddings.h5"
EMBEDDINGS_DATASET = "embeddings"
TEXT_EMBEDDINGS = "text-embeddings.json"
TASK_DESCRIPTIONS = "task_descriptions.json"
QUERIES = "queries.json"
LABEL_DIRS = ("agg", "cmp", "checkpoints")
SHOT_COLUMNS = ("key", "yt_id", "desc", "genre", "frame_in", "frame_out", "start", "end", "fps",
                "cluster_index")
#: Folder under the corpus's data dir that keeps the copied label files.
COPY_DIR = "netflix"
#: Rows per step of the shots stage: 50k × 512 float32 = 100 MiB of vectors at a time.
DEFAULT_CHUNK_ROWS = 50_000
#: Shots per step of the index stage (Chroma writes them in batches of 1,000).
INDEX_BATCH = 5_000
IMPORT_META = "netflix_import"
ROLES_META = "netflix_annotator_roles"
CORPUS_VERSION_META = "corpus_version"
ANNOTATION_SOURCE = "import"
Progress = Callable[[int, int, str], None]


# -- reading the format ---------------------------------------------------------------------
@dataclass(frozen=True)
class NetflixFiles:
    """Where each file of a Netflix-format data dir lives; :meth:`open` checks the basics."""

    root: Path

    @classmethod
    def open(cls, path: str | Path, *,
             need: Sequence[str] = (SHOT_DATA, EMBEDDINGS)) -> NetflixFiles:
        root = Path(path).expanduser().resolve()
        if not root.is_dir():
            raise ValidationError(f"{root} is not a folder: give the folder that holds "
                                  f"{SHOT_DATA}, {EMBEDDINGS} and agg/")
        missing = [name for name in need if not (root / name).exists()]
        if missing:
            raise ValidationError(f"{root} lacks {', '.join(missing)}: is it the unpacked "
                                  "Netflix Video Annotator data folder?")
        return cls(root)

    @property
    def shot_data(self) -> Path:
        return self.root / SHOT_DATA

    @property
    def embeddings(self) -> Path:
        return self.root / EMBEDDINGS

    @property
    def text_embeddings(self) -> Path:
        return self.root / TEXT_EMBEDDINGS

    def label_file(self, kind: str, label: str) -> Path:
        return self.root / kind / f"{label}.json"

    def labels(self, kind: str = "agg") -> list[str]:
        folder = self.root / kind
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


@dataclass(frozen=True)
class AggItem:
    """One shot of ``agg/<label>.json``: every annotator's word and the aggregate."""

    key: str
    primary: bool
    secondaries: Mapping[str, bool]
    agg: bool
    pos_cnt: int


@dataclass(frozen=True)
class AggregatedLabel:
    label: str
    primary: str
    secondaries: tuple[str, ...]
    items: tuple[AggItem, ...]

    @property
    def annotators(self) -> tuple[str, ...]:
        return (self.primary, *self.secondaries)


def read_agg(path: str | Path) -> AggregatedLabel:
    """Parse ``agg/<label>.json``; raises ValidationError naming the file when malformed."""
    path = Path(path)
    raw = _read_json(path)
    try:
        secondaries = tuple(str(a) for a in raw.get("secondaries") or ())
        items = tuple(AggItem(str(d["key"]), bool(d["primary"]),
                              {str(a): bool(v) for a, v in (d.get("secondaries") or {}).items()
                               if v is not None},
                              bool(d["agg"]), int(d.get("pos_cnt", 0)))
                      for d in raw["data"])
        return AggregatedLabel(path.stem, str(raw["primary"]), secondaries, items)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValidationError(f"{path} is not an agg file ({exc!r}); expected "
                              '{"primary", "secondaries", "data": [{"key", "primary", ...}]}'
                              ) from exc


def read_cmp(path: str | Path) -> dict[str, list[tuple[str, bool]]]:
    """``cmp/<label>.json`` as ``{"random": [(key, value), ...], "zero_shot": [...]}``, in order."""
    raw = _read_json(Path(path))
    try:
        return {name: [(str(d["key"]), bool(d["value"])) for d in raw.get(name) or ()]
                for name in ("random", "zero_shot")}
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValidationError(f"{path} is not a cmp file ({exc!r})") from exc


def read_checkpoints(path: str | Path) -> list[tuple[frozenset[str], frozenset[str]]]:
    """``checkpoints/<label>.json``: the growing VA-labelled sets, as (positives, negatives)."""
    raw = _read_json(Path(path))
    try:
        return [(frozenset(map(str, c["pos"])), frozenset(map(str, c["neg"]))) for c in raw]
    except (KeyError, TypeError) as exc:
        raise ValidationError(f"{path} is not a checkpoints file ({exc!r})") from exc


def read_text_embeddings(path: str | Path) -> dict[str, np.ndarray]:
    """``{label: vector}`` (float32, as stored: not normalised)."""
    raw = _read_json(Path(path))
    if not isinstance(raw, dict):
        raise ValidationError(f"{path} should map each label to a vector")
    return {str(k): np.asarray(v, dtype=np.float32) for k, v in raw.items()}


def _read_json(path: Path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise ValidationError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path} is not valid JSON ({exc})") from exc


def youtube_url(yt_id: str, start_s: float | None = None) -> str:
    """Link to the source clip on YouTube, at the shot's start (whole seconds) when given."""
    url = f"https://www.youtube.com/watch?v={yt_id}"
    return url if start_s is None else f"{url}&t={max(0, int(start_s))}s"


# -- what the import leaves for the app and the experiments ---------------------------------
def netflix_dir(settings: Settings) -> Path:
    """``<data dir>/netflix``: the copied label files and zero-shot queries."""
    return settings.data_dir / COPY_DIR


def load_text_embeddings(settings: Settings) -> dict[str, np.ndarray]:
    """The imported zero-shot queries, ``{label: unit vector}``; empty without an import."""
    path = netflix_dir(settings) / TEXT_EMBEDDINGS
    if not path.is_file():
        return {}
    return {label: l2_normalise(v) for label, v in read_text_embeddings(path).items()}


def zero_shot_query(settings: Settings, label: str) -> np.ndarray | None:
    """The label's text embedding (unit vector) in the corpus's space, or None."""
    return load_text_embeddings(settings).get(label)


@dataclass(frozen=True)
class AnnotatorRoles:
    primary: str
    secondaries: tuple[str, ...]


def annotator_roles(catalog: Catalog) -> dict[str, AnnotatorRoles]:
    """Per imported label, which annotator was the primary and which the secondaries."""
    raw = json.loads(catalog.get_meta(ROLES_META, "{}") or "{}")
    return {label: AnnotatorRoles(r["primary"], tuple(r["secondaries"]))
            for label, r in raw.items()}


def agg_from_annotations(annotations: Iterable[Annotation], roles: AnnotatorRoles) -> list[dict]:
    """Rebuild the ``data`` items of an agg file from annotations (each annotator's latest word).

    ``agg`` is the majority of the words (2 of 3) and ``pos_cnt`` the number of positive words;
    shots are sorted by key. The inverse of the import for data whose ``agg`` is the majority.
    """
    votes: dict[str, dict[str, bool]] = {}
    for ann in annotations:  # oldest first: later words overwrite earlier ones
        if ann.value is None:
            votes.get(ann.shot_id, {}).pop(ann.annotator, None)
        else:
            votes.setdefault(ann.shot_id, {})[ann.annotator] = bool(ann.value)
    items = []
    for key in sorted(k for k, v in votes.items() if v):
        words = votes[key]
        pos_cnt = sum(words.values())
        items.append({"key": key, "primary": words.get(roles.primary),
                      "secondaries": {a: words[a] for a in roles.secondaries if a in words},
                      "agg": 2 * pos_cnt > len(words), "pos_cnt": pos_cnt})
    return items


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
        parts = [f"{self.shots} shots in {self.videos} videos ({self.added_shots} added)",
                 f"{len(self.labels)} labels ({len(self.imported_labels)} imported now, "
                 f"{self.annotations} annotations by {', '.join(self.annotators) or 'nobody'})",
                 f"vector index: {self.indexed} added, {self.index_missing} missing"
                 + (" (search stays exact until it is built)" if self.index_missing else "")]
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


def import_netflix(settings: Settings, data_dir: str | Path, *, index: bool = False,
                   chunk_rows: int = DEFAULT_CHUNK_ROWS,
                   progress: Progress | None = None) -> NetflixImportReport:
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
            copied = _copy_label_files(source.files, netflix_dir(settings))
            labels = _import_labels(corpus, source.files, progress)
            indexed = _index_missing(corpus, progress) if index else 0
            missing = _count_missing(corpus)
            videos = len(corpus.catalog.videos())
            shots = corpus.catalog.count_shots()
        finally:
            corpus.close()
    return NetflixImportReport(
        str(source.files.root), shots, videos, added, cleaned, labels.labels, labels.imported,
        labels.annotations, labels.annotators, labels.skipped_keys, indexed, missing, copied,
        round(time.perf_counter() - started, 2))


def _inspect_source(files: NetflixFiles, chunk_rows: int) -> _Source:
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    header = pd.read_csv(files.shot_data, nrows=0).columns
    missing = [c for c in SHOT_COLUMNS if c not in header]
    if missing:
        raise ValidationError(f"{files.shot_data} lacks column(s) {', '.join(missing)}; "
                              f"expected {', '.join(SHOT_COLUMNS)}")
    keys = pd.read_csv(files.shot_data, usecols=["key"], dtype=str, keep_default_na=False)["key"]
    duplicated = keys[keys.duplicated()]
    if len(duplicated):
        raise ValidationError(f"{files.shot_data}: shot key {duplicated.iloc[0]!r} appears "
                              f"more than once ({len(duplicated)} duplicates)")
    rows, dim = _embedding_shape(files.embeddings)
    if rows != len(keys):
        raise ValidationError(f"{files.embeddings} has {rows} vectors but {files.shot_data} has "
                              f"{len(keys)} shots: row i of one must be shot i of the other")
    fingerprint = f"{files.shot_data.stat().st_size}:{rows}x{dim}"
    return _Source(files, rows, dim, fingerprint)


def _embedding_shape(path: Path) -> tuple[int, int]:
    try:
        with h5py.File(path, "r") as f:
            if EMBEDDINGS_DATASET not in f:
                raise ValidationError(f"{path} has no dataset {EMBEDDINGS_DATASET!r} "
                                      f"(it has {', '.join(f.keys()) or 'none'})")
            shape = f[EMBEDDINGS_DATASET].shape
    except OSError as exc:
        raise ValidationError(f"{path} is not a readable HDF5 file ({exc})") from exc
    if len(shape) != 2 or shape[1] == 0:
        raise ValidationError(f"{path}: {EMBEDDINGS_DATASET} should be shots × dims, got {shape}")
    return int(shape[0]), int(shape[1])


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
    with catalog.session() as s:
        stale = select(VideoRow.id).where(VideoRow.status == INGESTING)
        s.execute(delete(ShotRow).where(ShotRow.video_id.in_(stale))
                  .execution_options(synchronize_session=False))
        s.execute(delete(VideoRow).where(VideoRow.status == INGESTING)
                  .execution_options(synchronize_session=False))
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
    previous = json.loads(catalog.get_meta(IMPORT_META, "{}") or "{}")
    if not previous:
        raise ValidationError(
            f"{corpus.settings.data_dir} already holds a corpus of {shots} shots: import the "
            "Netflix data into an empty data dir (--data-dir or VA_DATA_DIR)")
    if previous.get("fingerprint") != source.fingerprint:
        raise ValidationError(
            f"{corpus.settings.data_dir} holds another Netflix import (from "
            f"{previous.get('source')}): import this one into a new data dir")
    return True


def _import_shots(corpus: Corpus, source: _Source, chunk_rows: int,
                  progress: Progress | None) -> int:
    corpus.matrix.check_encoder(ENCODER_ID)
    video_ids: dict[str, int] = {}
    next_idx: dict[str, int] = {}
    done = 0
    _report(progress, 0, source.n_rows, "shots")
    with h5py.File(source.files.embeddings, "r") as h5:
        vectors = h5[EMBEDDINGS_DATASET]
        for frame in _shot_chunks(source.files.shot_data, chunk_rows):
            stop = done + len(frame)
            block = np.asarray(vectors[done:stop], dtype=np.float32)
            _check_finite(block, done, source.files.embeddings)
            _insert_rows(corpus.catalog, frame, video_ids, next_idx)
            corpus.matrix.append(frame["key"].tolist(), block, encoder_id=ENCODER_ID)
            done = stop
            _report(progress, done, source.n_rows, "shots")
    _mark_ready(corpus.catalog, source)
    return done


def _shot_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    text = {"key": str, "yt_id": str, "desc": str, "genre": str}
    reader = pd.read_csv(path, usecols=list(SHOT_COLUMNS), dtype=text, chunksize=chunk_rows,
                         keep_default_na=False, na_values={"genre": ["", "nan", "NaN"]})
    first_row = 0
    for frame in reader:
        yield _validated_chunk(frame, path, first_row)
        first_row += len(frame)


def _validated_chunk(frame: pd.DataFrame, path: Path, first_row: int) -> pd.DataFrame:
    frame = frame.copy()
    frame["genre"] = frame["genre"].fillna("")
    for column, kind in (("frame_in", "int"), ("frame_out", "int"), ("start", "float"),
                         ("end", "float"), ("fps", "float"), ("cluster_index", "int")):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna()
        if bad.any():
            row = first_row + int(np.argmax(bad.to_numpy())) + 2  # + header, 1-based
            raise ValidationError(f"{path} line {row}: {column} is not a number "
                                  f"({frame[column].iloc[int(np.argmax(bad.to_numpy()))]!r})")
        frame[column] = values.astype(np.int64 if kind == "int" else np.float64)
    if (frame["key"] == "").any() or (frame["yt_id"] == "").any():
        raise ValidationError(f"{path}: a row near line {first_row + 2} has no key or yt_id")
    return frame


def _check_finite(block: np.ndarray, first_row: int, path: Path) -> None:
    finite = np.isfinite(block).all(axis=1)
    if not finite.all():
        row = first_row + int(np.argmin(finite))
        raise ValidationError(f"{path}: vector {row} holds NaN or infinite values")


def _insert_rows(catalog: Catalog, frame: pd.DataFrame, video_ids: dict[str, int],
                 next_idx: dict[str, int]) -> None:
    """One transaction: the chunk's new videos (``ingesting``) and all its shots.

    Core inserts of whole chunks (SQLAlchemy's ORM bulk path costs ~2× more at 500k rows), with
    ``added_at`` given once instead of a per-row default.
    """
    now = utcnow()
    with catalog.session() as s:
        conn = s.connection()
        new = frame.drop_duplicates("yt_id")
        new = new[~new["yt_id"].isin(video_ids.keys())]
        if len(new):
            conn.execute(VideoRow.__table__.insert(), _video_records(new, now))
            keys = new["yt_id"].tolist()
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                q = select(VideoRow.key, VideoRow.id).where(VideoRow.key.in_(chunk))
                video_ids.update(dict(conn.execute(q).all()))
        conn.execute(ShotRow.__table__.insert(), _shot_records(frame, video_ids, next_idx, now))


def _video_records(new: pd.DataFrame, now) -> list[dict]:
    # No file: the path only has to be unique; the app then shows metadata and the link.
    yt_ids = new["yt_id"].tolist()
    return _records(
        key=yt_ids, path=[f"netflix://{v}" for v in yt_ids], fingerprint="",
        title=new["desc"].tolist(), genre=new["genre"].tolist(), tags=[[] for _ in yt_ids],
        source_url=[youtube_url(v) for v in yt_ids], fps=new["fps"].tolist(), width=0, height=0,
        n_frames=0, duration_s=0.0, codec="", status=INGESTING, added_at=now)


def _shot_records(frame: pd.DataFrame, video_ids: Mapping[str, int], next_idx: dict[str, int],
                  now) -> list[dict]:
    """Rows for ``shots``; ``idx`` counts a video's shots in file order, across chunks."""
    videos = frame["yt_id"]
    idx = videos.groupby(videos, sort=False).cumcount() + videos.map(next_idx).fillna(0)
    next_idx.update((idx.groupby(videos, sort=False).max() + 1).astype(int).to_dict())
    return _records(
        id=frame["key"].tolist(), video_id=[video_ids[v] for v in videos.tolist()],
        idx=idx.astype(np.int64).tolist(), start_frame=frame["frame_in"].tolist(),
        end_frame=frame["frame_out"].tolist(), start_s=frame["start"].tolist(),
        end_s=frame["end"].tolist(), fps=frame["fps"].tolist(), thumb_path="",
        filmstrip_path="", cluster=frame["cluster_index"].tolist(), added_at=now)


def _records(**columns) -> list[dict]:
    """Row dicts from column lists (scalars repeat); plain Python values, as drivers want."""
    n = max(len(v) for v in columns.values() if isinstance(v, list))
    lists = {k: v if isinstance(v, list) else [v] * n for k, v in columns.items()}
    names = list(lists)
    return [dict(zip(names, values)) for values in zip(*lists.values())]


def _mark_ready(catalog: Catalog, source: _Source) -> None:
    """Every imported video becomes ready in one transaction with the import's record."""
    record = {"source": str(source.files.root), "fingerprint": source.fingerprint,
              "shots": source.n_rows, "dim": source.dim}
    version = int(catalog.get_meta(CORPUS_VERSION_META, "0") or 0) + 1
    last_frame = select(func.max(ShotRow.end_frame)).where(ShotRow.video_id == VideoRow.id)
    last_second = select(func.max(ShotRow.end_s)).where(ShotRow.video_id == VideoRow.id)
    with catalog.session() as s:
        s.execute(update(VideoRow).where(VideoRow.status == INGESTING).values(
            status=READY, n_frames=last_frame.scalar_subquery(),
            duration_s=last_second.scalar_subquery()))
        s.merge(MetaRow(key=IMPORT_META, value=json.dumps(record)))
        s.merge(MetaRow(key=ENCODER_META, value=ENCODER_ID))
        s.merge(MetaRow(key=CORPUS_VERSION_META, value=str(version)))


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
    descriptions = _task_descriptions(files)
    known = set(corpus.catalog.shot_ids())
    imported, annotators, added, skipped = [], set(), 0, 0
    _report(progress, 0, len(names), "labels")
    for done, name in enumerate(names, 1):
        agg = read_agg(files.label_file("agg", name))
        _record_roles(corpus.catalog, agg)
        annotators.update(agg.annotators)
        skipped += sum(item.key not in known for item in agg.items)
        n = _import_label(store, agg, descriptions.get(name, {}), known)
        if n:
            imported.append(name)
            added += n
        _report(progress, done, len(names), "labels")
    return _LabelsDone(names, imported, added, sorted(annotators), skipped)


def _record_roles(catalog: Catalog, agg: AggregatedLabel) -> None:
    roles = json.loads(catalog.get_meta(ROLES_META, "{}") or "{}")
    roles[agg.label] = {"primary": agg.primary, "secondaries": list(agg.secondaries)}
    catalog.set_meta(ROLES_META, json.dumps(roles, sort_keys=True))


def _import_label(store: LabelStore, agg: AggregatedLabel, task: Mapping[str, str],
                  known: set[str]) -> int:
    """Create the label if needed and store every annotator's words, unless it has some."""
    if not any(label.name.casefold() == agg.label.casefold() for label in store.labels()):
        keywords = task.get("keywords", "")
        hints = ", ".join(map(str, keywords)) if isinstance(keywords, list) else str(keywords)
        store.create_label(agg.label, description=str(task.get("description", "")),
                           hints=hints, created_by=ANNOTATION_SOURCE)
    elif store.count_annotations(agg.label):
        return 0
    annotations = [Annotation(agg.label, item.key, value, annotator, source=ANNOTATION_SOURCE)
                   for item in agg.items if item.key in known
                   for annotator, value in ((agg.primary, item.primary),
                                            *sorted(item.secondaries.items()))]
    return store.import_annotations(annotations) if annotations else 0


def _task_descriptions(files: NetflixFiles) -> dict:
    path = files.root / TASK_DESCRIPTIONS
    raw = _read_json(path) if path.is_file() else {}
    return raw if isinstance(raw, dict) else {}


# -- the vector index ----------------------------------------------------------------------------
def index_missing_shots(settings: Settings, *, batch_rows: int = INDEX_BATCH,
                        progress: Progress | None = None) -> tuple[int, int]:
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


def _index_missing(corpus: Corpus, progress: Progress | None,
                   batch_rows: int = INDEX_BATCH) -> int:
    """Add to the vector index every ready shot it lacks, in matrix order; returns how many."""
    missing = set(corpus.catalog.shot_ids()) - corpus.index.ids()
    total, added = len(missing), 0
    _report(progress, 0, total, "index")
    if not missing or not corpus.matrix.exists():
        return 0
    try:
        with h5py.File(corpus.matrix.path, "r") as f:
            ids = [s.decode() if isinstance(s, bytes) else s for s in f["ids"][:]]
            for start in range(0, len(ids), batch_rows):
                rows = [r for r in range(start, min(start + batch_rows, len(ids)))
                        if ids[r] in missing]
                if rows:
                    block = f["embeddings"][rows[0]:rows[-1] + 1]
                    added += _index_rows(corpus, [ids[r] for r in rows],
                                         block[[r - rows[0] for r in rows]])
                    _report(progress, added, total, "index")
    except OSError as exc:
        raise StoreError(f"{corpus.matrix.path} could not be read for indexing ({exc})") from exc
    return added


def _index_rows(corpus: Corpus, ids: list[str], vectors: np.ndarray) -> int:
    """Index these shots with their metadata (shots the catalog no longer has are left out)."""
    shots = {shot.id: shot for shot in corpus.catalog.shots(ids)}
    keep = [i for i, shot_id in enumerate(ids) if shot_id in shots]
    corpus.index.add([ids[i] for i in keep], vectors[keep],
                     [shot_metadata(shots[ids[i]]) for i in keep])
    return len(keep)


__all__ = [
    "ENCODER_ID", "AggItem", "AggregatedLabel", "AnnotatorRoles", "NetflixFiles",
    "NetflixImportReport", "agg_from_annotations", "annotator_roles", "import_netflix",
    "index_missing_shots", "load_text_embeddings", "netflix_dir", "read_agg",
    "read_checkpoints", "read_cmp", "read_text_embeddings", "youtube_url", "zero_shot_query",
]
