"""Backup and restore of one corpus, safe while the app runs and annotators keep clicking.

A backup is a folder::

    manifest.json      format, time, source folder, encoder, row counts, SHA-256 of each file
    catalog.sqlite     the SQL catalog, copied with SQLite's online backup API
    embeddings.h5      the embedding matrix
    models/            whatever the data dir keeps there (model versions themselves are SQL rows)
    thumbs/            thumbnails and filmstrips (optional)

Consistency: the copy runs under the ingest lock, so no ingest changes SQL or h5 meanwhile;
the SQL copy is one snapshot (one read transaction in WAL mode, annotators' writes go on), so
it holds every annotation acknowledged before the backup started. The folder is written under
a temporary name and renamed when complete: a folder named like the destination is always a
whole backup.

The Chroma index is derived data: restore rebuilds it from SQL + h5 (like ``reindex``) and
then checks the three stores agree and SQLite's ``integrity_check`` passes. Only SQLite
catalogs are handled; back up a PostgreSQL catalog with ``pg_dump``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import h5py
from sqlalchemy.engine import make_url

from va_app.config import Settings
from va_app.errors import StoreError, ValidationError
from va_app.store.catalog import READY, SQLITE_BUSY_TIMEOUT_MS
from va_app.store.corpus import Corpus, ingest_lock
from va_app.store.index import forget_cached_clients
from va_app.store.matrix import EMBEDDINGS, IDS, EmbeddingMatrix
from va_app.store.meta import ENCODER_ID
from va_app.store.schema import (
    AnnotationRow, EventRow, LabelRow, ModelVersionRow, ShotRow, VideoRow,
)

BACKUP_FORMAT = "video-annotator-backup/1"
MANIFEST = "manifest.json"
CATALOG_FILE = "catalog.sqlite"
EMBEDDINGS_FILE = "embeddings.h5"
MODELS_DIR = "models"
THUMBS_DIR = "thumbs"
# Files of the data dir that are not corpus content (an empty corpus may still have them).
_NOT_CONTENT = {".ingest.lock"}
_COUNTED = {"videos": VideoRow, "labels": LabelRow, "annotations": AnnotationRow,
            "model_versions": ModelVersionRow, "events": EventRow}
# Counts that must survive a restore exactly (shots and embeddings are checked by consistency).
_EXACT = ("videos", "labels", "annotations", "model_versions")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class BackupReport:
    path: Path
    created_at: str
    encoder_id: str
    counts: dict[str, int]
    files: dict[str, str]  # path inside the backup -> SHA-256
    thumbs: int  # thumbnail files copied (0 when left out)


@dataclass(frozen=True)
class RestoreReport:
    data_dir: Path
    counts: dict[str, int]
    indexed: int  # vectors put into the rebuilt Chroma index
    cleaned_up: list[str] = field(default_factory=list)  # videos an interrupted ingest left


# -- backup ------------------------------------------------------------------------------------
def backup(settings: Settings, dest: str | Path, *, include_thumbs: bool = True,
           wait: bool = True, progress: Progress | None = None) -> BackupReport:
    """Copy the corpus of ``settings`` to the new folder ``dest`` while the app keeps running.

    ``wait``: when an ingest is running, wait for it to finish (else fail at once).
    """
    db_path = sqlite_path(settings)
    if not db_path.is_file():
        raise StoreError(f"nothing to back up: {db_path} does not exist")
    dest = Path(dest).expanduser().resolve()
    _require_empty_folder(dest, what="backup destination", hint="choose a new folder")
    staging = dest.parent / f".{dest.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)  # the leftover of an interrupted backup
    staging.mkdir(parents=True)
    try:
        with _no_ingest(settings, wait=wait, progress=progress):
            _note(progress, "copying the SQL catalog")
            copy_sqlite(db_path, staging / CATALOG_FILE)
            _note(progress, "copying the embedding matrix")
            _copy_matrix(settings.embeddings_path, staging / EMBEDDINGS_FILE)
            _copy_tree(settings.models_dir, staging / MODELS_DIR)
            thumbs = _copy_tree(settings.thumbs_dir, staging / THUMBS_DIR) if include_thumbs else 0
        report = _finish_backup(settings, staging, dest, thumbs)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def _finish_backup(settings: Settings, staging: Path, dest: Path, thumbs: int) -> BackupReport:
    integrity_check(staging / CATALOG_FILE)
    files = {rel: sha256(staging / rel) for rel in _content_files(staging)}
    manifest = {
        "format": BACKUP_FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source_data_dir": str(settings.data_dir),
        "encoder_id": _encoder_id(staging),
        "counts": catalog_counts(staging / CATALOG_FILE) | {
            "embeddings": EmbeddingMatrix(staging / EMBEDDINGS_FILE).count()},
        "files": files,
        "thumbs": thumbs,
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    if dest.exists():
        dest.rmdir()  # empty (checked above); the rename needs the name free
    os.replace(staging, dest)
    return BackupReport(dest, manifest["created_at"], manifest["encoder_id"],
                        manifest["counts"], files, thumbs)


def copy_sqlite(src: Path, dst: Path) -> None:
    """One consistent snapshot of a live SQLite database into a standalone file."""
    dst.unlink(missing_ok=True)
    timeout = SQLITE_BUSY_TIMEOUT_MS / 1000
    with closing(sqlite3.connect(src, timeout=timeout)) as source, \
            closing(sqlite3.connect(dst)) as target:
        # pages=-1: the whole database in one step, i.e. within one read transaction (WAL
        # lets writers continue); stepping in pieces would restart on every concurrent write.
        source.backup(target, pages=-1)
        # A single self-contained file: no -wal/-shm beside it.
        target.execute("PRAGMA journal_mode=DELETE")


def _copy_matrix(src: Path, dst: Path) -> None:
    """Copy the h5 file through HDF5 (not byte-wise), waiting for a writer to let go."""
    if not src.exists():
        return
    # EmbeddingMatrix._open retries while another process holds the file for writing.
    with EmbeddingMatrix(src)._open("r") as source, h5py.File(dst, "w") as target:
        for name in (EMBEDDINGS, IDS):
            if name in source:
                source.copy(source[name], target, name=name)
        target.attrs.update(dict(source.attrs))


def _copy_tree(src: Path, dst: Path) -> int:
    if not src.is_dir():
        return 0
    shutil.copytree(src, dst)
    return sum(1 for p in dst.rglob("*") if p.is_file())


# -- restore -----------------------------------------------------------------------------------
def restore(settings: Settings, src: str | Path, *, force: bool = False,
            progress: Progress | None = None) -> RestoreReport:
    """Restore the backup folder ``src`` into the data dir of ``settings``.

    Refuses a data dir that already holds a corpus unless ``force`` (which replaces it; stop
    the app on that data dir first). Verifies the backup's checksums before touching anything,
    rebuilds the Chroma index, and checks the result; raises :class:`StoreError` if not sound.
    """
    db_path = sqlite_path(settings)
    src = Path(src).expanduser().resolve()
    manifest = read_manifest(src)
    if not force:
        _require_empty_folder(settings.data_dir, what="data directory",
                              hint="restore into an empty folder, or pass --force to replace it")
        if db_path.exists() and db_path.stat().st_size:
            raise ValidationError(f"{db_path} already holds a catalog; pass --force to replace it")
    _note(progress, "verifying the backup's checksums")
    verify_checksums(src, manifest)
    with ingest_lock(settings):
        if force:
            _clear_corpus(settings, db_path)
        _note(progress, "restoring the SQL catalog and the embedding matrix")
        _place_files(settings, src, db_path)
        _rebase_paths(db_path, manifest.get("source_data_dir", ""), settings.data_dir,
                      moved=bool(manifest.get("thumbs")))
        _note(progress, "rebuilding the vector index")
        indexed, cleaned = _rebuild_index(settings)
    report = RestoreReport(settings.data_dir, catalog_counts(db_path), indexed, cleaned)
    _verify_restore(settings, db_path, manifest, report)
    return report


def read_manifest(src: Path) -> dict:
    path = src / MANIFEST
    if not path.is_file():
        raise ValidationError(f"{src} is not a backup: it has no {MANIFEST}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path} is not valid JSON ({exc}); the backup is damaged") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT:
        raise ValidationError(f"{path} is not a {BACKUP_FORMAT} manifest")
    return manifest


def verify_checksums(src: Path, manifest: dict) -> None:
    files = manifest.get("files") or {}
    if CATALOG_FILE not in files:
        raise ValidationError(f"{src} holds no {CATALOG_FILE}: the backup is incomplete")
    for rel, digest in files.items():
        path = src / rel
        if not path.is_file():
            raise ValidationError(f"{src}: {rel} is missing; the backup is incomplete")
        if sha256(path) != digest:
            raise ValidationError(f"{src}: {rel} does not match its checksum; the backup is "
                                  "damaged, restore another one")


def _place_files(settings: Settings, src: Path, db_path: Path) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    staged = db_path.with_name(db_path.name + ".restoring")
    copy_sqlite(src / CATALOG_FILE, staged)
    os.replace(staged, db_path)
    if (src / EMBEDDINGS_FILE).is_file():
        staged = settings.embeddings_path.with_suffix(".restoring.h5")
        shutil.copyfile(src / EMBEDDINGS_FILE, staged)
        os.replace(staged, settings.embeddings_path)
    _copy_tree(src / MODELS_DIR, settings.models_dir)
    _copy_tree(src / THUMBS_DIR, settings.thumbs_dir)


def _rebuild_index(settings: Settings) -> tuple[int, list[str]]:
    corpus = Corpus(settings)
    try:
        indexed = corpus.reindex()
        cleaned: list[str] = []
        if not corpus.consistency().ok:
            # The backup caught what an interrupted ingest left behind: clean it up now.
            cleaned = corpus.recover()
            indexed = corpus.index.count()
        return indexed, cleaned
    finally:
        corpus.close()


def _verify_restore(settings: Settings, db_path: Path, manifest: dict,
                    report: RestoreReport) -> None:
    integrity_check(db_path)
    corpus = Corpus(settings)
    try:
        state = corpus.consistency()
    finally:
        corpus.close()
    if not state.ok:
        raise StoreError(f"the restored corpus is inconsistent: {'; '.join(state.problems)}")
    expected = manifest.get("counts", {})
    lost = [f"{k}: {report.counts.get(k)} of {expected[k]}" for k in _EXACT
            if k in expected and report.counts.get(k) != expected[k]]
    if lost:
        raise StoreError(f"the restored catalog differs from the backup ({', '.join(lost)})")


def _clear_corpus(settings: Settings, db_path: Path) -> None:
    """Remove the corpus a forced restore replaces (never the source videos)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    settings.embeddings_path.unlink(missing_ok=True)
    for folder in (settings.chroma_path, settings.models_dir, settings.thumbs_dir,
                   settings.previews_dir):  # previews are keyed by shot id: stale after this
        shutil.rmtree(folder, ignore_errors=True)
    forget_cached_clients()  # a cached Chroma system would still see the deleted files


