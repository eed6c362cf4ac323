"""The corpus's health: every store checked against the others, each problem named with its fix.

:func:`check_corpus` reads only (it never opens the corpus the repairing way: no recovery runs,
no file is created): the SQL catalog (SQLite ``PRAGMA integrity_check`` and
``foreign_key_check``; on PostgreSQL every table read through and, where the ``amcheck``
extension is installed, every B-tree index verified), the h5 matrix (readable, its ids unique
and equal to the catalog's visible shots, a sample of rows finite and unit length, its encoder
the catalog's), the vector index (its folder, its count and ids, a sample of its vectors equal
to the matrix's rows), the model versions (each stored classifier loads and fits the matrix's
dimension; exported model files under ``models/`` load), the thumbnails and filmstrips of every
shot and the cached preview clips. ``quick`` keeps to what costs little at any size (what the
app runs on open): the catalog's ``quick_check`` (up to :data:`QUICK_CHECK_MAX_BYTES`; a
bigger file's schema and counts are read, the page-by-page scan is left to the full check),
the matrix's header and count, the index's folder and count — the catalog's shots are counted,
never listed.

:func:`repair_corpus` rebuilds only what is derived — the index (from the catalog and the
matrix), thumbnails and filmstrips (from the videos), preview clips (dropped; cut again on the
next play). The catalog, the matrix and the models are the corpus itself: their problems point
at ``restore`` (or at re-ingesting), never at a guess.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from va_app.config import Settings
from va_app.domain import Shot, ShotSpan
from va_app.errors import StoreError, VAError, is_disk_full
from va_app.store import migrate
from va_app.store.catalog import Catalog, make_engine
from va_app.store.index import VectorIndex
from va_app.store.matrix import EMBEDDINGS, CorruptMatrixError, EmbeddingMatrix
from va_app.store.meta import ENCODER_ID
from va_app.store.schema import Base, LabelRow, ModelVersionRow

#: Matrix rows (and index vectors) compared per check: enough to find a damaged region or an
#: index of other vectors, cheap at any size.
SAMPLE = 200
#: The page-open check scans a SQLite catalog page by page (``quick_check``) up to this size
#: (~500k shots). Past it the scan is the full check's: it reads the whole file, 9.6 s for the
#: 2M-shot catalog (267 MB) and 60 s for the 10M one (1.35 GB) from a cold cache here.
QUICK_CHECK_MAX_BYTES = 64 * 2**20
#: A stored row must be unit length (vectors are L2-normalised) within this.
NORM_TOLERANCE = 1e-3
#: The index's vector and the matrix's row of a shot must agree this closely (cosine).
SAME_VECTOR = 0.999
RESTORE = "restore the corpus from a backup: `python -m va_app restore BACKUP --data-dir NEW`"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Problem:
    """Something wrong in one part of the corpus (``catalog``, ``schema``, ``matrix``,
    ``index``, ``models``, ``thumbnails``, ``previews``), and what fixes it.
    ``repairable``: derived data that ``check --repair`` rebuilds."""

    part: str
    what: str
    fix: str
    repairable: bool = False

    @property
    def blocks_app(self) -> bool:
        """Whether the app must not open the corpus (it would show wrong data or change it)."""
        return self.part in {"catalog", "schema", "matrix"}

    def as_dict(self) -> dict:
        return {
            "part": self.part,
            "what": self.what,
            "fix": self.fix,
            "repairable": self.repairable,
        }


@dataclass(frozen=True)
class HealthReport:
    problems: list[Problem]
    facts: dict[str, object]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "problems": [p.as_dict() for p in self.problems],
            "facts": self.facts,
            "notes": self.notes,
        }


@dataclass
class _Findings:
    problems: list[Problem] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def problem(self, part: str, what: str, fix: str, *, repairable: bool = False) -> None:
        self.problems.append(Problem(part, what, fix, repairable))

    def report(self) -> HealthReport:
        return HealthReport(list(self.problems), dict(self.facts), list(self.notes))


# -- the check ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelLoaders:
    """How stored model parameters and exported model files are loaded — the learning code's
    own loaders, handed in by the service layer (the store does not import ``va_app.learn``).
    ``from_params`` returns an object with ``coef_``; both raise on damage."""

    from_params: Callable[[dict], Any]
    from_file: Callable[[Path], Any]


def check_corpus(
    settings: Settings,
    *,
    quick: bool = False,
    sample: int = SAMPLE,
    models: ModelLoaders | None = None,
) -> HealthReport:
    """Check every store of the corpus of ``settings``; changes nothing. Model versions and
    files are checked when ``models`` says how to load them."""
    found = _Findings()
    visible = _check_catalog(settings, found, quick=quick)
    if visible is None or not _readable(found, "catalog", "schema"):
        # The other stores are compared with the catalog: nothing to compare them with (an
        # older schema is not read: the app upgrades it on open, after a backup).
        found.notes.append("the matrix, index, models and images were not checked")
        return found.report()
    matrix_dim = _check_matrix(settings, found, visible, sample=sample)
    index_sample = sample if _readable(found, "matrix") and not quick else 0
    _check_index(settings, found, visible, sample=index_sample)
    if models is not None:
        _check_models(settings, found, matrix_dim, models, quick=quick)
    else:
        found.notes.append("model versions and files were not checked")
    if not quick:
        _check_images(visible.shots, found)
        _check_previews(settings, found)
    return found.report()


def _readable(found: _Findings, *parts: str) -> bool:
    return not any(p.part in parts for p in found.problems)


@dataclass(frozen=True)
class _Visible:
    """The catalog's visible shots as the other stores are compared with them: the full check
    lists them; the quick one (every page open) only counts them — listing 10M shots as
    objects took all 24 GB of this box."""

    count: int
    ids: set[str] | None = None  # None: counted, not listed (the quick check)
    shots: list[Shot] = field(default_factory=list)

    @classmethod
    def listed(cls, shots: list[Shot]) -> _Visible:
        return cls(len(shots), {s.id for s in shots}, shots)


def _check_catalog(settings: Settings, found: _Findings, *, quick: bool) -> _Visible | None:
    """The catalog's own check, then its visible shots (none when it cannot be read, None
    when its schema is older than this release's: not compared before the upgrade)."""
    backend = make_url(settings.sql_url).get_backend_name()
    found.facts["catalog"] = backend
    nothing = _Visible(0, set())
    if backend == "sqlite" and not _check_sqlite_file(settings, found, quick=quick):
        return nothing
    if backend == "postgresql" and not _check_postgresql(settings, found):
        return nothing
    if not _schema_usable(settings, found):
        return None if _readable(found, "catalog", "schema") else nothing
    try:
        with _opened(Catalog(settings.sql_url)) as catalog:
            visible = _Visible(catalog.count_shots()) if quick else _Visible.listed(catalog.shots())
            found.facts["encoder_id"] = catalog.get_meta(ENCODER_ID)
    except VAError as exc:
        found.problem("catalog", f"the catalog cannot be read ({exc})", RESTORE)
        return nothing
    except Exception as exc:  # noqa: BLE001 — a damaged page surfaces as any DBAPI error
        found.problem("catalog", f"the catalog cannot be read ({_one_line(exc)})", RESTORE)
        return nothing
    found.facts["shots"] = visible.count
    return visible


