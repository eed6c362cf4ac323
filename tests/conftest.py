"""Shared fixtures: isolated settings per test, offline encoder, generated video folders, and
the SQL backends the store tests run on.

A test module marked ``pytest.mark.both_backends`` runs each test that uses ``settings`` (or
``database_url``) twice: on the embedded SQLite file and on a throw-away PostgreSQL server
started once per session (``tests/servers.py``), each test in a fresh database. Where no
PostgreSQL binaries exist the PostgreSQL half is skipped, saying so.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# No background index jobs outliving the tests that imported a corpus (their own test turns
# them on).
os.environ.setdefault("VA_INDEX_JOB", "0")

from tests.servers import CATALOG_TEMPLATE, PostgresServer, postgres_bindir
from va_app.config import Settings
from va_app.services.access import Role, User
from va_app.services.bootstrap import Services, bootstrap
from va_app.store.catalog import Catalog

BACKENDS = ("sqlite", "postgresql")
#: Every process this test run starts inherits this mark in its environment (pool and
#: forkserver workers, servers, browsers — also those that detach, like PostgreSQL's): what
#: still carries it when the run ends was left behind, and fails the run.
RUN_MARK = "VA_TEST_RUN"
#: Per-interpreter helpers of multiprocessing and joblib (their resource trackers, the
#: forkserver): children of this process that end with it (they exit when its pipe to them
#: closes), so they are not left behind. Pool workers are: their pool must be shut down.
BOUND_TO_THIS_PROCESS = ("resource_tracker import main", "forkserver import main")
#: How long processes get to finish exiting after the last test before they count as left.
LEFTOVER_GRACE_S = float(os.environ.get("VA_LEFTOVER_GRACE_S", "20"))
_leftovers: list[str] = []


def pytest_configure(config) -> None:
    os.environ[RUN_MARK] = f"{os.getpid()}-{uuid.uuid4().hex}"


def marked_processes(run: str | None = None) -> list[tuple[int, str]]:
    """``(pid, command line)`` of the live processes this run (or the one marked ``run``)
    started (Linux ``/proc``), but the helpers that end with this process
    (:data:`BOUND_TO_THIS_PROCESS`)."""
    mark = f"{RUN_MARK}={run or os.environ.get(RUN_MARK, '')}".encode()
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc/self/environ").exists() else []:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if mark not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):  # gone meanwhile, or not ours to read
            continue
        if parent == os.getpid() and any(h in command for h in BOUND_TO_THIS_PROCESS):
            continue
        found.append((int(entry.name), command.strip()[:200]))
    return found


def pytest_sessionfinish(session, exitstatus) -> None:
    """Fail the run when it leaves processes behind (listing them), and end them."""
    deadline = time.monotonic() + LEFTOVER_GRACE_S
    left = marked_processes()
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = marked_processes()
    if not left:
        return
    _leftovers.extend(f"pid {pid}: {command}" for pid, command in left)
    for pid, _ in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if _leftovers:
        terminalreporter.section("processes left behind by the test run", red=True)
        for line in _leftovers:
            terminalreporter.write_line(line)


def pytest_generate_tests(metafunc) -> None:
    if (
        metafunc.definition.get_closest_marker("both_backends")
        and "sql_backend" in metafunc.fixturenames
    ):
        # Module scope: a module's tests run per backend, so module fixtures (a template
        # corpus) are built once per backend.
        metafunc.parametrize("sql_backend", BACKENDS, indirect=True, scope="module")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip(
            "no PostgreSQL binaries (initdb, pg_ctl) on this machine: the PostgreSQL "
            "half of the store tests needs them (Debian: apt-get install postgresql)"
        )
    server = PostgresServer(bindir).start()
    try:
        # Fresh databases are copies of one with the catalog's tables already made.
        Catalog(server.url(server.new_database(name=CATALOG_TEMPLATE))).close()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sql_backend(request) -> str:
    """``sqlite`` unless the module is marked both_backends (then each in turn)."""
    backend = getattr(request, "param", "sqlite")
    if backend == "postgresql":
        request.getfixturevalue("postgres")  # skips here when there is no PostgreSQL
    return backend


@pytest.fixture
def database_url(request, sql_backend) -> Iterator[str]:
    """The catalog URL of one test: empty (SQLite in the data dir) or a fresh PG database."""
    if sql_backend == "sqlite":
        yield ""
        return
    server = request.getfixturevalue("postgres")
    name = server.new_database(template=CATALOG_TEMPLATE)
    yield server.url(name)
    server.drop_database(name)


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    """A fresh corpus under tmp_path with the offline descriptor encoder."""
    return Settings(
        data_dir=tmp_path / "data", encoder="descriptor", database_url=database_url, index_job=False
    )


class SmallDisk:
    """A tmpfs of ``size`` mounted at ``path`` (root only): a disk the test can fill."""

    def __init__(self, path, size: str) -> None:
        self.path, self.size = path, size
        self.filler = path / ".filler"

    def fill(self, *, leave: int = 0) -> None:
        """Take all free space but ``leave`` bytes."""
        import shutil

        self.free_up()
        free = shutil.disk_usage(self.path).free
        fd = os.open(self.filler, os.O_CREAT | os.O_WRONLY)
        try:
            os.posix_fallocate(fd, 0, max(1, free - leave))
        finally:
            os.close(fd)

    def free_up(self) -> None:
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def small_disk(tmp_path) -> Iterator[SmallDisk]:
    """A 24 MB disk of its own (tmpfs), unmounted after the test; skipped without root."""
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("a full-disk test mounts a small tmpfs, which needs root")
    path = tmp_path / "small-disk"
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24M", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"could not mount a tmpfs for the full-disk test: {done.stderr.strip()}")
    try:
        yield SmallDisk(path, "24M")
    finally:
        subprocess.run(["umount", "--lazy", str(path)], capture_output=True)


#: Who acts in tests that are not about access control: an admin (may do everything).
TESTER = User("tester", "", Role.ADMIN)


def open_services(settings: Settings, **options) -> Services:
    """The corpus's services as the app and the CLI build them (close them after)."""
    return bootstrap(settings, **options)
