"""Throw-away servers the tests run against: PostgreSQL 15 and a Chroma server.

Both are real servers started from the binaries on the machine (Debian's PostgreSQL, the
``chroma`` CLI the ``chromadb`` wheel puts next to python), bound to a free loopback port, with
their data in a temporary folder that is removed when they stop. PostgreSQL refuses to run as
root: as root, ``initdb`` and ``pg_ctl`` run as the ``postgres`` system user (``runuser``) on a
data folder it owns (mode 700).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from itertools import count
from pathlib import Path

START_TIMEOUT_S = 120
PG_USER = "va"
# The database fresh test databases are copied from (the catalog's tables already made).
CATALOG_TEMPLATE = "va_catalog_template"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bindir() -> Path | None:
    """Where ``initdb``/``pg_ctl`` live (``pg_config --bindir``, else Debian's folders)."""
    candidates = []
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(Path(done.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)
    return next((c for c in candidates if (c / "initdb").is_file() and (c / "pg_ctl").is_file()),
                None)


class PostgresServer:
    """A private PostgreSQL cluster: ``start()``, ``new_database()`` per test, ``stop()``."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="va-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._names = count()
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL will not run as root
            self._as_user = ["runuser", "-u", "postgres", "--"]
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.root.chmod(0o700)

    def _run(self, tool: str, *args: str) -> None:
        command = [*self._as_user, str(self.bindir / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr[-2000:]}")

    def start(self) -> PostgresServer:
        self._run("initdb", "-D", str(self.data), "-U", PG_USER, "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=200 -c fsync=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                  "-w", "-t", str(START_TIMEOUT_S), "start")
        return self

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=PG_USER, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self, *, template: str = "template0", name: str = "") -> str:
        """A fresh, empty database (or a copy of ``template``); returns its name."""
        name = name or f"va_test_{os.getpid()}_{next(self._names)}"
        # FILE_COPY: with fsync off it copies the few megabytes at once, where the default
        # (WAL_LOG) writes them all through the WAL first.
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        return name

    def new_catalog_url(self) -> str:
        """The URL of a fresh database holding the catalog's empty tables."""
        return self.url(self.new_database(template=CATALOG_TEMPLATE))

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def chroma_cli() -> Path | None:
    candidate = Path(sys.executable).with_name("chroma")
    return candidate if candidate.is_file() else None


class ChromaServer:
    """``chroma run --path DIR --host 127.0.0.1 --port P``; healthy when its heartbeat answers."""

    def __init__(self, path: Path, log: Path, *, port: int | None = None) -> None:
        self.path, self.log, self.port = path, log, port or free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> ChromaServer:
        command = [str(chroma_cli()), "run", "--path", str(self.path), "--host", "127.0.0.1",
                   "--port", str(self.port)]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"chroma run did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.2)
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v2/heartbeat",
                                        timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