def _check_sqlite_file(settings: Settings, found: _Findings, *, quick: bool) -> bool:
    """SQLite's own checks of the file; False when nothing more can be read from it."""
    path = Path(make_url(settings.sql_url).database or "")
    if not path.is_file():
        if settings.embeddings_path.exists():
            found.problem(
                "catalog",
                f"{path} is missing, but the corpus has an embedding matrix",
                RESTORE,
            )
        else:
            found.notes.append("empty corpus: nothing ingested yet")
        return False
    scan = not quick or path.stat().st_size <= QUICK_CHECK_MAX_BYTES
    if not scan:
        found.notes.append(
            f"the catalog ({path.stat().st_size / 2**20:,.0f} MB) was not scanned page by page: "
            "`python -m va_app check` does"
        )
    try:
        with closing(sqlite3.connect(path, timeout=15)) as db:
            pragma = "quick_check" if quick else "integrity_check"
            if scan:
                result = [row[0] for row in db.execute(f"PRAGMA {pragma}")]
            else:  # the header and the schema are read at least: not a database fails here
                db.execute("SELECT count(*) FROM sqlite_master").fetchall()
                result = ["ok"]
            orphans = [] if quick else db.execute("PRAGMA foreign_key_check").fetchall()
    except sqlite3.DatabaseError as exc:
        found.problem("catalog", f"{path} cannot be read as SQLite ({exc})", RESTORE)
        return False
    if result != ["ok"]:
        found.problem(
            "catalog",
            f"{path} failed SQLite's {pragma}: {'; '.join(result[:3])}",
            RESTORE,
        )
        return False
    if orphans:
        tables = sorted({row[0] for row in orphans})
        found.problem(
            "catalog",
            f"{len(orphans)} rows refer to rows that do not exist (tables {', '.join(tables)})",
            RESTORE,
        )
    return True


