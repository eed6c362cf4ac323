"""Load benchmark of the decision endpoint: ``python -m va_app bench --load``.

Many annotators label at once through the real path: a real ``streamlit run app.py`` server,
a real page render of Search per annotator in Chromium (its own session and ticket — the page's
first decision is a real keypress, whose request names the ticket; see :func:`_pages`), then
one thread per annotator posting decisions to ``POST /va/decisions`` the way the grid does:
a batch holding every decision not confirmed yet, each with its own id, one decision made per
``pace_s`` (a fast expert) after the previous answer. A refused or failed request is an error,
and its decisions go out again with the next batch.

Measured per backend (SQLite in the data dir; PostgreSQL — a fresh database on the server of
``VA_DATABASE_URL``, else a throw-away server like the test suite's): decisions confirmed, per
second, the confirm latency (request to answer, p50/p95/p99), errors, and, read back from the
store after the run, ``lost`` (confirmed but not stored) and ``doubled`` (stored twice).

The corpus is a copy of the ``--data-dir`` corpus (never the corpus itself), or a synthetic one
of ``shots`` shots when the data dir holds none.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from va_app.research.bench.app_browser import CHROMIUM, CHROMIUM_ARGS, IDLE, _free_port, _health

REPO = Path(__file__).resolve().parents[3]
LABEL = "load"
#: A fast expert: one decision a second, after the previous one was confirmed.
PACE_S = 1.0
#: A request slower than this counts as an error (the grid sends it again after 2 s).
REQUEST_TIMEOUT_S = 30
BACKENDS = ("sqlite", "postgresql")
#: Chromium pages kept open at once (the first annotators'; see :func:`_pages`).
OPEN_PAGES = 20


@dataclass
class Annotator:
    """One annotator's session: their ticket, and what happened to their decisions."""

    name: str
    ticket: str
    latencies_ms: list[float] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)
    pending: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: int = 0


def run_load_bench(
    source,
    work_dir: Path,
    *,
    annotators: int,
    seconds: float,
    backend: str,
    shots: int = 5000,
    pace_s: float = PACE_S,
    database_url: str = "",
) -> dict:
    """One run: ``annotators`` at once for ``seconds`` on ``backend``, on a copy of the corpus
    of ``source`` (Settings) or a synthetic one; returns the figures."""
    load_before = [round(x, 2) for x in os.getloadavg()]
    with _catalog(backend, database_url) as url:
        corpus = _prepare_corpus(source, work_dir / f"load-{backend}", url, shots)
        shot_ids = _shot_ids(corpus, url)
        with _server(corpus, url) as base, _pages(base, annotators) as tickets:
            team = [Annotator(name, ticket) for name, ticket in tickets.items()]
            elapsed = _drive(base, team, shot_ids, seconds=seconds, pace_s=pace_s)
            _drain(base, team)
        stored = _stored(corpus, url)
    return _figures(team, stored, backend, elapsed, pace_s, len(shot_ids), load_before)


# -- the corpus ---------------------------------------------------------------------------------
def _prepare_corpus(source, target: Path, url: str, shots: int) -> Path:
    """A private copy of the corpus (its catalog at ``url``), with the bench's label."""
    from va_app.services import reads
    from va_app.services.access import SYSTEM
    from va_app.services.bootstrap import bootstrap

    shutil.rmtree(target, ignore_errors=True)
    if source.embeddings_path.is_file():
        _copy_corpus(source, target, url)
    else:
        from va_app.research.bench.app_clicks import make_click_bench_corpus

        make_click_bench_corpus(target, shots=shots, dim=64, database_url=url)
    app = bootstrap(_settings(target, url))
    try:
        if LABEL not in {label.name for label in reads.labels(app)}:
            app.labelling.create_label(SYSTEM, LABEL, description="load bench")
    finally:
        app.close()
    return target


def _copy_corpus(source, target: Path, url: str) -> None:
    """Files as they are; the catalog copied row by row into ``url`` (any backend)."""
    from va_app.store.backup import copy_sqlite, sqlite_path
    from va_app.store.catalog import Catalog

    shutil.copytree(
        source.data_dir,
        target,
        ignore=shutil.ignore_patterns("catalog.sqlite*", "bench", "backups", "*.log"),
    )
    if not url and source.sql_url.startswith("sqlite"):
        copy_sqlite(sqlite_path(source), target / "catalog.sqlite")
        return
    url = url or f"sqlite:///{target / 'catalog.sqlite'}"
    Catalog(url).close()  # the tables, at the newest schema
    _copy_rows(source.sql_url, url)


