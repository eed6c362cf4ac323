"""Shared fixtures: isolated settings per test, offline encoder, generated video folders, and
the SQL backends the store tests run on.

A test module marked ``pytest.mark.both_backends`` runs each test that uses ``settings`` (or
``database_url``) twice: on the embedded SQLite file and on a throw-away PostgreSQL server
started once per session (``tests/servers.py``), each test in a fresh database. Where no
PostgreSQL binaries exist the PostgreSQL half is skipped, saying so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.servers import CATALOG_TEMPLATE, PostgresServer, postgres_bindir
from va_app.config import Settings
from va_app.store.catalog import Catalog

BACKENDS = ("sqlite", "postgresql")


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
    return Settings(data_dir=tmp_path / "data", encoder="descriptor", database_url=database_url)


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
