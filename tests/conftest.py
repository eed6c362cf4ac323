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
# No background index jobs outliving the tests that imported a corpus (their own test turns
# them on).
os.environ.setdefault("VA_INDEX_JOB", "0")

from tests.servers import CATALOG_TEMPLATE, PostgresServer, postgres_bindir
from va_app.config import Settings
from va_app.services.access import Role, User
from va_app.services.bootstrap import Services, bootstrap
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
    return Settings(
        data_dir=tmp_path / "data", encoder="descriptor", database_url=database_url, index_job=False
    )


#: Who acts in tests that are not about access control: an admin (may do everything).
TESTER = User("tester", "", Role.ADMIN)


def open_services(settings: Settings, **options) -> Services:
    """The corpus's services as the app and the CLI build them (close them after)."""
    return bootstrap(settings, **options)