def _copy_rows(src_url: str, dst_url: str) -> None:
    from sqlalchemy import create_engine, func, select, text

    from va_app.store.schema import Base

    src, dst = create_engine(src_url), create_engine(dst_url)
    try:
        with src.connect() as read, dst.begin() as write:
            for table in Base.metadata.sorted_tables:
                rows = [dict(r._mapping) for r in read.execute(select(table))]
                for start in range(0, len(rows), 5000):
                    write.execute(table.insert(), rows[start : start + 5000])
                serial = "id" in table.c and table.c.id.autoincrement is True
                if serial and dst.dialect.name == "postgresql" and rows:
                    top = write.scalar(select(func.max(table.c.id)))
                    write.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), :n)"),
                        {"n": top},
                    )
    finally:
        src.dispose()
        dst.dispose()


def _settings(data_dir: Path, url: str):
    from va_app.config import Settings

    return Settings(data_dir=data_dir, database_url=url).with_data_dir(data_dir)


def _shot_ids(data_dir: Path, url: str) -> list[str]:
    from va_app.store.catalog import Catalog

    catalog = Catalog(_settings(data_dir, url).sql_url)
    try:
        return catalog.shot_ids()
    finally:
        catalog.close()


@contextmanager
def _catalog(backend: str, database_url: str) -> Iterator[str]:
    """``""`` (SQLite in the data dir), or the URL of a fresh PostgreSQL database."""
    if backend == "sqlite":
        yield ""
        return
    if database_url:
        with _fresh_database(database_url) as url:
            yield url
        return
    try:
        from tests.servers import PostgresServer, postgres_bindir
    except ImportError:
        raise RuntimeError(
            "no PostgreSQL for the load bench: set VA_DATABASE_URL to a server the bench may "
            "create a database on, or run it from the source tree (it starts a throw-away "
            "server like the test suite's)"
        ) from None
    bindir = postgres_bindir()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl); set VA_DATABASE_URL")
    server = PostgresServer(bindir).start()
    try:
        yield server.url(server.new_database())
    finally:
        server.stop()


