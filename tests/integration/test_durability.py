"""Durability, proven with real processes: concurrent annotators, SIGKILLed servers and ingests.

Every test here runs the writers as separate OS processes (``python -m`` this module), the way
several browser sessions, a crashed server or an interrupted ingest really hit the stores:

- 8 annotator processes × ``VA_DURABILITY_N`` (default 1,000) clicks through
  ``LabelStore.annotate`` — the call the app's clip card makes — on one catalog, SQLite and
  PostgreSQL in turn;
- the Streamlit server and a mid-stream writer both killed with SIGKILL, the server restarted;
- ingest killed with SIGKILL at random points, several times, then run to the end;
- an embeddings file cut off mid-write, lost, or older than the catalog: the next ingest
  rebuilds what is missing.

A writer *acknowledges* an annotation by appending the id ``annotate`` returned to its ack
file (fsync'd when it is about to be killed). The checks: every acknowledged annotation is
stored once, each writer's rows are exactly its planned clicks in order (nothing lost, nothing
doubled, at most the one click that was committed but not yet acknowledged when it died), and
the database's own check passes (SQLite's ``PRAGMA integrity_check``; on PostgreSQL amcheck's
``bt_index_check`` of every index).

    python -m tests.integration.test_durability annotate URL LABEL ANNOTATOR N ACKS GO [fsync]
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.servers import free_port, http_get, wait_until_serving
from va_app.config import Settings
from va_app.store.catalog import Catalog
from va_app.store.labels import LabelStore
from va_app.store.schema import ShotRow, VideoRow

ROOT = Path(__file__).resolve().parents[2]
# Clicks per annotator process (the figure); CI on a slow box may lower it.
N_CLICKS = int(os.environ.get("VA_DURABILITY_N", "1000"))
N_ANNOTATORS = 8
LABEL = "night"
N_SHOTS = 40
VALUES = (True, False, None)  # positive, negative, cleared: every kind of click
SERVER_START_S = 120
pytestmark = pytest.mark.slow


# -- the writer process ----------------------------------------------------------------------
def planned_click(k: int, shots: Sequence[str]) -> tuple[str, bool | None]:
    """The ``k``-th click of a writer: which shot and which value."""
    return shots[(k * 7) % len(shots)], VALUES[k % len(VALUES)]


def annotate_stream(
    url: str,
    label: str,
    annotator: str,
    n: int,
    ack_path: Path,
    *,
    go_path: Path | None = None,
    fsync: bool = False,
) -> None:
    """Click ``n`` times through the store API, acknowledging each returned id in a file."""
    store = LabelStore(Catalog(url))
    shots = sorted(store.catalog.shot_ids())
    ack_path.with_suffix(".ready").touch()
    while go_path is not None and not go_path.exists():
        time.sleep(0.01)
    with open(ack_path, "a", encoding="utf-8") as ack:
        for k in range(n):
            shot_id, value = planned_click(k, shots)
            stored = store.annotate(label, shot_id, value, annotator=annotator, source="search")
            ack.write(f"{stored.id}\n")
            ack.flush()
            if fsync:
                os.fsync(ack.fileno())
    store.catalog.close()


def _writer_command(
    url: str, annotator: str, n: int, ack: Path, go: Path | None = None, *, fsync: bool = False
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.integration.test_durability",
        "annotate",
        url,
        LABEL,
        annotator,
        str(n),
        str(ack),
        str(go or ""),
        "fsync" if fsync else "",
    ]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **extra}


# -- checks ----------------------------------------------------------------------------------
def read_acks(path: Path) -> list[int]:
    """Acknowledged ids; a line cut off by SIGKILL (no newline yet) was never acknowledged."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return [int(line) for line in text.split("\n")[:-1] if line]


