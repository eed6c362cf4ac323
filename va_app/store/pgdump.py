"""PostgreSQL's own dump tools for a PostgreSQL catalog: ``pg_dump`` and ``pg_restore``.

A backup dumps one snapshot of the catalog (custom format, ``catalog.pgdump``) while the app
keeps running: the snapshot is exported from a repeatable-read transaction, the row counts the
manifest records are read in that same transaction, and ``pg_dump --snapshot`` dumps exactly
it. A restore loads the dump in one transaction (``--single-transaction``): it lands whole or
not at all. The password of the URL travels in ``PGPASSWORD``, never on a command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url

from va_app.errors import StoreError

DUMP_FILE = "catalog.pgdump"
REVISION_TABLE = "alembic_version"  # Alembic's record of the schema revision
# pg_dump of a large catalog takes a while; a hung server must not hang a backup forever.
TOOL_TIMEOUT_S = 3600


def find_tool(name: str) -> str:
    """The PostgreSQL client tool ``name``: on PATH, else where ``pg_config`` says."""
    found = shutil.which(name)
    if found:
        return found
    candidates = []
    if shutil.which("pg_config"):
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(Path(bindir.stdout.strip()) / name)
    candidates += sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    for path in candidates:
        if path.is_file():
            return str(path)
    raise StoreError(
        f"{name} not found: install PostgreSQL's client tools of the server's "
        "major version (Debian: apt-get install postgresql-client)"
    )


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """``(conninfo URL, environment)`` for libpq tools from a SQLAlchemy URL."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def run_tool(name: str, *args: str, url: str) -> None:
    conninfo, env = libpq_target(url)
    command = [find_tool(name), *args, f"--dbname={conninfo}"]
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise StoreError(f"{name} did not finish within {TOOL_TIMEOUT_S} s") from None
    if done.returncode != 0:
        reason = " ".join(done.stderr.split())[-500:]
        raise StoreError(f"{name} failed: {reason}")


@contextmanager
def snapshot(url: str) -> Iterator[tuple[str, Connection]]:
    """``(snapshot id, connection)`` of one repeatable-read transaction, open while in use."""
    engine = create_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            with conn.begin():
                snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                yield snapshot_id, conn
    finally:
        engine.dispose()


def dump(url: str, dest: Path, facts: Callable[[Connection], dict]) -> dict:
    """Dump the catalog at ``url`` into ``dest``; returns ``facts`` read in the same snapshot."""
    with snapshot(url) as (snapshot_id, conn):
        seen = facts(conn)
        run_tool(
            "pg_dump", "--format=custom", f"--snapshot={snapshot_id}", f"--file={dest}", url=url
        )
    return seen


def load(url: str, src: Path) -> None:
    """Replace the catalog's tables at ``url`` with the dump ``src``, in one transaction.

    ``--clean`` drops only what the dump holds: a dump of a catalog made before migrations has
    no ``alembic_version``, and the target's would otherwise survive and claim the target's
    schema revision for the restored tables — it is dropped after the load."""
    run_tool(
        "pg_restore",
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        str(src),
        url=url,
    )
    if REVISION_TABLE not in tables_in(src):
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text(f"DROP TABLE IF EXISTS {REVISION_TABLE}"))
        finally:
            engine.dispose()


def tables_in(src: Path) -> set[str]:
    """The tables a custom-format dump holds (``pg_restore --list``; no database needed)."""
    done = subprocess.run(
        [find_tool("pg_restore"), "--list", str(src)],
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise StoreError(f"pg_restore --list failed: {' '.join(done.stderr.split())[-500:]}")
    # A table's line: "215; 1259 16390 TABLE public alembic_version va" (its rows' line says
    # "TABLE DATA public alembic_version va")
    lines = (line.split() for line in done.stdout.splitlines() if not line.startswith(";"))
    return {f[5] for f in lines if len(f) >= 7 and f[3] == "TABLE" and f[4] != "DATA"}