@contextmanager
def _fresh_database(url: str) -> Iterator[str]:
    """A new database on the server of ``url`` (needs the CREATEDB right), dropped after."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"va_load_{os.getpid()}_{int(time.time())}"
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- the server and the sessions ----------------------------------------------------------------
@contextmanager
def _server(data_dir: Path, url: str) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "VA_DATA_DIR": str(data_dir),
        "VA_DATABASE_URL": url,
        "VA_CARD_GRID": "keyboard",
        "HF_HUB_OFFLINE": "1",
    }
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
    ]
    with open(data_dir / "load-streamlit.log", "w") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while _health(base) != "ok":
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start; see {log.name}")
                time.sleep(0.25)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def _pages(base: str, n: int) -> Iterator[dict[str, str]]:
    """A Chromium page per annotator: ``{annotator: ticket}``.

    Each page renders Search as its annotator and makes one decision with the keyboard; the
    ticket is the one that request carried (the grid's own). The first :data:`OPEN_PAGES`
    stay open while the load runs; beyond them a page is reused for the next annotator (its
    session ends, its ticket stays valid — as it does for a browser that reconnects): one
    Chromium page takes ~100 MB."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pages = [browser.new_page() for _ in range(min(n, OPEN_PAGES))]
            tickets = {}
            for i in range(n):
                name = f"load-{i:03d}"
                tickets[name] = _ticket_of_page(pages[i % len(pages)], f"{base}/search", name)
            yield tickets
        finally:
            browser.close()


def _ticket_of_page(page, url: str, annotator: str) -> str:
    page.goto(f"{url}?annotator={annotator}&label={LABEL}")
    page.wait_for_selector(".va-card", timeout=180_000)
    page.wait_for_selector(IDLE, timeout=180_000)
    with page.expect_request(lambda r: r.url.endswith("/va/decisions")) as request:
        page.keyboard.press("p")
    return json.loads(request.value.post_data)["ticket"]


# -- the load -----------------------------------------------------------------------------------
def _drive(
    base: str, team: list[Annotator], shot_ids: list[str], *, seconds: float, pace_s: float
) -> float:
    start = time.monotonic()
    stop = start + seconds
    threads = [
        threading.Thread(target=_annotate, args=(base, a, shot_ids, stop, pace_s, k), daemon=True)
        for k, a in enumerate(team)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - start


def _annotate(
    base: str, who: Annotator, shot_ids: list[str], stop: float, pace_s: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    seq = 1000
    # Annotators start spread over one pace, as people do, not in lockstep.
    time.sleep(float(rng.uniform(0, pace_s)))
    with _connection(base) as conn:
        while time.monotonic() < stop:
            seq += 1
            shot = shot_ids[int(rng.integers(len(shot_ids)))]
            who.pending.append(
                {
                    "seq": seq,
                    "id": uuid.uuid4().hex,
                    "shot_id": shot,
                    "value": bool(rng.random() < 0.5),
                }
            )
            _post(conn, who)
            time.sleep(pace_s)


def _drain(base: str, team: list[Annotator], *, rounds: int = 5) -> None:
    """Send what is still unconfirmed (as the grid would), outside the timed window."""
    with _connection(base) as conn:
        for _ in range(rounds):
            for who in team:
                if who.pending:
                    _post(conn, who, timed=False)


def _post(conn, who: Annotator, *, timed: bool = True) -> None:
    body = json.dumps({"ticket": who.ticket, "label": LABEL, "items": who.pending[:200]})
    start = time.perf_counter()
    try:
        conn.request(
            "POST", "/va/decisions", body=body, headers={"Content-Type": "application/json"}
        )
        response = conn.getresponse()
        answer = json.loads(response.read() or b"{}")
        status = response.status
    except (OSError, http.client.HTTPException, ValueError) as exc:
        conn.close()  # reconnects on the next request
        who.errors.append(f"{type(exc).__name__}: {exc}")
        return
    finally:
        who.requests += 1
    if timed:
        who.latencies_ms.append((time.perf_counter() - start) * 1000)
    if status != 200:
        who.errors.append(f"HTTP {status}: {answer.get('error', '')[:120]}")
        return
    done = set(answer.get("confirmed", []))
    who.confirmed += [d["id"] for d in who.pending if d["id"] in done]
    who.pending = [d for d in who.pending if d["id"] not in done]


@contextmanager
def _connection(base: str) -> Iterator[http.client.HTTPConnection]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=REQUEST_TIMEOUT_S)
    try:
        yield conn
    finally:
        conn.close()


# -- the figures --------------------------------------------------------------------------------
def _stored(data_dir: Path, url: str) -> dict[str, int]:
    """Rows per decision id of the bench's annotators, read back from the store."""
    from sqlalchemy import func, select

    from va_app.store.catalog import Catalog
    from va_app.store.schema import AnnotationRow

    catalog = Catalog(_settings(data_dir, url).sql_url)
    try:
        with catalog.read() as s:
            q = (
                select(AnnotationRow.decision_id, func.count())
                .where(AnnotationRow.annotator.like("load-%"))
                .group_by(AnnotationRow.decision_id)
            )
            return {str(i): int(n) for i, n in s.execute(q)}
    finally:
        catalog.close()


def _figures(
    team: list[Annotator],
    stored: dict[str, int],
    backend: str,
    elapsed: float,
    pace_s: float,
    shots: int,
    load_before: list[float],
) -> dict:
    latencies = sorted(x for who in team for x in who.latencies_ms)
    confirmed = [i for who in team for i in who.confirmed]
    errors = [e for who in team for e in who.errors]
    return {
        "backend": backend,
        "annotators": len(team),
        "seconds": round(elapsed, 1),
        "decisions": len(confirmed),
        "per_s": round(len(confirmed) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": _percentile(latencies, 50),
        "p95_ms": _percentile(latencies, 95),
        "p99_ms": _percentile(latencies, 99),
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "requests": sum(who.requests for who in team),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:3],
        "lost": sum(1 for i in confirmed if stored.get(i, 0) == 0),
        "doubled": sum(1 for n in stored.values() if n > 1),
        "unconfirmed": sum(len(who.pending) for who in team),
        "pace_s": pace_s,
        "shots": shots,
        "load_avg_before": load_before,
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
    }


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 1)