def assert_every_acknowledged_click_stored(
    url: str, acks: dict[str, list[int]], *, died: bool
) -> None:
    """Each writer's rows are its planned clicks, in order, once; every ack is among them."""
    catalog = Catalog(url)
    store = LabelStore(catalog)
    shots = sorted(catalog.shot_ids())
    history = store.all_history()
    catalog.close()
    assert len({a.id for a in history}) == len(history)
    for annotator, acked in acks.items():
        rows = [a for a in history if a.annotator == annotator]
        ids = [a.id for a in rows]
        assert ids[: len(acked)] == acked, f"{annotator}: acknowledged ids missing or reordered"
        # A writer killed between commit and ack leaves one committed, unacknowledged click.
        extra = len(rows) - len(acked)
        assert extra == 0 or (died and extra == 1), f"{annotator}: {extra} unexpected rows"
        clicks = [(a.shot_id, a.value, a.label) for a in rows]
        assert clicks == [(*planned_click(k, shots), LABEL) for k in range(len(rows))]
    assert integrity_check(url) == "ok"


def integrity_check(url: str) -> str:
    if url.startswith("postgresql"):
        return _postgres_index_check(url)
    path = url.split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        return ";".join(row[0] for row in conn.execute("PRAGMA integrity_check"))


def _postgres_index_check(url: str) -> str:
    """amcheck over every B-tree index of the catalog (raises on a corrupt one)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
            checked = conn.execute(
                text(
                    "SELECT count(bt_index_check(c.oid, true)) FROM pg_index i "
                    "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE a.amname = 'btree' AND n.nspname = 'public'"
                )
            ).scalar()
    finally:
        engine.dispose()
    return "ok" if checked else "no index was checked"


def _catalog_with_shots(settings: Settings) -> str:
    catalog = Catalog(settings.sql_url)
    shots = [
        ShotRow(
            id=f"clip|{i * 24}",
            idx=i,
            start_frame=i * 24,
            end_frame=i * 24 + 24,
            start_s=float(i),
            end_s=float(i + 1),
            fps=24.0,
        )
        for i in range(N_SHOTS)
    ]
    catalog.mark_video_ready(catalog.begin_video(VideoRow(key="clip", path="/clip.mp4"), shots))
    LabelStore(catalog).create_label(LABEL, created_by="test")
    catalog.close()
    return settings.sql_url


# -- 1. concurrent annotators ----------------------------------------------------------------
@pytest.mark.both_backends
def test_eight_concurrent_annotators_lose_and_double_nothing(tmp_path, settings):
    url = _catalog_with_shots(settings)
    go = tmp_path / "go"
    acks = {f"annotator-{i}": tmp_path / f"ack-{i}.txt" for i in range(N_ANNOTATORS)}
    procs = [
        subprocess.Popen(
            _writer_command(url, name, N_CLICKS, ack, go),
            cwd=ROOT,
            env=_env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, ack in acks.items()
    ]
    _wait_for(
        lambda: all(ack.with_suffix(".ready").exists() for ack in acks.values()),
        procs,
        "the annotator processes did not start",
    )
    go.touch()  # all start clicking together: maximal contention for the write lock
    failures = [p.stderr.read()[-2000:] for p in procs if p.wait(timeout=600) != 0]
    assert not failures, failures
    acked = {name: read_acks(ack) for name, ack in acks.items()}
    assert all(len(ids) == N_CLICKS for ids in acked.values())
    assert_every_acknowledged_click_stored(url, acked, died=False)
    assert LabelStore(Catalog(url)).count_annotations(LABEL) == N_ANNOTATORS * N_CLICKS


def _wait_for(
    condition,
    procs: Sequence[subprocess.Popen],
    message: str,
    timeout: float = 120,
    *,
    exit_ok: bool = False,
) -> None:
    """Poll ``condition``; fail when a process dies first (unless ``exit_ok``) or on timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        dead = [p for p in procs if p.poll() is not None]
        if exit_ok and dead and all(p.returncode == 0 for p in dead):
            return
        if dead or time.monotonic() > deadline:
            for p in procs:
                p.kill()
            errors = [p.stderr.read()[-2000:] for p in dead if p.stderr]
            pytest.fail(f"{message}: {errors}")
        time.sleep(0.02)


