"""The vector index is filled by the product itself after an import: a background process,
one per corpus, resumable after ``kill -9`` — real Chroma, real processes.

    python -m tests.integration.test_index_job fill DATA_DIR STEP
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import TESTER
from tests.netflixfixture import make_netflix_dir
from va_app.config import Settings
from va_app.services import jobs
from va_app.store.corpus import Corpus
from va_app.store.index_job import _job_lock, fill_index, index_job_status, job_pid, start_index_job

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def imported(tmp_path, settings) -> Settings:
    """A Netflix-format corpus of 1,500 shots, imported: its index is empty."""
    fixture = make_netflix_dir(tmp_path / "release", n_videos=50, shots_per_video=30)
    jobs.import_netflix_data(settings, fixture.root, user=TESTER)  # index_job off: no job yet
    return settings


def _wait(condition, what: str, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_an_import_starts_a_background_job_that_fills_the_index(tmp_path, settings):
    on = replace(settings, index_job=True)
    fixture = make_netflix_dir(tmp_path / "release", n_videos=50, shots_per_video=30)
    jobs.import_netflix_data(on, fixture.root, user=TESTER)
    status = index_job_status(on)
    assert status.shots == 1500
    _wait(lambda: job_pid(on) is None and index_job_status(on).missing == 0, "the index job")
    corpus = Corpus(on)
    try:
        assert corpus.consistency().ok
    finally:
        corpus.close()
    log = index_job_status(on).log.read_text()
    assert "indexed 1500 shots" in log
    assert not start_index_job(on)  # nothing left to index: no second job


def test_one_job_per_corpus(imported):
    on = replace(imported, index_job=True)
    with _job_lock(on) as mine:  # as if a job ran
        assert mine and job_pid(on) is not None
        assert not start_index_job(on)
        assert fill_index(on) is None
    assert job_pid(on) is None


def test_a_job_killed_mid_way_is_finished_by_the_next(imported):
    command = [sys.executable, "-m", "tests.integration.test_index_job", "fill"]
    proc = subprocess.Popen(
        [*command, str(imported.data_dir), imported.database_url or "-", "100"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait(lambda: 300 <= index_job_status(imported).indexed, "a few steps")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    partly = index_job_status(imported).indexed
    assert 300 <= partly < 1500 and job_pid(imported) is None  # the kill released the lock
    assert fill_index(imported, step=400) == 1500 - partly  # only what was missing
    corpus = Corpus(imported)
    try:
        state = corpus.consistency()
        assert state.ok and state.index == 1500, state.problems
    finally:
        corpus.close()


def _main(argv: list[str]) -> int:
    _, data_dir, url, step = argv
    settings = Settings(
        data_dir=Path(data_dir), encoder="descriptor", database_url="" if url == "-" else url
    )
    fill_index(settings, step=int(step))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