def _check_postgresql(settings: Settings, found: _Findings) -> bool:
    """Read every table through (a damaged page fails the read) and, with ``amcheck``,
    verify every B-tree index of the catalog; False when the database cannot be reached."""
    engine = make_engine(settings.sql_url)
    try:
        with engine.connect() as conn:
            tables = set(conn.dialect.get_table_names(conn)) & set(Base.metadata.tables)
            for name in sorted(tables):
                conn.execute(select(func.count()).select_from(Base.metadata.tables[name]))
            _amcheck(conn, tables, found)
    except Exception as exc:  # noqa: BLE001 — unreachable, refused or damaged: all reported
        where = make_url(settings.sql_url).render_as_string(hide_password=True)
        found.problem(
            "catalog",
            f"the PostgreSQL catalog {where} cannot be read ({_one_line(exc)})",
            f"check the server and its log; if the data is damaged, {RESTORE}",
        )
        return False
    finally:
        engine.dispose()
    return True


def _amcheck(conn, tables: set[str], found: _Findings) -> None:
    if not conn.scalar(text("SELECT count(*) FROM pg_extension WHERE extname = 'amcheck'")):
        found.notes.append(
            "PostgreSQL: the amcheck extension is not installed, so indexes were not verified "
            "(a superuser can run CREATE EXTENSION amcheck)"
        )
        return
    indexes = conn.execute(
        text(
            "SELECT c.relname, c.oid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_am a ON a.oid = c.relam "
            "WHERE a.amname = 'btree' AND t.relname = ANY(:tables)"
        ),
        {"tables": sorted(tables)},
    ).all()
    for name, oid in indexes:
        try:
            with conn.begin_nested():
                conn.execute(text("SELECT bt_index_check(:oid)"), {"oid": oid})
        except Exception as exc:  # noqa: BLE001 — the index's damage, reported
            found.problem(
                "catalog",
                f"PostgreSQL index {name} is damaged ({_one_line(exc)})",
                f"REINDEX INDEX {name}; if rows are damaged too, {RESTORE}",
            )
    found.facts["indexes_verified"] = len(indexes)


def _schema_usable(settings: Settings, found: _Findings) -> bool:
    engine = make_engine(settings.sql_url)
    try:
        state = migrate.state_of(engine)
    except Exception as exc:  # noqa: BLE001 — reported as the catalog's problem
        found.problem("catalog", f"the catalog cannot be read ({_one_line(exc)})", RESTORE)
        return False
    finally:
        engine.dispose()
    found.facts["schema"] = state.current
    if state.ahead:
        found.problem(
            "schema",
            f"the catalog was made by a newer release (schema {state.current})",
            "update the app to that release",
        )
        return False
    if state.pending:
        found.notes.append(
            f"schema {state.current or migrate.BASELINE} is older than {state.head}: the app "
            "upgrades it on start (after a backup), or run `python -m va_app db upgrade`; "
            "checked the files only"
        )
        return False
    return True


def _check_matrix(settings: Settings, found: _Findings, visible: _Visible, *, sample: int) -> int:
    """The matrix against the catalog; returns its dimension (0 when unknown)."""
    matrix = EmbeddingMatrix(settings.embeddings_path)
    if not matrix.exists():
        if visible.count:
            found.problem(
                "matrix",
                f"{matrix.path} is missing: {visible.count} shots have no vector",
                f"{RESTORE}; or ingest the videos again into a new data dir",
            )
        return 0
    try:
        rows, dim, encoder_id = matrix.info()
        ids = matrix.ids() if visible.ids is not None else None
    except (CorruptMatrixError, StoreError) as exc:
        found.problem(
            "matrix",
            f"{matrix.path} cannot be read ({_one_line(exc)})",
            f"{RESTORE}; or run `python -m va_app ingest DIR` again, which re-encodes the "
            "videos of the lost vectors (annotations are kept)",
        )
        return 0
    found.facts |= {"matrix_rows": rows, "dim": dim}
    _compare_encoder(found, encoder_id)
    if ids is None or visible.ids is None:
        _compare_count(found, rows, visible.count)
    else:
        _compare_ids(found, ids, visible.ids)
    if sample and rows:
        _check_rows(found, matrix, rows, sample)
    return dim