def _rebase_paths(db_path: Path, old_dir: str, new_dir: Path, *, moved: bool) -> None:
    """Thumbnails restored into another data dir: point the shots at their new place."""
    old, new = str(old_dir).rstrip("/"), str(new_dir).rstrip("/")
    if not moved or not old or old == new:
        return
    table = ShotRow.__tablename__
    with closing(sqlite3.connect(db_path)) as db, db:
        for column in ("thumb_path", "filmstrip_path"):
            db.execute(f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                       f"WHERE substr({column}, 1, ?) = ?",
                       (new, len(old) + 1, len(old) + 1, old + "/"))


# -- shared helpers ----------------------------------------------------------------------------
def sqlite_path(settings: Settings) -> Path:
    """The catalog's file; raises for a server database (use its own dump tools)."""
    url = make_url(settings.sql_url)
    if url.get_backend_name() != "sqlite":
        raise StoreError(f"the catalog is a {url.get_backend_name()} database: back it up with "
                         "its own tools (pg_dump / pg_restore for PostgreSQL); backup and "
                         "restore here copy a SQLite catalog")
    if not url.database or url.database == ":memory:":
        raise StoreError("the catalog is an in-memory SQLite database: nothing to back up")
    return Path(url.database).expanduser().resolve()


def integrity_check(db_path: Path) -> None:
    with closing(sqlite3.connect(db_path)) as db:
        result = [row[0] for row in db.execute("PRAGMA integrity_check")]
    if result != ["ok"]:
        raise StoreError(f"{db_path} failed SQLite's integrity check: {'; '.join(result[:3])}")


