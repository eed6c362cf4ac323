"""Corpus-wide jobs as the CLI (and the app's first start) run them: ingest, the demo corpus,
reindex, the Netflix import, backup and restore, the schema upgrade.

Each one checks the acting user's role first (the policy from the settings) and leaves one
line in the corpus's event log when it is done, written in a unit of work of its own: a job is
no single transaction (an ingest commits video by video — each video's ``video_ingested``
line in the same transaction that makes its shots visible —, a restore replaces the whole
catalog). They do not go through :mod:`va_app.services.bootstrap`: each takes the corpus's
ingest lock and opens the stores it needs.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from va_app.config import Settings
from va_app.services.access import AccessPolicy, Action, User
from va_app.services.unit_of_work import SqlUnitOfWork
from va_app.store.catalog import Catalog

Progress = Callable[..., None]
Done = TypeVar("Done")


def cli_user(settings: Settings) -> User:
    """The CLI acts as the OS user; in local mode (no roles configured) that is an admin."""
    return AccessPolicy.from_settings(settings).user_for(None, getpass.getuser())


def ingest_videos(
    settings: Settings,
    folder: str | Path,
    *,
    user: User,
    progress: Progress | None = None,
    weights_progress: Progress | None = None,
    workers: int | None = None,
    ray: bool | str = False,
):
    """Ingest every video under ``folder`` (recursive, resumable); returns the IngestReport.

    ``workers``: processes for the CPU stages (default VA_INGEST_WORKERS); ``ray``: on Ray
    (True: a local Ray; a string: a cluster address)."""
    from va_app.ingest import ingest

    report = _run(
        settings,
        user,
        Action.INGEST,
        "ingest",
        lambda: ingest(
            settings,
            folder,
            progress=progress,
            weights_progress=weights_progress,
            workers=workers,
            ray=ray,
        ),
        lambda report: {
            "folder": str(folder),
            "runner": "ray" if ray else "local",
            **_ingest_counts(report),
        },
    )
    _index_in_background(settings)
    return report


def build_demo(
    settings: Settings,
    *,
    user: User,
    n_shots: int | None = None,
    progress: Progress | None = None,
):
    """Render and ingest the procedural demo corpus; returns the IngestReport."""
    from va_app.datasets.demo.corpus import build_demo_corpus

    report = _run(
        settings,
        user,
        Action.INGEST,
        "demo_built",
        lambda: build_demo_corpus(settings, n_shots=n_shots, progress=progress),
        _ingest_counts,
    )
    _index_in_background(settings)
    return report


def stale_demo(settings: Settings) -> str:
    """Why the corpus in ``settings.data_dir`` is a demo this release cannot read and may
    rebuild without losing anyone's work, or "" when it is not.

    All of: the embedded default (catalog and index under the data directory), every video
    from the demo's own folder, no label and no annotation, and vectors of another release's
    demo CLIP (they cannot be compared with this release's: search and builds would refuse).
    """
    from va_app.encoders import planned_encoder_id
    from va_app.encoders.base import same_encoder
    from va_app.encoders.bundled import demo_clip_settings, is_demo_clip_id
    from va_app.store.corpus import Corpus
    from va_app.store.schema import AnnotationRow, LabelRow

    if settings.database_url or settings.chroma_host:
        return ""
    corpus = Corpus(settings)
    try:
        stored = corpus.encoder_id
        catalog = corpus.catalog
        videos = catalog.videos(status=None)
        demo_dir = settings.demo_videos_dir.resolve()
        demo_only = bool(videos) and all(
            Path(v.path).resolve().is_relative_to(demo_dir) for v in videos
        )
        untouched = catalog.count_rows(LabelRow) == 0 and catalog.count_rows(AnnotationRow) == 0
    finally:
        corpus.close()
    if not (demo_only and untouched and is_demo_clip_id(stored)):
        return ""
    current = planned_encoder_id(demo_clip_settings(settings))
    if same_encoder(stored, current):
        return ""
    return (
        f"the demo in {settings.data_dir} was encoded by another release's demo CLIP "
        f"({stored}; this release ships {current}) and holds no labels or annotations"
    )


def set_aside(settings: Settings) -> Path:
    """Move everything in the data directory (but its README) into a new sibling folder
    ``<name>.outdated-<UTC time>``; returns that folder. Nothing is deleted."""
    import shutil
    from datetime import UTC, datetime

    data_dir = Path(settings.data_dir)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = data_dir.parent / f"{data_dir.name}.outdated-{stamp}"
    target.mkdir()
    for entry in sorted(data_dir.iterdir()):
        if entry.name != "README.md":
            shutil.move(str(entry), str(target / entry.name))
    return target


def reindex(settings: Settings, *, user: User, progress: Progress | None = None) -> int:
    """Rebuild the Chroma index from the SQL catalog and the h5 matrix; returns shots indexed."""
    from va_app.store.corpus import Corpus, ingest_lock

    def work() -> int:
        with ingest_lock(settings):
            corpus = Corpus(settings)
            try:
                corpus.recover()
                return corpus.reindex(progress=progress)
            finally:
                corpus.close()

    return _run(settings, user, Action.INGEST, "reindexed", work, lambda n: {"shots": n})


def start_index_job(settings: Settings, *, user: User) -> bool:
    """Start the background job that fills the vector index (``va_app.store.index_job``) when
    the index lacks shots and none runs; True if one was started (``reindex --background``;
    ingest, import and demo start it themselves when they are done)."""
    from va_app.store.index_job import start_index_job as start

    AccessPolicy.from_settings(settings).require(user, Action.INGEST)
    return start(settings)


def fill_index(settings: Settings, *, user: User, progress: Progress | None = None):
    """Run the index job here (``reindex --missing``): shots added, or None if one runs."""
    from va_app.store.index_job import fill_index as fill

    return _run(
        settings,
        user,
        Action.INGEST,
        "index_filled",
        lambda: fill(settings, progress=progress),
        lambda n: {"shots": n or 0},
    )


def import_netflix_data(
    settings: Settings,
    folder: str | Path,
    *,
    user: User,
    index: bool = False,
    progress: Progress | None = None,
):
    """Import the Netflix Video Annotator data set as this corpus; returns its report."""
    from va_app.datasets.netflix.importer import import_netflix

    report = _run(
        settings,
        user,
        Action.INGEST,
        "netflix_imported",
        lambda: import_netflix(settings, folder, index=index, progress=progress),
        lambda _report: {"folder": str(folder)},
    )
    _index_in_background(settings)
    return report


def backup_corpus(
    settings: Settings,
    dest: str | Path,
    *,
    user: User,
    include_thumbs: bool = True,
    progress: Progress | None = None,
):
    """A consistent copy of the corpus while the app runs; returns the BackupReport."""
    from va_app.store.backup import backup

    return _run(
        settings,
        user,
        Action.BACKUP,
        "backed_up",
        lambda: backup(settings, dest, include_thumbs=include_thumbs, progress=progress),
        lambda report: {"dest": str(report.path)},
    )


def restore_corpus(
    settings: Settings,
    src: str | Path,
    *,
    user: User,
    force: bool = False,
    progress: Progress | None = None,
):
    """Restore a backup into the data directory (the event goes into the restored log)."""
    from va_app.store.backup import restore

    return _run(
        settings,
        user,
        Action.BACKUP,
        "restored",
        lambda: restore(settings, src, force=force, progress=progress),
        lambda _report: {"src": str(src)},
    )


def schema_state(settings: Settings):
    """The catalog's schema revision, the newest one and what is pending (reads only)."""
    from va_app.store import migrate
    from va_app.store.catalog import make_engine

    engine = make_engine(settings.sql_url)
    try:
        return migrate.state_of(engine)
    finally:
        engine.dispose()


def upgrade_schema(settings: Settings, *, user: User, progress: Progress | None = None):
    """Apply pending schema revisions in place (after a backup); returns the UpgradeReport."""
    from va_app.store.upgrade import upgrade_corpus

    return _run(
        settings,
        user,
        Action.BACKUP,
        "schema_upgraded",
        lambda: upgrade_corpus(settings, progress=progress),
        lambda report: {"before": report.before, "after": report.after},
    )


def _run(
    settings: Settings,
    user: User,
    action: Action,
    kind: str,
    work: Callable[[], Done],
    payload: Callable[[Done], dict],
) -> Done:
    """Check ``user`` may do ``action``, do the work, log one ``kind`` event."""
    AccessPolicy.from_settings(settings).require(user, action)
    done = work()
    catalog = Catalog(settings.sql_url)
    try:
        with SqlUnitOfWork(catalog) as uow:
            uow.events.add(kind, actor=user.annotator, payload=payload(done))
    finally:
        catalog.close()
    return done


def _index_in_background(settings: Settings) -> None:
    """After the corpus changed: the background job catches the vector index up (if needed)."""
    from va_app.store.index_job import start_index_job as start

    start(settings)


def _ingest_counts(report) -> dict:
    return {
        "added_videos": len(report.added_videos),
        "added_shots": report.added_shots,
        "replaced_videos": len(report.replaced_videos),
        "skipped": len(report.skipped),
    }