def _compare_encoder(found: _Findings, encoder_id: str) -> None:
    stored = str(found.facts.get("encoder_id") or "")
    if stored and encoder_id and stored != encoder_id:
        found.problem(
            "matrix",
            f"the matrix holds vectors of encoder {encoder_id!r}, the catalog says {stored!r}",
            RESTORE,
        )


def _compare_count(found: _Findings, rows: int, shots: int) -> None:
    if rows < shots:
        found.problem(
            "matrix",
            f"the matrix has {rows} rows for {shots} shots",
            f"{RESTORE}; or run `python -m va_app ingest DIR` again (it re-encodes them)",
        )
    elif rows > shots:
        found.problem(
            "matrix",
            f"the matrix has {rows - shots} rows more than the catalog has shots (left by an "
            "interrupted ingest)",
            "run `python -m va_app ingest DIR` again: it finishes or cleans up that run",
        )


def _compare_ids(found: _Findings, ids: list[str], ready: set[str]) -> None:
    unique = set(ids)
    if len(unique) != len(ids):
        found.problem(
            "matrix",
            f"{len(ids) - len(unique)} shots have more than one row in the matrix",
            "run `python -m va_app ingest DIR` again: it keeps the first row of each shot",
        )
    missing, extra = ready - unique, unique - ready
    if missing:
        found.problem(
            "matrix",
            f"{len(missing)} shots have no vector in the matrix (e.g. {_some(missing)})",
            f"{RESTORE}; or run `python -m va_app ingest DIR` again (it re-encodes them)",
        )
    if extra:
        found.problem(
            "matrix",
            f"the matrix holds {len(extra)} vectors of shots the catalog does not show "
            f"(e.g. {_some(extra)}), left by an interrupted ingest",
            "run `python -m va_app ingest DIR` again: it finishes or cleans up that run",
        )


def _check_rows(found: _Findings, matrix: EmbeddingMatrix, rows: int, sample: int) -> None:
    picked = np.unique(np.random.default_rng(0).choice(rows, size=min(sample, rows), replace=False))
    try:
        with matrix._open("r") as f:
            vectors = f[EMBEDDINGS][picked]
    except Exception as exc:  # noqa: BLE001 — a damaged data region fails the read
        found.problem("matrix", f"rows of the matrix cannot be read ({_one_line(exc)})", RESTORE)
        return
    norms = np.linalg.norm(vectors, axis=1)
    bad = ~np.isfinite(norms) | (np.abs(norms - 1.0) > NORM_TOLERANCE)
    if bad.any():
        found.problem(
            "matrix",
            f"{int(bad.sum())} of {len(picked)} sampled rows are not unit vectors (damaged data)",
            RESTORE,
        )


def _check_index(settings: Settings, found: _Findings, visible: _Visible, *, sample: int) -> None:
    fix = "`python -m va_app check --repair` rebuilds it from the catalog and the matrix"
    if not settings.chroma_host and not settings.chroma_path.is_dir():
        if visible.count:
            found.problem(
                "index", f"the index folder {settings.chroma_path} is missing", fix, repairable=True
            )
        return
    index = VectorIndex.from_settings(settings)
    try:
        count = index.count()
        found.facts["indexed"] = count
        ids = index.ids() if visible.ids is not None else None
        stored = index.vectors(_sample_ids(visible.ids, sample)) if sample and visible.ids else {}
    except Exception as exc:  # noqa: BLE001 — a damaged index fails in Chroma's own ways
        full = is_disk_full(exc)
        if full:
            fix = f"free some space on the disk holding {settings.chroma_path}, then check again"
        what = f"the index cannot be read ({_one_line(exc)})"
        found.problem("index", what, fix, repairable=not full)
        return
    finally:
        index.close()
    _compare_index(found, count, ids, visible, fix)
    if stored:
        _compare_vectors(settings, found, stored, fix)


def _compare_index(found: _Findings, count: int, ids, visible: _Visible, fix: str) -> None:
    ready = visible.ids
    if ids is not None and ready is not None and ids != ready:
        found.problem(
            "index",
            f"the index lacks {len(ready - ids)} shots and holds {len(ids - ready)} it "
            f"should not (of {len(ready)})",
            fix,
            repairable=True,
        )
    elif ids is None and count != visible.count:
        found.problem(
            "index",
            f"the index holds {count} vectors for {visible.count} shots",
            fix,
            repairable=True,
        )


