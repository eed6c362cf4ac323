"""The parallel ingest runners — a local process pool and Ray (real, local, 2 CPUs) — give the
corpus a serial ingest gives: the same shot ids, spans and vectors, the same skipped files
with their reasons; and killed mid-run with SIGKILL, the next run ends consistent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import ray

from tests.integration.test_ingest import _assert_consistent, _wait_for_ready_videos
from tests.videogen import make_cut_video, make_empty_file, make_text_file, make_truncated_video
from va_app.config import Settings
from va_app.ingest import ingest
from va_app.store.catalog import Catalog
from va_app.store.matrix import EmbeddingMatrix

ROOT = Path(__file__).resolve().parents[2]
N_VIDEOS = 6
SHOTS_PER_VIDEO = 3
BAD = {"notes.mp4": "not a video", "empty.mp4": "empty"}


@pytest.fixture(scope="module")
def ray_cluster() -> str:
    """One local Ray (2 CPUs) for the module: starting it costs seconds. Yields its address."""
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield context.address_info["address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """Good videos (one in a subfolder, with a name the others have too), a truncated one
    (its first frames are used) and two bad files. ``N_VIDEOS`` files in all are ingested."""
    folder = tmp_path_factory.mktemp("videos")
    for i in range(N_VIDEOS - 1):
        sub = folder / ("b" if i == N_VIDEOS - 2 else "a")
        make_cut_video(sub / f"clip_{i % (N_VIDEOS - 2):02d}.mp4", cuts=[0, 30, 75, 120], seed=i)
    make_truncated_video(folder / "cut.mp4", keep_fraction=0.5, cuts=[0, 40, 80, 120], seed=9)
    make_text_file(folder / "notes.mp4")
    make_empty_file(folder / "empty.mp4")
    return folder


@pytest.fixture(scope="module")
def serial(videos, tmp_path_factory) -> dict:
    """What the serial path (one video at a time, in this process) makes of ``videos``."""
    settings = _settings(tmp_path_factory.mktemp("serial"))
    report = ingest(settings, videos, workers=1)
    assert len(report.added_videos) == N_VIDEOS and len(report.skipped) == len(BAD)
    return _corpus_of(settings)


def _settings(folder: Path) -> Settings:
    return Settings(data_dir=folder / "data", encoder="descriptor")


def _corpus_of(settings: Settings) -> dict:
    shots = Catalog(settings.sql_url).shots()
    ids, matrix = EmbeddingMatrix(settings.embeddings_path).load()
    skipped = {Path(path).name: reason for path, reason in Catalog(settings.sql_url).skipped()}
    return {
        "spans": sorted((s.id, s.start_frame, s.end_frame) for s in shots),
        "vectors": dict(zip(ids, matrix)),
        "skipped": skipped,
    }


def _assert_same_corpus(got: dict, want: dict) -> None:
    assert got["spans"] == want["spans"]
    assert set(got["vectors"]) == set(want["vectors"])
    for shot_id, vector in want["vectors"].items():
        assert np.allclose(got["vectors"][shot_id], vector, atol=1e-6), shot_id
    assert got["skipped"] == want["skipped"]
    for name, words in BAD.items():
        assert words in got["skipped"][name]


def test_local_pool_ingest_gives_the_serial_corpus(videos, serial, tmp_path):
    settings = _settings(tmp_path)
    report = ingest(settings, videos, workers=2)
    assert {Path(s.path).name for s in report.skipped} == set(BAD)
    assert set(report.stage_seconds) == {"probe", "detect", "sample", "encode", "commit"}
    _assert_same_corpus(_corpus_of(settings), serial)
    _assert_consistent(settings, len(serial["vectors"]))


def test_ray_ingest_gives_the_serial_corpus(videos, serial, tmp_path, ray_cluster):
    settings = _settings(tmp_path)
    report = ingest(settings, videos, ray=True)
    assert {Path(s.path).name for s in report.skipped} == set(BAD)
    _assert_same_corpus(_corpus_of(settings), serial)
    _assert_consistent(settings, len(serial["vectors"]))
    again = ingest(settings, videos, ray=True)  # idempotent: nothing new to do
    assert again.added_shots == 0 and len(again.unchanged_videos) == N_VIDEOS


CUT_LIST = """\
TITLE: CUT
001  REEL1    V     C        00:00:00:00 00:00:01:06 00:00:00:00 00:00:01:06
002  REEL2    V     C        00:00:07:00 00:00:09:00 00:00:01:06 00:00:03:06
"""


@pytest.mark.parametrize("runner", ["pool", "ray"])
def test_every_runner_takes_the_shots_of_a_cut_list_beside_a_video(runner, tmp_path, request):
    make_cut_video(tmp_path / "videos" / "cut.mp4", cuts=[0, 30, 75, 120])
    (tmp_path / "videos" / "cut.edl").write_text(CUT_LIST)
    how = {"ray": True} if runner == "ray" else {"workers": 2}
    if runner == "ray":
        request.getfixturevalue("ray_cluster")
    settings = _settings(tmp_path)
    report = ingest(settings, tmp_path / "videos", **how)
    assert report.cut_list_videos == [str(tmp_path / "videos" / "cut.mp4")]
    shots = Catalog(settings.sql_url).shots()
    assert [(s.start_frame, s.end_frame) for s in shots] == [(0, 30), (30, 78)]


@pytest.mark.parametrize("runner", ["pool", "ray"])
def test_ingest_killed_mid_run_then_rerun_gives_the_serial_corpus(
    runner, videos, serial, tmp_path, request
):
    """The driver (the one committer) is SIGKILLed once some videos are in; the rerun ends
    consistent, with no duplicates and exactly the serial corpus."""
    settings = _settings(tmp_path)
    flags = ["--workers", "2"]
    if runner == "ray":  # the driver joins the module's Ray: its death leaves no cluster behind
        flags = ["--ray", request.getfixturevalue("ray_cluster")]
    # Encoder batches of one video, so that the committer writes video after video.
    env = {
        **os.environ,
        "VA_DATA_DIR": str(settings.data_dir),
        "VA_ENCODER": "descriptor",
        "VA_BATCH_SIZE": str(SHOTS_PER_VIDEO),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "va_app", "ingest", str(videos), *flags],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_ready_videos(settings, at_least=2, proc=proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(Catalog(settings.sql_url).videos()) < N_VIDEOS, "killed too late to tell"
    ingest(settings, videos, **({"ray": True} if runner == "ray" else {"workers": 2}))
    _assert_consistent(settings, len(serial["vectors"]))
    _assert_same_corpus(_corpus_of(settings), serial)


def test_a_pool_worker_killed_mid_video_is_replaced_and_its_video_tried_again(
    videos, serial, tmp_path, monkeypatch
):
    """The OOM killer or a decoder crash takes a worker down: the run goes on, nothing lost."""
    from va_app.ingest.local import LocalRunner

    result, killed = LocalRunner.result, []

    def kill_the_workers_once(runner, job, handle):
        if not killed:  # the pool is busy with the first videos: SIGKILL its processes
            killed.extend(p.pid for p in runner._pool._processes.values())
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
        return result(runner, job, handle)

    monkeypatch.setattr(LocalRunner, "result", kill_the_workers_once)
    report = ingest(_settings(tmp_path), videos, workers=2)
    assert killed and {Path(s.path).name for s in report.skipped} == set(BAD)
    _assert_same_corpus(_corpus_of(_settings(tmp_path)), serial)


def test_a_ray_worker_killed_mid_task_is_retried_by_ray(
    videos, serial, tmp_path, ray_cluster, monkeypatch
):
    """SIGKILL of the Ray worker running a video's task: Ray runs the task again
    (``max_retries``) and the corpus comes out as the serial one."""
    from va_app.ingest.ray_runner import RayRunner

    result, killed = RayRunner.result, []

    def kill_a_running_task_once(runner, job, handle):
        if not killed:
            killed.extend(_kill_running_prepare_tasks())
        return result(runner, job, handle)

    monkeypatch.setattr(RayRunner, "result", kill_a_running_task_once)
    report = ingest(_settings(tmp_path), videos, ray=True)
    assert killed and {Path(s.path).name for s in report.skipped} == set(BAD)
    _assert_same_corpus(_corpus_of(_settings(tmp_path)), serial)


def _kill_running_prepare_tasks(timeout_s: float = 30.0) -> list[int]:
    """SIGKILL the workers of this module's Ray (children of its raylet) that run a prepare
    task, once one does; returns their pids."""
    raylet = ray._private.worker._global_node.all_processes["raylet"][0].process.pid
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = [pid for pid in _children(raylet) if _cmdline(pid).startswith("ray::_prepare_parts")]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        if pids:
            return pids
        time.sleep(0.01)
    return []


def _children(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent
            ):
                pids.append(int(entry.name))
        except OSError:
            continue  # the process ended meanwhile
    return pids


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
