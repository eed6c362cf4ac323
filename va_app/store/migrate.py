"""Schema migrations of the SQL catalog (Alembic; revisions in ``store/migrations/versions``).

A catalog's schema is in one of four states:

- **empty** (a new corpus): the tables are made from ``schema.py`` and stamped with the newest
  revision (Alembic's recipe for a fresh database; a test checks the revisions build the same);
- **unversioned**: made by a release before migrations existed — its tables are the baseline
  revision's, so it is stamped ``0001_baseline`` and upgraded from there;
- **behind**: revisions are pending; opening the corpus (``open_corpus``) or
  ``python -m va_app db upgrade`` backs the corpus up first, then applies them;
- **current**, or **ahead** (made by a newer release: refused, never touched).

Every change runs in one transaction — SQLite takes its write lock up front, PostgreSQL an
advisory lock — so an upgrade lands whole or not at all, and two servers starting together
migrate once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from va_app.errors import StoreError
from va_app.store.schema import Base

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001_baseline"
# Any fixed number: the key of the PostgreSQL advisory lock held while the schema changes.
_PG_LOCK_KEY = 7_311_004


class SchemaOutdatedError(StoreError):
    """The catalog needs an upgrade before this release can use it."""


@dataclass(frozen=True)
class SchemaState:
    current: str | None  # the stamped revision (None: empty or unversioned)
    head: str
    has_tables: bool

    @property
    def empty(self) -> bool:
        return not self.has_tables

    @property
    def unversioned(self) -> bool:
        return self.has_tables and self.current is None

    @property
    def pending(self) -> list[str]:
        """Revisions an upgrade would apply, oldest first."""
        start = self.current or (BASELINE if self.has_tables else None)
        if start is None or start == self.head or start not in _revisions():
            return []
        walk = _scripts().iterate_revisions(self.head, start)
        return [script.revision for script in reversed(list(walk))]

    @property
    def ahead(self) -> bool:
        return self.current is not None and self.current not in _revisions()


def config(
    connection: Connection | None = None, *, extra_locations: tuple[str, ...] = ()
) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if extra_locations:  # tests add a revision of their own
        locations = [str(MIGRATIONS_DIR / "versions"), *extra_locations]
        cfg.set_main_option("version_locations", os.pathsep.join(locations))
    cfg.attributes["connection"] = connection
    return cfg


_extra_locations: tuple[str, ...] = ()


def use_extra_revisions(*locations: str) -> None:
    """Add folders of revisions (for tests of an upgrade); no argument removes them again."""
    global _extra_locations
    _extra_locations = tuple(locations)
    _scripts.cache_clear()


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(config(extra_locations=_extra_locations))


def _revisions() -> set[str]:
    return {script.revision for script in _scripts().walk_revisions()}


def head() -> str:
    revision = _scripts().get_current_head()
    assert revision is not None  # the package ships its migrations
    return revision


def schema_state(connection: Connection) -> SchemaState:
    tables = set(inspect(connection).get_table_names())
    current = MigrationContext.configure(connection).get_current_revision()
    return SchemaState(current, head(), bool(tables & set(Base.metadata.tables)))


def state_of(engine: Engine) -> SchemaState:
    with engine.connect() as conn:
        return schema_state(conn)


def prepare(engine: Engine) -> SchemaState:
    """What opening a catalog does: make a new one, stamp a pre-migration one (its schema is
    the baseline), accept a current one; an outdated or newer one raises, saying what to do."""
    state = state_of(engine)
    if state.current == state.head:
        return state
    if state.empty or (state.unversioned and not state.pending):
        return upgrade(engine)
    _refuse(state, engine)
    return state


def _refuse(state: SchemaState, engine: Engine) -> None:
    where = engine.url.render_as_string(hide_password=True)
    if state.ahead:
        raise StoreError(
            f"the catalog {where} was made by a newer release (schema "
            f"{state.current}; this one knows up to {state.head}): update the app"
        )
    if state.pending:
        raise SchemaOutdatedError(
            f"the catalog {where} has schema {state.current or BASELINE}, this release needs "
            f"{state.head}: run `python -m va_app db upgrade` (it backs the corpus up first)"
        )


def upgrade(engine: Engine) -> SchemaState:
    """Bring the schema to the newest revision in one transaction; returns the state before."""
    with engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE (see catalog.py)
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        state = schema_state(conn)  # again, under the lock: another process may have done it
        if state.ahead:
            _refuse(state, engine)
        cfg = config(conn, extra_locations=_extra_locations)
        if state.empty:
            Base.metadata.create_all(conn)
            command.stamp(cfg, "head")
        elif state.current != state.head:
            if state.unversioned:
                command.stamp(cfg, BASELINE)
            command.upgrade(cfg, "head")
    return state