def _compare_vectors(
    settings: Settings, found: _Findings, stored: dict[str, np.ndarray], fix: str
) -> None:
    rows = _matrix_rows(settings, list(stored))
    differ = [i for i, v in stored.items() if i in rows and float(np.dot(v, rows[i])) < SAME_VECTOR]
    if differ:
        found.problem(
            "index",
            f"{len(differ)} of {len(stored)} sampled index vectors differ from the matrix "
            f"(e.g. {_some(differ)})",
            fix,
            repairable=True,
        )


def _matrix_rows(settings: Settings, wanted: list[str]) -> dict[str, np.ndarray]:
    matrix = EmbeddingMatrix(settings.embeddings_path)
    position = {shot_id: row for row, shot_id in enumerate(matrix.ids())}
    found = sorted((position[i], i) for i in wanted if i in position)
    if not found:
        return {}
    with matrix._open("r") as f:
        block = f[EMBEDDINGS][[row for row, _ in found]]
    return {shot_id: block[k] for k, (_, shot_id) in enumerate(found)}


def _sample_ids(ready: set[str], sample: int) -> list[str]:
    ids = sorted(ready)
    if len(ids) <= sample:
        return ids
    picked = np.random.default_rng(0).choice(len(ids), size=sample, replace=False)
    return [ids[i] for i in sorted(picked)]


def _check_models(
    settings: Settings, found: _Findings, dim: int, models: ModelLoaders, *, quick: bool
) -> None:
    try:
        with _opened(Catalog(settings.sql_url)) as catalog, catalog.read() as s:
            rows = s.execute(
                select(LabelRow.name, ModelVersionRow.version, ModelVersionRow.params).join(
                    LabelRow
                )
            ).all()
    except Exception:  # noqa: BLE001 — the catalog's problem, reported already
        return
    found.facts["model_versions"] = len(rows)
    broken = []
    for label, version, params in rows:
        try:
            clf = models.from_params(params or {})
            if dim and clf.coef_.size != dim:
                raise ValueError(f"{clf.coef_.size} weights for {dim}-d vectors")
        except Exception as exc:  # noqa: BLE001 — any damage to the stored parameters
            broken.append(f"{label!r} v{version} ({_one_line(exc)})")
    if broken:
        found.problem(
            "models",
            f"{len(broken)} model versions cannot be loaded: {'; '.join(broken[:3])}",
            f"build those labels again (Build / `python -m va_app build --label L`), or {RESTORE}",
        )
    if not quick:
        _check_model_files(settings, found, models)


def _check_model_files(settings: Settings, found: _Findings, models: ModelLoaders) -> None:
    bad = []
    for path in sorted(settings.models_dir.glob("*.json")) if settings.models_dir.is_dir() else []:
        try:
            models.from_file(path)
        except VAError as exc:
            bad.append(f"{path.name} ({_one_line(exc)})")
    if bad:
        found.problem(
            "models",
            f"{len(bad)} model files under {settings.models_dir} cannot be loaded: "
            f"{'; '.join(bad[:3])}",
            "export them again (`python -m va_app model export --label L --out FILE`)",
        )


def _check_images(shots: list[Shot], found: _Findings) -> None:
    missing = [s for s in shots if _lacks_images(s)]
    found.facts["shots_without_images"] = len(missing)
    if not missing:
        return
    remakeable = [s for s in missing if s.video_path and Path(s.video_path).is_file()]
    example = ", ".join(s.id for s in missing[:3])
    if remakeable:
        found.problem(
            "thumbnails",
            f"{len(remakeable)} shots lack their thumbnail or filmstrip (e.g. {example})",
            "`python -m va_app check --repair` makes them again from the videos",
            repairable=True,
        )
    if len(remakeable) < len(missing):
        found.problem(
            "thumbnails",
            f"{len(missing) - len(remakeable)} shots lack their thumbnail or filmstrip and "
            "their videos are not on this machine",
            f"copy the thumbs/ folder back from a backup, or {RESTORE}",
        )


def _lacks_images(shot: Shot) -> bool:
    return any(
        path and not (Path(path).is_file() and Path(path).stat().st_size > 0)
        for path in (shot.thumb_path, shot.filmstrip_path)
    )