def catalog_counts(db_path: Path) -> dict[str, int]:
    """Rows per table, and ready shots (what the app shows), of a SQLite catalog file."""
    with closing(sqlite3.connect(db_path)) as db:
        counts = {name: db.execute(f"SELECT count(*) FROM {row.__tablename__}").fetchone()[0]
                  for name, row in _COUNTED.items()}
        counts["shots"] = db.execute(
            f"SELECT count(*) FROM {ShotRow.__tablename__} s JOIN {VideoRow.__tablename__} v "
            "ON v.id = s.video_id WHERE v.status = ?", (READY,)).fetchone()[0]
    return counts


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _content_files(root: Path) -> Iterator[str]:
    """The files a manifest vouches for (thumbnails are too many to list one by one)."""
    for name in (CATALOG_FILE, EMBEDDINGS_FILE):
        if (root / name).is_file():
            yield name
    if (root / MODELS_DIR).is_dir():
        for path in sorted((root / MODELS_DIR).rglob("*")):
            if path.is_file():
                yield path.relative_to(root).as_posix()


def _encoder_id(root: Path) -> str:
    with closing(sqlite3.connect(root / CATALOG_FILE)) as db:
        row = db.execute("SELECT value FROM corpus_meta WHERE key = ?", (ENCODER_ID,)).fetchone()
    return row[0] if row else EmbeddingMatrix(root / EMBEDDINGS_FILE).info()[2]


def _require_empty_folder(folder: Path, *, what: str, hint: str) -> None:
    if folder.exists() and not folder.is_dir():
        raise ValidationError(f"the {what} {folder} is a file, not a folder")
    if folder.is_dir() and any(p.name not in _NOT_CONTENT for p in folder.iterdir()):
        raise ValidationError(f"the {what} {folder} is not empty; {hint}")


@contextmanager
def _no_ingest(settings: Settings, *, wait: bool, progress: Progress | None) -> Iterator[None]:
    """Hold the ingest lock: no ingest (or recovery) changes SQL or h5 while we copy."""
    with ingest_lock(settings, wait=False) as free:
        if free:
            yield
            return
    if not wait:
        raise StoreError("an ingest is running; back up when it has finished")
    _note(progress, "waiting for the running ingest to finish")
    with ingest_lock(settings):
        yield


def _note(progress: Progress | None, message: str) -> None:
    if progress:
        progress(message)
