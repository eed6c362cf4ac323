"""Backup and restore of one corpus, safe while the app runs and annotators keep clicking.

A backup is a folder::

    manifest.json      format, time, source folder, encoder, row counts, SHA-256 of each file
    catalog.sqlite     the SQL catalog, copied with SQLite's online backup API
                       (catalog.pgdump for a PostgreSQL catalog, see below)
    embeddings.h5      the embedding matrix (left out of a catalog-only backup, see below)
    models/            whatever the data dir keeps there (model versions themselves are SQL rows)
    thumbs/            thumbnails and filmstrips (optional)

Consistency: the copy runs under the ingest lock, so no ingest changes SQL or h5 meanwhile;
the SQL copy is one snapshot (one read transaction in WAL mode, annotators' writes go on), so
it holds every annotation acknowledged before the backup started. The folder is written under
a temporary name and renamed when complete: a folder named like the destination is always a
whole backup.

A catalog-only backup (``include_matrix=False``: what a schema upgrade makes first, since
migrations change only the catalog) names the matrix file it goes with, its row count and
encoder instead of copying it — at 10M shots a copy would be 20–40 GB. Restoring one keeps the
target's matrix when it is that matrix (same rows, same encoder), else copies the named file;
the consistency check after the restore proves the pair agrees.

The Chroma index is derived data: restore rebuilds it from SQL + h5 (like ``reindex``) and
then checks the three stores agree and SQLite's ``integrity_check`` passes.

A PostgreSQL catalog (``VA_DATABASE_URL``) travels as ``catalog.pgdump`` instead: one snapshot
dumped by ``pg_dump`` while annotators keep writing, loaded by ``pg_restore`` in one transaction
(``va_app.store.pgdump``). The same two commands drive both; a backup restores onto the kind of
database it came from.
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
from sqlalchemy import create_engine, func, literal, select, update
from sqlalchemy.engine import Connection, make_url

from va_app.config import Settings
from va_app.errors import DiskFullError, StoreError, ValidationError, is_disk_full
from va_app.store import migrate, pgdump
from va_app.store.catalog import READY, SQLITE_BUSY_TIMEOUT_MS
from va_app.store.corpus import Corpus, ingest_lock
from va_app.store.index import forget_cached_clients
from va_app.store.matrix import EMBEDDINGS, IDS, EmbeddingMatrix
from va_app.store.meta import ENCODER_ID
from va_app.store.schema import (
    AnnotationRow,
    EventRow,
    LabelRow,
    MetaRow,
    ModelVersionRow,
    ShotRow,
    VideoRow,
)

BACKUP_FORMAT = "video-annotator-backup/1"
MANIFEST = "manifest.json"
CATALOG_FILE = "catalog.sqlite"
PG_DUMP_FILE = pgdump.DUMP_FILE
EMBEDDINGS_FILE = "embeddings.h5"
MODELS_DIR = "models"
THUMBS_DIR = "thumbs"
# Files of the data dir that are not corpus content (an empty corpus may still have them).
_NOT_CONTENT = {".ingest.lock"}
_COUNTED = {
    "videos": VideoRow,
    "labels": LabelRow,
    "annotations": AnnotationRow,
    "model_versions": ModelVersionRow,
    "events": EventRow,
}
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


# -- the catalog, by kind of database ---------------------------------------------------------
class SqliteCatalogFile:
    """A SQLite catalog: copied with the online backup API, restored by replacing the file."""

    kind, file = "sqlite", CATALOG_FILE

    def __init__(self, settings: Settings) -> None:
        self.path = sqlite_path(settings)
        self.url = settings.sql_url

    def require_source(self) -> None:
        if not self.path.is_file():
            raise StoreError(f"nothing to back up: {self.path} does not exist")

    def holds_data(self) -> bool:
        return self.path.exists() and self.path.stat().st_size > 0

    def copy_to(self, staging: Path) -> dict:
        copy_sqlite(self.path, staging / self.file)
        integrity_check(staging / self.file)
        return _read_facts(f"sqlite:///{staging / self.file}")

    def clear(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def place(self, src: Path) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staged = self.path.with_name(self.path.name + ".restoring")
        copy_sqlite(src / self.file, staged)
        os.replace(staged, self.path)

    def check(self) -> None:
        integrity_check(self.path)


class PostgresCatalogDump:
    """A PostgreSQL catalog: ``pg_dump`` of one snapshot, ``pg_restore`` in one transaction."""

    kind, file = "postgresql", PG_DUMP_FILE

    def __init__(self, settings: Settings) -> None:
        self.url = settings.sql_url

    def require_source(self) -> None:
        return None  # pg_dump says it clearly when the database cannot be reached

    def holds_data(self) -> bool:
        try:
            counts = _read_facts(self.url)["counts"]
        except Exception:  # noqa: BLE001 — no tables yet (or no database): nothing to lose
            return False
        return any(counts[k] for k in ("videos", "labels", "annotations"))

    def copy_to(self, staging: Path) -> dict:
        return pgdump.dump(self.url, staging / self.file, _facts)

    def clear(self) -> None:
        return None  # pg_restore --clean replaces the tables in its transaction

    def place(self, src: Path) -> None:
        pgdump.load(self.url, src / self.file)

    def check(self) -> None:
        return None  # the load was one transaction; counts and consistency are checked after


def catalog_store(settings: Settings) -> SqliteCatalogFile | PostgresCatalogDump:
    backend = make_url(settings.sql_url).get_backend_name()
    if backend == "postgresql":
        return PostgresCatalogDump(settings)
    if backend == "sqlite":
        return SqliteCatalogFile(settings)
    raise StoreError(
        f"the catalog is a {backend} database: back it up with its own tools; "
        "backup and restore here handle SQLite and PostgreSQL catalogs"
    )


# -- backup ------------------------------------------------------------------------------------
def backup(
    settings: Settings,
    dest: str | Path,
    *,
    include_thumbs: bool = True,
    include_matrix: bool = True,
    wait: bool = True,
    progress: Progress | None = None,
) -> BackupReport:
    """Copy the corpus of ``settings`` to the new folder ``dest`` while the app keeps running.

    ``include_matrix=False``: the catalog and models only; the manifest names the matrix it
    goes with. ``wait``: when an ingest is running, wait for it to finish (else fail at once).
    """
    catalog = catalog_store(settings)
    catalog.require_source()
    dest = Path(dest).expanduser().resolve()
    _require_empty_folder(dest, what="backup destination", hint="choose a new folder")
    staging = dest.parent / f".{dest.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)  # the leftover of an interrupted backup
    staging.mkdir(parents=True)
    try:
        with _no_ingest(settings, wait=wait, progress=progress):
            _note(progress, "copying the SQL catalog")
            facts = catalog.copy_to(staging)
            if include_matrix:
                _note(progress, "copying the embedding matrix")
                _copy_matrix(settings.embeddings_path, staging / EMBEDDINGS_FILE)
                matrix = _matrix_facts(staging / EMBEDDINGS_FILE, included=True)
            else:
                matrix = _matrix_facts(settings.embeddings_path, included=False)
            _copy_tree(settings.models_dir, staging / MODELS_DIR)
            thumbs = _copy_tree(settings.thumbs_dir, staging / THUMBS_DIR) if include_thumbs else 0
        report = _finish_backup(settings, catalog, facts, matrix, staging, dest, thumbs)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, Exception) and is_disk_full(exc):
            raise DiskFullError(
                f"the disk holding the backup destination {dest.parent} ran out of space "
                f"({_one_line(exc)}): no backup was made and the partial copy was removed; "
                "free some space there or back up to another disk"
            ) from exc
        raise
    return report


def _matrix_facts(path: Path, *, included: bool) -> dict:
    """What a manifest says of the matrix: its rows and encoder, and where it is when the
    backup does not hold it."""
    facts: dict = {"included": included, "rows": EmbeddingMatrix(path).count()}
    facts["encoder_id"] = _matrix_encoder_of(path)
    if not included:
        facts["file"] = str(path.resolve()) if path.exists() else str(path)
        facts["ids_sha256"] = _ids_digest(path)
    return facts


def _ids_digest(path: Path) -> str:
    """SHA-256 of the matrix's shot ids in file order: which matrix a catalog-only backup goes
    with (a second's read at 10M shots, against hashing 20 GB of vectors)."""
    return hashlib.sha256(EmbeddingMatrix(path).id_array().tobytes()).hexdigest()


def _finish_backup(
    settings: Settings,
    catalog,
    facts: dict,
    matrix: dict,
    staging: Path,
    dest: Path,
    thumbs: int,
) -> BackupReport:
    files = {rel: sha256(staging / rel) for rel in _content_files(staging)}
    manifest = {
        "format": BACKUP_FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source_data_dir": str(settings.data_dir),
        "catalog": catalog.kind,
        "encoder_id": facts["encoder_id"] or matrix["encoder_id"],
        "counts": facts["counts"] | {"embeddings": matrix["rows"]},
        "matrix": matrix,
        "files": files,
        "thumbs": thumbs,
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    if dest.exists():
        dest.rmdir()  # empty (checked above); the rename needs the name free
    os.replace(staging, dest)
    return BackupReport(
        dest, manifest["created_at"], manifest["encoder_id"], manifest["counts"], files, thumbs
    )


def copy_sqlite(src: Path, dst: Path) -> None:
    """One consistent snapshot of a live SQLite database into a standalone file."""
    dst.unlink(missing_ok=True)
    timeout = SQLITE_BUSY_TIMEOUT_MS / 1000
    with (
        closing(sqlite3.connect(src, timeout=timeout)) as source,
        closing(sqlite3.connect(dst)) as target,
    ):
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
def restore(
    settings: Settings, src: str | Path, *, force: bool = False, progress: Progress | None = None
) -> RestoreReport:
    """Restore the backup folder ``src`` into the data dir (and database) of ``settings``.

    Refuses a data dir or catalog that already holds a corpus unless ``force`` (which replaces
    it; stop the app on that data dir first). Verifies the backup's checksums before touching
    anything, rebuilds the Chroma index, and checks the result; raises :class:`StoreError` if
    not sound.
    """
    catalog = catalog_store(settings)
    src = Path(src).expanduser().resolve()
    manifest = read_manifest(src)
    _require_same_kind(manifest, catalog)
    if not force:
        _require_empty_folder(
            settings.data_dir,
            what="data directory",
            hint="restore into an empty folder, or pass --force to replace it",
        )
        if catalog.holds_data():
            raise ValidationError(
                f"the catalog {_shown(catalog.url)} already holds a corpus; "
                "pass --force to replace it"
            )
    _note(progress, "verifying the backup's checksums")
    verify_checksums(src, manifest)
    matrix_from = _matrix_source(settings, src, manifest)
    try:
        with ingest_lock(settings):
            report = _restore_locked(settings, src, catalog, manifest, matrix_from, force, progress)
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        raise DiskFullError(
            f"the disk holding {settings.data_dir} ran out of space while restoring "
            f"({_one_line(exc)}): the restore is incomplete; free some space and run restore "
            "again with --force"
        ) from exc
    _verify_restore(settings, catalog, manifest, report)
    return report


def _restore_locked(
    settings: Settings,
    src: Path,
    catalog,
    manifest: dict,
    matrix_from: Path | None,
    force: bool,
    progress,
) -> RestoreReport:
    """The restore's writes, under the ingest lock."""
    if force:
        _clear_corpus(settings, catalog, keep_matrix=matrix_from is None)
    _note(progress, "restoring the SQL catalog and the embedding matrix")
    _place_files(settings, src, catalog, matrix_from)
    _rebase_paths(
        catalog.url,
        manifest.get("source_data_dir", ""),
        settings.data_dir,
        moved=bool(manifest.get("thumbs")),
    )
    _bring_schema_up_to_date(catalog.url, progress)
    _note(progress, "rebuilding the vector index")
    indexed, cleaned = _rebuild_index(settings)
    return RestoreReport(settings.data_dir, _read_facts(catalog.url)["counts"], indexed, cleaned)


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


def _require_same_kind(manifest: dict, catalog) -> None:
    kind = manifest.get("catalog", "sqlite")  # backups before PostgreSQL support were SQLite
    if kind != catalog.kind:
        hint = (
            "set VA_DATABASE_URL to a PostgreSQL database"
            if kind == "postgresql"
            else "unset VA_DATABASE_URL (or point it at a SQLite file)"
        )
        raise ValidationError(
            f"this backup holds a {kind} catalog and the target is "
            f"{catalog.kind}: {hint} to restore it"
        )


def verify_checksums(src: Path, manifest: dict) -> None:
    files = manifest.get("files") or {}
    catalog_file = PG_DUMP_FILE if manifest.get("catalog") == "postgresql" else CATALOG_FILE
    if catalog_file not in files:
        raise ValidationError(f"{src} holds no {catalog_file}: the backup is incomplete")
    for rel, digest in files.items():
        path = src / rel
        if not path.is_file():
            raise ValidationError(f"{src}: {rel} is missing; the backup is incomplete")
        if sha256(path) != digest:
            raise ValidationError(
                f"{src}: {rel} does not match its checksum; the backup is "
                "damaged, restore another one"
            )


def _matrix_source(settings: Settings, src: Path, manifest: dict) -> Path | None:
    """The matrix file a restore copies into the data dir; None: the one there is kept (a
    catalog-only backup restored over the corpus it came from). Decided before anything is
    touched, so a catalog-only backup whose matrix is gone fails with nothing changed."""
    if (src / EMBEDDINGS_FILE).is_file():
        return src / EMBEDDINGS_FILE
    named = manifest.get("matrix") or {}
    if named.get("included", True):
        return None  # an older backup of a corpus without a matrix: nothing to place
    rows, encoder = named.get("rows"), named.get("encoder_id", "")

    def fits(path: Path) -> bool:
        facts = (EmbeddingMatrix(path).count(), _matrix_encoder_of(path)) if path.is_file() else ()
        return facts == (rows, encoder) and _ids_digest(path) == named.get("ids_sha256")

    if fits(settings.embeddings_path):
        return None
    if named.get("file") and fits(Path(named["file"])):
        return Path(named["file"])
    raise ValidationError(
        f"{src} holds the catalog and models only (made before a schema upgrade); it goes "
        f"with the matrix {named.get('file')} ({rows} rows, encoder {encoder or 'unknown'}), "
        f"which is neither there nor at {settings.embeddings_path}: put that file at "
        f"{settings.embeddings_path}, or restore a full backup"
    )


def _place_files(settings: Settings, src: Path, catalog, matrix_from: Path | None) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    catalog.place(src)
    if matrix_from is not None:
        staged = settings.embeddings_path.with_suffix(".restoring.h5")
        shutil.copyfile(matrix_from, staged)
        os.replace(staged, settings.embeddings_path)
    _copy_tree(src / MODELS_DIR, settings.models_dir)
    _copy_tree(src / THUMBS_DIR, settings.thumbs_dir)


def _bring_schema_up_to_date(url: str, progress: Progress | None) -> None:
    """A backup made by an older release (a pre-upgrade one, say) holds an older schema: this
    release upgrades the restored catalog, as opening would (the backup itself is the copy of
    what was there; a newer release's catalog is refused, saying so)."""
    engine = create_engine(url)
    try:
        if migrate.state_of(engine).current != migrate.head():
            _note(progress, "upgrading the restored catalog's schema")
            migrate.upgrade(engine)
    finally:
        engine.dispose()


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


def _verify_restore(settings: Settings, catalog, manifest: dict, report: RestoreReport) -> None:
    catalog.check()
    corpus = Corpus(settings)
    try:
        state = corpus.consistency()
    finally:
        corpus.close()
    if not state.ok:
        raise StoreError(f"the restored corpus is inconsistent: {'; '.join(state.problems)}")
    expected = manifest.get("counts", {})
    lost = [
        f"{k}: {report.counts.get(k)} of {expected[k]}"
        for k in _EXACT
        if k in expected and report.counts.get(k) != expected[k]
    ]
    if lost:
        raise StoreError(f"the restored catalog differs from the backup ({', '.join(lost)})")


def _clear_corpus(settings: Settings, catalog, *, keep_matrix: bool = False) -> None:
    """Remove the corpus a forced restore replaces (never the source videos; the matrix
    stays when a catalog-only backup goes with it)."""
    catalog.clear()
    if not keep_matrix:
        settings.embeddings_path.unlink(missing_ok=True)
    for folder in (
        settings.chroma_path,
        settings.models_dir,
        settings.thumbs_dir,
        settings.previews_dir,
    ):  # previews are keyed by shot id: stale after this
        shutil.rmtree(folder, ignore_errors=True)
    forget_cached_clients()  # a cached Chroma system would still see the deleted files


def _rebase_paths(url: str, old_dir: str, new_dir: Path, *, moved: bool) -> None:
    """Thumbnails restored into another data dir: point the shots at their new place."""
    old, new = str(old_dir).rstrip("/"), str(new_dir).rstrip("/")
    if not moved or not old or old == new:
        return
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for column in (ShotRow.thumb_path, ShotRow.filmstrip_path):
                conn.execute(
                    update(ShotRow)
                    .where(func.substr(column, 1, len(old) + 1) == old + "/")
                    .values({column: literal(new) + func.substr(column, len(old) + 1)})
                )
    finally:
        engine.dispose()


# -- shared helpers ----------------------------------------------------------------------------
def sqlite_path(settings: Settings) -> Path:
    """The catalog's file; raises for a server database (see :func:`catalog_store`)."""
    url = make_url(settings.sql_url)
    if url.get_backend_name() != "sqlite":
        raise StoreError(f"the catalog is a {url.get_backend_name()} database, not a file")
    if not url.database or url.database == ":memory:":
        raise StoreError("the catalog is an in-memory SQLite database: nothing to back up")
    return Path(url.database).expanduser().resolve()


def integrity_check(db_path: Path) -> None:
    with closing(sqlite3.connect(db_path)) as db:
        result = [row[0] for row in db.execute("PRAGMA integrity_check")]
    if result != ["ok"]:
        raise StoreError(f"{db_path} failed SQLite's integrity check: {'; '.join(result[:3])}")


def _facts(conn: Connection) -> dict:
    """Rows per table, ready shots (what the app shows) and the encoder, in one transaction."""
    counts = {
        name: int(conn.scalar(select(func.count()).select_from(row)) or 0)
        for name, row in _COUNTED.items()
    }
    counts["shots"] = int(
        conn.scalar(
            select(func.count()).select_from(ShotRow).join(VideoRow).where(VideoRow.status == READY)
        )
        or 0
    )
    encoder = conn.scalar(select(MetaRow.value).where(MetaRow.key == ENCODER_ID))
    return {"counts": counts, "encoder_id": encoder or ""}


def _read_facts(url: str) -> dict:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return _facts(conn)
    finally:
        engine.dispose()


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _content_files(root: Path) -> Iterator[str]:
    """The files a manifest vouches for (thumbnails are too many to list one by one)."""
    for name in (CATALOG_FILE, PG_DUMP_FILE, EMBEDDINGS_FILE):
        if (root / name).is_file():
            yield name
    if (root / MODELS_DIR).is_dir():
        for path in sorted((root / MODELS_DIR).rglob("*")):
            if path.is_file():
                yield path.relative_to(root).as_posix()


def _matrix_encoder_of(path: Path) -> str:
    return EmbeddingMatrix(path).info()[2] if path.is_file() else ""


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


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def _note(progress: Progress | None, message: str) -> None:
    if progress:
        progress(message)