# -- 2. the app server and a writer killed mid-stream -----------------------------------------
class AppServer:
    """``python -m streamlit run app.py`` on a fixed port; killed with SIGKILL, started again."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir, self.log, self.port = data_dir, log, free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppServer:
        command = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(self.port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_env(
                    VA_DATA_DIR=str(self.data_dir), VA_ENCODER="descriptor", VA_CARD_GRID="buttons"
                ),
            )  # clicks the button cards
        wait_until_serving(
            self.process,
            f"{self.url}/_stcore/health",
            log=self.log,
            name="streamlit",
            ready=lambda body: body.strip() == "ok",
            timeout_s=SERVER_START_S,
        )
        return self

    def health(self) -> str:
        return (http_get(f"{self.url}/_stcore/health") or "").strip()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)


@pytest.fixture
def app_server(tmp_path, settings) -> Iterator[AppServer]:
    from tests.corpusfactory import make_synthetic_corpus

    make_synthetic_corpus(settings, videos=2, shots_per_video=12)
    store = LabelStore(Catalog(settings.sql_url))
    store.create_label(LABEL, created_by="test")
    store.catalog.close()
    server = AppServer(settings.data_dir, tmp_path / "streamlit.log").start()
    yield server
    server.kill()


def test_server_and_writer_killed_mid_stream_keep_every_acknowledged_click(
    tmp_path, settings, app_server
):
    url, ack = settings.sql_url, tmp_path / "writer-acks.txt"
    writer = subprocess.Popen(
        _writer_command(url, "writer", 1_000_000, ack, fsync=True),
        cwd=ROOT,
        env=_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    with Browser.maybe(app_server.url) as browser:
        _wait_for(lambda: len(read_acks(ack)) >= 200, [writer], "the writer never got going")
        browser.click_positive(4)  # acknowledged clicks through the app while the writer runs
        browser.click_positive(1, wait=False)  # one more in flight when the server dies
        app_server.kill()
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        acked = {"writer": read_acks(ack)}

        app_server.start()
        assert app_server.health() == "ok"
        browser.shows_positive(browser.acknowledged)  # a reload shows every acknowledged click
    assert_every_acknowledged_click_stored(url, acked, died=True)
    exported = _export(settings)
    writer_rows = [row for row in exported if row["annotator"] == "writer"]
    assert len(acked["writer"]) <= len(writer_rows) <= len(acked["writer"]) + 1
    web = {row["shot_id"] for row in exported if row["annotator"] == Browser.ANNOTATOR}
    assert set(browser.acknowledged) <= web


def _export(settings: Settings) -> list[dict[str, str]]:
    import csv

    out = settings.data_dir.parent / "export.csv"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "va_app",
            "annotations",
            "export",
            str(out),
            "--data-dir",
            str(settings.data_dir),
        ],
        cwd=ROOT,
        timeout=300,
        env=_env(VA_ENCODER="descriptor"),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    with out.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


class Browser:
    """Clicks "Positive" on the search page's cards in Chromium (skipped when unavailable)."""

    ANNOTATOR = "web"
    IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
    ARGS = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
    ]

    def __init__(self, base_url: str, page) -> None:
        self.base_url, self.page = base_url, page
        self.acknowledged: list[str] = []
        self._next = 0

    @classmethod
    @contextmanager
    def maybe(cls, base_url: str) -> Iterator[Browser | _NoBrowser]:
        chromium = Path("/usr/bin/chromium")
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            sync_playwright = None
        if sync_playwright is None or not chromium.is_file():
            yield _NoBrowser()
            return
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium), args=cls.ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(60_000)
            driver = cls(base_url, page)
            driver.open()
            yield driver
            browser.close()

    def open(self) -> None:
        self.page.goto(f"{self.base_url}/search?annotator={self.ANNOTATOR}&label={LABEL}")
        # A freshly (re)started server imports torch and opens the corpus on its first run:
        # under load that alone can take a minute.
        self.page.wait_for_selector('[class*="st-key-pos-search-"] button', timeout=180_000)
        self.page.wait_for_selector(self.IDLE)
        assert self.page.locator('[data-testid="stException"]').count() == 0

    def _cards(self):
        return self.page.locator('[class*="st-key-pos-search-"]')

    def click_positive(self, n: int, *, wait: bool = True) -> None:
        for _ in range(n):
            card = self._cards().nth(self._next)
            shot_id = _shot_of(card.get_attribute("class"))
            card.locator("button").click()
            self._next += 1
            if wait:  # the card turns primary only after the click was written through
                card.get_by_test_id("stBaseButton-primary").wait_for()
                self.page.wait_for_selector(self.IDLE)
                self.acknowledged.append(shot_id)

    def shows_positive(self, shot_ids: Sequence[str]) -> None:
        self.open()
        for shot_id in shot_ids:
            key = "st-key-pos-search-" + re.sub(r"[^a-zA-Z0-9_-]", "-", shot_id)
            primary = self.page.locator(f".{key} [data-testid='stBaseButton-primary']")
            assert primary.count() == 1, f"after the restart {shot_id} is not shown as positive"


