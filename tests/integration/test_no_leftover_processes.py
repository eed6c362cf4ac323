"""The test run's own guard: a run that leaves a process behind fails, naming the process.

A small planted test suite runs under this suite's conftest (as a plugin) in a child pytest:
one test starts a detached ``sleep`` and returns without ending it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLANTED = """
import subprocess


def test_starts_a_detached_process_and_forgets_it():
    subprocess.Popen(["sleep", "317"], start_new_session=True)


def test_ends_what_it_starts():
    child = subprocess.Popen(["sleep", "318"])
    child.kill()
    child.wait()
"""


def _run(tmp_path: Path, source: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_planted.py").write_text(source, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "VA_TEST_RUN"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(ROOT / "pytest.ini"),
            "--rootdir",
            str(tmp_path),
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_planted.py"),
        ],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT), "VA_LEFTOVER_GRACE_S": "2"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _sleeping(seconds: str) -> list[str]:
    done = subprocess.run(["pgrep", "-f", f"^sleep {seconds}$"], capture_output=True, text=True)
    return done.stdout.split()


def test_a_run_that_leaves_a_process_behind_fails_and_names_it(tmp_path):
    done = _run(tmp_path, PLANTED)
    assert "2 passed" in done.stdout
    assert done.returncode == 1, done.stdout
    assert "processes left behind by the test run" in done.stdout
    assert "sleep 317" in done.stdout and "sleep 318" not in done.stdout
    assert _sleeping("317") == []  # and it was ended


def test_a_run_that_ends_what_it_starts_passes(tmp_path):
    done = _run(tmp_path, PLANTED.split("def test_starts")[0] + "def test_nothing():\n    pass\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "left behind" not in done.stdout


def test_a_killed_ingest_leaves_none_of_its_processes(tmp_path):
    """``kill -9`` of an ingest with a worker pool: its pool workers, forkserver and resource
    tracker end too (each worker watches the ingest process)."""
    import signal
    import time
    import uuid

    from tests.conftest import RUN_MARK, marked_processes
    from tests.videogen import make_cut_video

    for i in range(6):
        make_cut_video(tmp_path / "videos" / f"clip_{i}.mp4", cuts=[0, 40, 80], seed=i)
    run = uuid.uuid4().hex
    ingest = subprocess.Popen(
        [sys.executable, "-m", "va_app", "ingest", str(tmp_path / "videos"), "--workers", "2"],
        cwd=ROOT,
        env={
            **os.environ,
            RUN_MARK: run,
            "VA_DATA_DIR": str(tmp_path / "data"),
            "VA_ENCODER": "descriptor",
            "HF_HUB_OFFLINE": "1",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while len(marked_processes(run)) < 4 and time.monotonic() < deadline:  # pool running
        time.sleep(0.2)
    assert len(marked_processes(run)) >= 4, marked_processes(run)
    ingest.send_signal(signal.SIGKILL)
    ingest.wait(timeout=30)
    deadline = time.monotonic() + 30
    while marked_processes(run) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marked_processes(run) == []
