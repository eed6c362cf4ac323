"""Browser benchmark of the labelling loop: ``python -m va_app bench --browser [--shots N]``.

Serves a synthetic corpus (:func:`make_click_bench_corpus`: N shots, one label with 10 + 10
annotations and a built model) with ``streamlit run app.py``, drives Debian's Chromium with
Playwright, and on each of Search, Active learning and Review makes ``decisions`` label
decisions with the keyboard, one after the other at a person's pace:

- key → painted: the key event's time to the first paint after the card changed (the grid
  records both in ``window.__vaGrid``, kept only when the page sets ``window.__vaTrace``);
- key → committed: from pressing the key to the annotation row being readable in the store
  (this process polls the SQL catalog);
- key → confirmed: until the server's answer (the rerun's data) reached the card;
- page switch: a sidebar click until the new page's cards are there and Streamlit is idle.

The old path (one ``st.button`` per decision, ``VA_CARD_GRID=buttons``) is measured in the same
run on the same corpus as the reference: click → committed and click → page idle again.
Figures depend on the machine's load; the result says what it was.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
PAGES = {"search": "Search", "learn": "Active learning", "review": "Review"}
LABEL = "bench"
ANNOTATOR = "bench"
#: Pause between decisions: about a fast expert's pace, and it lets the previous answer land.
PAUSE_S = 0.15
COMMIT_TIMEOUT_S = 30


def run_browser_bench(
    data_dir: str | Path, *, decisions: int = 50, reference_decisions: int = 20
) -> dict:
    """Time keyboard decisions per page and the button path on an existing bench corpus."""
    data_dir = Path(data_dir)
    result: dict = {"decisions_per_page": decisions, "load_avg_before": _load()}
    with _server(data_dir, "keyboard") as url, _browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.add_init_script("window.__vaTrace = true")  # the grid keeps its timings
        for path in PAGES:
            result[path] = _keyboard_page(page, url, path, data_dir, decisions)
        result["page_switch_ms"] = _page_switches(page)
    with _server(data_dir, "buttons") as url, _browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        result["buttons_reference_search"] = _button_page(page, url, data_dir, reference_decisions)
    result["load_avg_after"] = _load()
    return result


# -- the keyboard grid ------------------------------------------------------------------------
def _keyboard_page(page, url: str, path: str, data_dir: Path, n: int) -> dict:
    _open(page, f"{url}/{path}?annotator={ANNOTATOR}&label={LABEL}")
    page.wait_for_selector(".va-card", timeout=120_000)
    page.evaluate("() => { window.__vaGrid.log = []; }")
    committed = []
    with _Store(data_dir) as store:
        for i in range(n):
            before = store.count()
            start = time.perf_counter()
            page.keyboard.press("p" if i % 2 == 0 else "n")
            store.wait_above(before)
            committed.append((time.perf_counter() - start) * 1000)
            if i % 20 == 19:  # back to the first card: every press is a new decision
                page.keyboard.press("Home")
            time.sleep(PAUSE_S)
    page.wait_for_function("() => window.__vaGrid.log.every(e => e.confirmed)", timeout=30_000)
    log = page.evaluate("() => window.__vaGrid.log")
    return {
        "key_to_painted_ms": _summary([e["painted"] - e["key"] for e in log]),
        "key_to_committed_ms": _summary(committed),
        "key_to_confirmed_ms": _summary([e["confirmed"] - e["key"] for e in log]),
        "decisions": len(log),
    }


def _page_switches(page) -> dict:
    times: dict[str, list[float]] = {}
    for path, title in [
        ("search", "Search"),
        ("learn", "Active learning"),
        ("review", "Review"),
        ("search", "Search"),
    ]:
        start = time.perf_counter()
        page.locator(
            '[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]', has_text=title
        ).click()
        page.locator("h1", has_text=title).wait_for()
        page.wait_for_selector(".va-card", timeout=60_000)
        page.wait_for_selector(IDLE)
        times.setdefault(path, []).append((time.perf_counter() - start) * 1000)
    return {path: round(statistics.median(t), 1) for path, t in times.items()}


# -- the old path: one st.button per decision ----------------------------------------------------
def _button_page(page, url: str, data_dir: Path, n: int) -> dict:
    _open(page, f"{url}/search?annotator={ANNOTATOR}&label={LABEL}")
    buttons = page.locator('[class*="st-key-pos-search-"], [class*="st-key-neg-search-"]')
    buttons.first.wait_for(timeout=120_000)
    committed, idle = [], []
    with _Store(data_dir) as store:
        for i in range(n):
            kind = "pos" if i % 2 == 0 else "neg"
            target = page.locator(f'[class*="st-key-{kind}-search-"]').nth(i % 10)
            target.scroll_into_view_if_needed()
            before = store.count()
            start = time.perf_counter()
            target.get_by_role("button").click()
            store.wait_above(before)
            committed.append((time.perf_counter() - start) * 1000)
            page.wait_for_timeout(30)  # the rerun has started once the row is there
            page.wait_for_selector(IDLE)
            idle.append((time.perf_counter() - start) * 1000)
            time.sleep(PAUSE_S)
    return {
        "click_to_committed_ms": _summary(committed),
        "click_to_idle_ms": _summary(idle),
        "decisions": n,
    }


# -- plumbing -------------------------------------------------------------------------------
class _Store:
    """Reads the annotation log straight from the SQLite catalog, as another process would."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "catalog.sqlite"

    def __enter__(self) -> _Store:
        self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        return self

    def __exit__(self, *exc) -> None:
        self.db.close()

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM annotations").fetchone()[0]

    def wait_above(self, before: int) -> None:
        deadline = time.perf_counter() + COMMIT_TIMEOUT_S
        while self.count() <= before:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"no annotation committed within {COMMIT_TIMEOUT_S} s")
            time.sleep(0.001)


class _server:
    def __init__(self, data_dir: Path, grid: str) -> None:
        self.data_dir, self.grid = data_dir, grid

    def __enter__(self) -> str:
        port = _free_port()
        env = {
            **os.environ,
            "VA_DATA_DIR": str(self.data_dir),
            "VA_CARD_GRID": self.grid,
            "HF_HUB_OFFLINE": "1",
        }
        self.log = open(self.data_dir / f"bench-streamlit-{self.grid}.log", "w")
        self.process = subprocess.Popen(
            [
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
            ],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while _health(url) != "ok":
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"streamlit did not start; see {self.log.name}")
            time.sleep(0.25)
        return url

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


class _browser:
    def __enter__(self):
        from playwright.sync_api import sync_playwright

        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        return self.browser

    def __exit__(self, *exc) -> None:
        self.browser.close()
        self.playwright.stop()


def _open(page, url: str) -> None:
    page.goto(url)
    page.locator("h1").first.wait_for(timeout=120_000)
    page.wait_for_selector(IDLE, timeout=120_000)


def _summary(values: list[float]) -> dict:
    values = sorted(v for v in values if v == v)  # NaN: a decision without a trace entry
    if not values:
        return {}
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return {
        "p50": round(statistics.median(values), 1),
        "p95": round(p95, 1),
        "max": round(values[-1], 1),
        "n": len(values),
    }


def _load() -> list[float]:
    return [round(x, 1) for x in os.getloadavg()]


def _health(url: str) -> str:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode().strip()
    except OSError:
        return ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