class _NoBrowser:
    acknowledged: list[str] = []

    def click_positive(self, n: int, *, wait: bool = True) -> None:
        return None

    def shows_positive(self, shot_ids: Sequence[str]) -> None:
        return None


def _shot_of(css_class: str) -> str:
    """The shot id in a card button's ``st-key-pos-search-<id>`` class ("|" became "-")."""
    key = next(c for c in css_class.split() if c.startswith("st-key-pos-search-"))
    video, _, frame = key.removeprefix("st-key-pos-search-").rpartition("-")
    return f"{video}|{frame}"


# -- 3. ingest killed at random points ------------------------------------------------------
N_VIDEOS = 10
SHOTS_PER_VIDEO = 3
N_KILLS = 4
# After the ingest has started its target video, wait this long (uniform) before the kill:
# about one video's work here, so it lands anywhere in decode / SQL / h5 / Chroma / clusters.
KILL_DELAY_S = (0.0, 0.3)
KILL_SEED = int(os.environ.get("VA_DURABILITY_SEED", "0"))


def test_ingest_killed_at_random_points_then_rerun_is_consistent(tmp_path, settings):
    from tests.videogen import make_cut_video
    from va_app.store.matrix import EmbeddingMatrix
    from va_app.store.opening import open_corpus

    videos = tmp_path / "videos"
    for i in range(N_VIDEOS):
        make_cut_video(videos / f"clip_{i:02d}.mp4", cuts=[0, 30, 75, 120], seed=i)
    env = _env(VA_DATA_DIR=str(settings.data_dir), VA_ENCODER="descriptor")
    command = [sys.executable, "-m", "va_app", "ingest", str(videos)]
    rng = random.Random(KILL_SEED)
    kills = []
    for kill in range(N_KILLS):
        target = _kill_target(rng, _video_rows(settings, ready=True), N_KILLS - kill)
        delay = rng.uniform(*KILL_DELAY_S)
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        _wait_for(
            lambda target=target: _video_rows(settings) >= target,
            [proc],
            f"ingest run {kill} never reached video {target}",
            exit_ok=True,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        kills.append((target, round(delay, 2), _video_rows(settings)))
        assert integrity_check(settings.sql_url) == "ok", kills
        EmbeddingMatrix(settings.embeddings_path).ids()  # still readable, whatever was cut off
        if kill % 2:  # a reader opening the corpus now repairs it; otherwise the next ingest does
            corpus = open_corpus(settings)
            state = corpus.consistency()
            corpus.close()
            assert state.ok, (kills, state.problems)
    final = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    _assert_complete_corpus(settings, N_VIDEOS, N_VIDEOS * SHOTS_PER_VIDEO)


@pytest.mark.parametrize("damage", ["cut-off", "lost", "older-copy"])
def test_damaged_embeddings_file_is_rebuilt_by_the_next_ingest(tmp_path, settings, damage):
    """An h5 file cut off mid-write, deleted, or restored from an older copy: the next ingest
    sets it aside, encodes the videos whose vectors are gone again, and annotations stay."""
    from tests.videogen import make_cut_video
    from va_app.ingest import ingest

    videos = tmp_path / "videos"
    make_cut_video(videos / "clip_00.mp4", cuts=[0, 30, 75, 120], seed=0)
    ingest(settings, videos)
    older = tmp_path / "older.h5"
    older.write_bytes(settings.embeddings_path.read_bytes())
    for i in (1, 2):
        make_cut_video(videos / f"clip_{i:02d}.mp4", cuts=[0, 30, 75, 120], seed=i)
    ingest(settings, videos)
    store = LabelStore(Catalog(settings.sql_url))
    store.create_label(LABEL)
    store.annotate(LABEL, "clip_02|30", True, annotator="ana")
    h5 = settings.embeddings_path
    if damage == "cut-off":
        h5.write_bytes(h5.read_bytes()[: h5.stat().st_size // 2])
    elif damage == "lost":
        h5.unlink()
    else:
        h5.write_bytes(older.read_bytes())

    report = ingest(settings, videos)
    redone = {"cut-off": 3, "lost": 3, "older-copy": 2}[damage]
    assert len(report.recovered_videos) == len(report.added_videos) == redone
    _assert_complete_corpus(settings, 3, 3 * SHOTS_PER_VIDEO)
    assert [(a.shot_id, a.value) for a in store.current(LABEL)] == [("clip_02|30", True)]
    assert len(list(settings.data_dir.glob("embeddings.h5.corrupt-*"))) == (damage == "cut-off")


def _kill_target(rng: random.Random, ready: int, kills_left: int) -> int:
    """The video during which to kill: spreads the kills over the videos still to do."""
    span = max(1, -(-(N_VIDEOS - ready) // kills_left))
    return min(N_VIDEOS, ready + rng.randint(1, span))


def _video_rows(settings: Settings, *, ready: bool = False) -> int:
    """Video rows in the catalog, read without taking any lock (the ingest keeps writing)."""
    path = settings.data_dir / "catalog.sqlite"
    if not path.exists():
        return 0
    query = "SELECT count(*) FROM videos" + (" WHERE status = 'ready'" if ready else "")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(query).fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


def _assert_complete_corpus(settings: Settings, videos: int, shots: int) -> None:
    from va_app.store.corpus import Corpus

    corpus = Corpus(settings)  # no repair on opening: the ingest itself must have left it right
    try:
        state = corpus.consistency()
        assert state.ok, state.problems
        assert (state.shots, state.embeddings, state.index) == (shots, shots, shots)
        ids = corpus.matrix.ids()
        assert len(ids) == len(set(ids)) == shots
        assert len(corpus.catalog.videos()) == videos
        assert sorted(corpus.catalog.shot_ids(ready_only=False)) == sorted(ids)
        assert None not in corpus.catalog.clusters().values()
    finally:
        corpus.close()
    assert integrity_check(settings.sql_url) == "ok"


# -- entry point for the writer processes ----------------------------------------------------
def _main(argv: list[str]) -> int:
    if argv[:1] != ["annotate"]:
        print(__doc__, file=sys.stderr)
        return 2
    url, label, annotator, n, ack, go, *flags = argv[1:]
    annotate_stream(
        url,
        label,
        annotator,
        int(n),
        Path(ack),
        go_path=Path(go) if go else None,
        fsync="fsync" in flags,
    )
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
