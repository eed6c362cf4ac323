"""Browser-test fixtures: a real ``streamlit run`` server on a demo corpus, and Chromium.

The server runs the app exactly as a user starts it (``python -m streamlit run app.py``) on a
private copy of a demo corpus built once per session; it can be restarted on the same data
directory and port. Chromium is Debian's (``/usr/bin/chromium``) driven by Playwright; the
module skips when it is missing. Screenshots go to ``VA_SCREENSHOT_DIR`` (default
``artifacts/screenshots``), whose path — and the measured click times — the end of the test
session prints, so CI's log shows where to look.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port, stop_process, wait_until_serving
from va_app.config import Settings
from va_app.datasets.demo.corpus import build_demo_corpus

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
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
#: Streamlit has finished the script run (the page is idle again).
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
#: The sidebar's links to the pages (va_app/ui/shell.py draws them with st.page_link).
NAV_LINK = '[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]'
#: The marks every browser test module carries: e2e, slow, and a skip with the fix where
#: Debian's Chromium is missing.
BROWSER_TESTS = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.is_file(),
        reason=f"{CHROMIUM} is missing: install Debian's chromium "
        "(run_tests.sh does, as root) to run the browser tests",
    ),
]
VIEWPORT = {"width": 1400, "height": 900}
DEMO_SHOTS = 60
SERVER_START_TIMEOUT_S = 90
# Records every change of Streamlit's script state, for the failure report.
RUN_LOG_SCRIPT = """
window.__vaTrace = true;  // the grid keeps its decisions' timings (window.__vaGrid)
window.__vaRuns = [];
const t0 = performance.now();
new MutationObserver(changes => { for (const c of changes) window.__vaRuns.push(
  [Math.round(performance.now() - t0), c.target.getAttribute('data-test-script-state')]); })
  .observe(document, {attributes: true, subtree: true,
                      attributeFilter: ['data-test-script-state']});
"""

# Filled by the tests, printed at the end of the session (pytest captures print()).
REPORT: dict[str, list[str]] = {"screenshots": [], "timings": []}


def screenshot_dir() -> Path:
    return Path(os.environ.get("VA_SCREENSHOT_DIR") or REPO / "artifacts" / "screenshots")


class StreamlitServer:
    """``streamlit run app.py`` as a child process on 127.0.0.1, restartable in place."""

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.extra_env, self.extra_args = dict(env or {}), tuple(args)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StreamlitServer:
        env = {
            **os.environ,
            "VA_DATA_DIR": str(self.data_dir),
            "VA_ENCODER": "descriptor",
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
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
            str(self.port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            *self.extra_args,
        ]
        with self.log_path.open("a") as log:
            log.write(f"\n--- start {' '.join(command)}\n")
            log.flush()
            self.process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_healthy()
        return self

    def stop(self) -> None:
        stop_process(self.process, timeout_s=15)

    def restart(self) -> None:
        self.stop()
        self.start()

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer ends it: no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def log_tail(self, n_chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-n_chars:]

    def _wait_healthy(self) -> None:
        try:
            wait_until_serving(
                self.process,
                f"{self.url}/_stcore/health",
                log=self.log_path,
                name="streamlit",
                ready=lambda body: body.strip() == "ok",
                timeout_s=SERVER_START_TIMEOUT_S,
            )
        except RuntimeError:
            self.stop()
            raise


@pytest.fixture(scope="session")
def e2e_demo_template(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("e2e-demo-template") / "data"
    build_demo_corpus(Settings(data_dir=data_dir, encoder="descriptor"), n_shots=DEMO_SHOTS)
    return data_dir


@pytest.fixture
def e2e_settings(e2e_demo_template, tmp_path) -> Settings:
    """A private copy of the demo corpus for one test."""
    data_dir = tmp_path / "data"
    shutil.copytree(e2e_demo_template, data_dir)
    return Settings(data_dir=data_dir, encoder="descriptor")


@pytest.fixture
def server(e2e_settings, tmp_path) -> Iterator[StreamlitServer]:
    app = StreamlitServer(e2e_settings.data_dir, tmp_path / "streamlit.log").start()
    yield app
    app.stop()


@pytest.fixture(scope="session")
def e2e_report() -> dict[str, list[str]]:
    """Screenshot names and timing lines to print at the end of the session."""
    return REPORT


@pytest.fixture(scope="module")
def browser() -> Iterator:
    # Module scope: Playwright's sync API runs an event loop while it is open, and other
    # modules (the durability tests) start their own Playwright afterwards.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request) -> Iterator:
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    tab.add_init_script(RUN_LOG_SCRIPT)
    tab.set_default_timeout(30_000)
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        out = screenshot_dir()
        out.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(out / f"FAILED-{request.node.name}.png"))
        print(
            f"at {tab.url}, script runs (ms since load, state): "
            f"{tab.evaluate('window.__vaRuns || []')}"
        )
        REPORT["screenshots"].append(f"FAILED-{request.node.name}.png")
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def pytest_terminal_summary(terminalreporter) -> None:
    if not (REPORT["screenshots"] or REPORT["timings"]):
        return
    terminalreporter.section("browser test")
    for line in REPORT["timings"]:
        terminalreporter.write_line(line)
    if REPORT["screenshots"]:
        terminalreporter.write_line(
            f"screenshots ({', '.join(REPORT['screenshots'])}) in: {screenshot_dir()}"
        )