def _check_previews(settings: Settings, found: _Findings) -> None:
    broken = broken_previews(settings)
    if broken:
        found.problem(
            "previews",
            f"{len(broken)} cached preview clips are empty or damaged (e.g. {broken[0].name})",
            "`python -m va_app check --repair` removes them; each is cut again on its next play",
            repairable=True,
        )


def broken_previews(settings: Settings) -> list[Path]:
    """Cached clips under ``previews/`` that are empty or that no decoder can open."""
    import av

    broken = []
    folder = settings.previews_dir
    for path in sorted(folder.glob("*.clip.mp4")) if folder.is_dir() else []:
        try:
            if path.stat().st_size == 0:
                raise ValueError("empty")
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise ValueError("no video stream")
        except Exception:  # noqa: BLE001 — any reason it would not play
            broken.append(path)
    return broken


# -- the repair ---------------------------------------------------------------------------------
def repair_corpus(
    settings: Settings, report: HealthReport, *, progress: Progress | None = None
) -> list[str]:
    """Rebuild the derived data ``report`` found broken; returns what was done, one line each.
    The caller holds the ingest lock (nothing else writes meanwhile)."""
    parts = {p.part for p in report.problems if p.repairable}
    if any(p.blocks_app for p in report.problems):
        return []  # derived data is made from the catalog and the matrix: restore them first
    done = []
    if "index" in parts:
        done.append(_rebuild_index(settings, progress))
    if "thumbnails" in parts:
        done.append(_remake_images(settings, progress))
    if "previews" in parts:
        removed = broken_previews(settings)
        for path in removed:
            path.unlink(missing_ok=True)
        done.append(f"removed {len(removed)} damaged preview clips (cut again on next play)")
    return done


def _rebuild_index(settings: Settings, progress: Progress | None) -> str:
    from va_app.store.corpus import Corpus
    from va_app.store.index import forget_cached_clients

    _note(progress, "rebuilding the vector index from the catalog and the matrix")
    aside = _set_aside_unopenable_index(settings)
    forget_cached_clients()
    corpus = Corpus(settings)
    try:
        n = corpus.reindex()
    finally:
        corpus.close()
    return f"rebuilt the vector index: {n} shots" + (
        f" (the old one is in {aside})" if aside else ""
    )


def _set_aside_unopenable_index(settings: Settings) -> Path | None:
    """An embedded index Chroma cannot open is renamed out of the way (kept for inspection)."""
    if settings.chroma_host or not settings.chroma_path.is_dir():
        return None
    index = VectorIndex.from_settings(settings)
    try:
        index.count()
        return None
    except Exception:  # noqa: BLE001 — unopenable: move it, a new one is made
        aside = settings.chroma_path.with_name(f"chroma.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        settings.chroma_path.rename(aside)
        return aside
    finally:
        index.close()


def _remake_images(settings: Settings, progress: Progress | None) -> str:
    from va_app.encoders.base import evenly_spaced
    from va_app.video.frames import filmstrip_jpeg, iter_shot_frames, thumbnail_jpeg, write_jpeg

    with _opened(Catalog(settings.sql_url)) as catalog:
        shots = [s for s in catalog.shots() if _lacks_images(s) and Path(s.video_path).is_file()]
    by_video: dict[str, list[Shot]] = {}
    for shot in shots:
        by_video.setdefault(shot.video_path, []).append(shot)
    k, made = settings.keyframes_per_shot, 0
    for path, group in by_video.items():
        _note(progress, f"making thumbnails of {Path(path).name}")
        spans = [ShotSpan(s.start_frame, s.end_frame, s.fps) for s in group]
        for shot, frames in zip(group, iter_shot_frames(path, spans, per_shot=k, size=None)):
            write_jpeg(thumbnail_jpeg(frames[len(frames) // 2]), shot.thumb_path)
            write_jpeg(filmstrip_jpeg(evenly_spaced(frames, k)), shot.filmstrip_path)
            made += 1
    return f"made the thumbnails and filmstrips of {made} shots again"


# -- helpers ------------------------------------------------------------------------------------
@contextmanager
def _opened(catalog: Catalog) -> Iterator[Catalog]:
    try:
        yield catalog
    finally:
        with suppress(Exception):
            catalog.close()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _some(ids, n: int = 3) -> str:
    return ", ".join(sorted(ids)[:n])


def _note(progress: Progress | None, message: str) -> None:
    if progress:
        progress(message)
