"""Upgrading a corpus's catalog schema in place: a backup first, then the pending revisions.

``python -m va_app db upgrade`` and :func:`va_app.store.corpus.open_corpus` (so the app and
every command upgrade on start) call :func:`upgrade_corpus`. The backup, under
``<data dir>/backups/`` and made only when revisions are pending, holds the catalog and models
and names the matrix it goes with (migrations change only the catalog; a copy of a 10M-shot
matrix would be 20–40 GB): ``restore BACKUP --data-dir DIR --force`` undoes the upgrade and keeps
the matrix in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from va_app.config import Settings
from va_app.store import migrate
from va_app.store.catalog import make_engine


@dataclass(frozen=True)
class UpgradeReport:
    before: str | None  # the revision the catalog had (None: new, or made before migrations)
    after: str
    applied: list[str]
    backup: Path | None  # where the corpus was backed up first (None: nothing was pending)


def upgrade_corpus(settings: Settings, *, progress=None) -> UpgradeReport:
    """Apply pending schema revisions to the corpus's catalog, backing it up first."""
    engine = make_engine(settings.sql_url)
    try:
        state = migrate.state_of(engine)
        saved = _backup_first(settings, state, progress) if state.pending else None
        migrate.upgrade(engine)
        after = migrate.state_of(engine).current or ""
    finally:
        engine.dispose()
    return UpgradeReport(state.current, after, state.pending, saved)


def _backup_first(settings: Settings, state: migrate.SchemaState, progress) -> Path:
    from va_app.store.backup import backup  # backup opens corpora: import when needed

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    dest = settings.data_dir / "backups" / f"before-schema-{state.head}-{stamp}"
    if progress:
        progress(f"backing up the catalog and models to {dest} before upgrading the schema")
    saved = backup(settings, dest, include_thumbs=False, include_matrix=False, progress=progress)
    return saved.path
