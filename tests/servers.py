"""Throw-away servers the tests run against: PostgreSQL 15 and a Chroma server, and the one
start-and-poll helper every test server uses (these two, the app, the OIDC provider).

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
from collections.abc import Callable
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


def http_get(url: str, *, timeout_s: float = 2) -> str | None:
    """The body of a GET on ``url``, or None while nothing answers there (or not with 200)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.read().decode(errors="replace") if response.status == 200 else None
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def wait_until_serving(
    process: subprocess.Popen,
    url: str,
    *,
    log: Path,
    name: str,
    ready: Callable[[str], bool] = lambda body: True,
    timeout_s: float = START_TIMEOUT_S,
) -> None:
    """Poll ``url`` until its body passes ``ready``; raise (with the log's tail) when the
    server's ``process`` exits first or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        body = http_get(url)
        if body is not None and ready(body):
            return
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{name} did not answer {url} within {timeout_s:.0f} s:\n{_tail(log)}"
            )
        time.sleep(0.2)


def stop_process(process: subprocess.Popen | None, *, timeout_s: float = 20) -> None:
    """SIGTERM, then SIGKILL when it has not ended after ``timeout_s``."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)


def _tail(log: Path, n_chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-n_chars:] if log.is_file() else "(no log)"


def postgres_bindir() -> Path | None:
    """Where ``initdb``/``pg_ctl`` live (``pg_config --bindir``, else Debian's folders)."""
    candidates = []
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(Path(done.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    return next(
        (c for c in candidates if (c / "initdb").is_file() and (c / "pg_ctl").is_file()), None
    )


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
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            PG_USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c max_connections=200 -c fsync=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "start",
        )
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

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=PG_USER, dbname="postgres", autocommit=True
        ) as conn:
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
        command = [
            str(chroma_cli()),
            "run",
            "--path",
            str(self.path),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
            )
        try:
            wait_until_serving(self.process, self.heartbeat_url, log=self.log, name="chroma run")
        except RuntimeError:
            self.stop()
            raise
        return self

    @property
    def heartbeat_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v2/heartbeat"

    def stop(self) -> None:
        stop_process(self.process)
