"""A full disk: every writer stops with the reason, nothing acknowledged is lost, the corpus is
consistent afterwards (``check`` passes) and the same action succeeds once there is space.

The disk is a real one that really fills (a small tmpfs, ``tests/conftest.py:small_disk``; the
tests need root to mount it and skip without). Covered: a decision from the card grid (refused
with 507, kept by the browser, written once when space returns), ingest (refused before a video
is written when it cannot fit; a disk that fills while a video is written stops the run, the
next run cleans up and finishes), an annotation import and a backup to a full disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import TESTER, open_services
from tests.videogen import make_cut_video
from va_app.config import Settings
from va_app.errors import DiskFullError
from va_app.ingest import commit, ingest
from va_app.services import health, reads
from va_app.services.access import Role, User
from va_app.services.decisions import RecentDecisions
from va_app.store.index import forget_cached_clients
from va_app.ui.grid import endpoint

ROOT = Path(__file__).resolve().parents[2]
LABEL = "night"
CUTS = [0, 30, 60, 90, 120, 150]
ANA = User("ana", role=Role.ADMIN)
pytestmark = [pytest.mark.both_backends, pytest.mark.slow]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("full-disk-videos")
    for i in range(4):
        make_cut_video(folder / f"clip_{i}.mp4", cuts=CUTS, size=(320, 192), seed=i)
    return folder


@pytest.fixture
def corpus_on_small_disk(small_disk, videos, database_url, tmp_path) -> Settings:
    """One video ingested into a data dir on the small disk, two of its shots annotated."""
    first = tmp_path / "first"
    first.mkdir()
    shutil.copy(videos / "clip_0.mp4", first)
    settings = Settings(
        data_dir=small_disk.path / "data", encoder="descriptor", database_url=database_url
    ).with_data_dir(small_disk.path / "data")
    assert ingest(settings, first, workers=1).added_shots == len(CUTS) - 1
    app = open_services(settings)
    try:
        app.labelling.create_label(TESTER, LABEL)
        shots = reads.shot_ids(app)
        votes = [(shots[0], True), (shots[1], False)]
        app.labelling.record(TESTER, LABEL, votes, source="search", annotator="ana")
    finally:
        app.close()
    return settings


def _history(settings: Settings) -> list[tuple[str, bool | None, str]]:
    app = open_services(settings)
    try:
        return [(a.shot_id, a.value, a.annotator) for a in reads.history(app, LABEL)]
    finally:
        app.close()


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "VA_ENCODER": "descriptor",
        "VA_DATABASE_URL": settings.database_url,
        "VA_DATA_DIR": str(settings.data_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "va_app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _refused_cleanly(done: subprocess.CompletedProcess, *words: str) -> str:
    """A non-zero exit with one ``error:`` line naming ``words`` and no traceback."""
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("error:"))
    for word in words:
        assert word in line, line
    return line


def _consistent(settings: Settings) -> None:
    report = health.check(settings)
    assert report.ok, [p.what for p in report.problems]


def test_a_decision_on_a_full_disk_is_refused_kept_and_written_once_later(
    corpus_on_small_disk, small_disk, sql_backend
):
    if sql_backend != "sqlite":
        pytest.skip("the PostgreSQL catalog is on the server's disk, not the data dir's")
    settings = corpus_on_small_disk
    before = _history(settings)
    app = open_services(settings)
    try:
        ticket = endpoint.Ticket(app, ANA, LABEL, "search", RecentDecisions(), {})
        shot = reads.shot_ids(app)[2]
        batch = {
            "label": LABEL,
            "items": [{"seq": 1, "id": uuid.uuid4().hex, "shot_id": shot, "value": True}],
        }
        small_disk.fill()
        refused = endpoint.handle_decisions(ticket, batch)
        assert refused.status == 507 and refused.body["retry"] is True
        assert "is full" in refused.body["error"] and "free some space" in refused.body["error"]
        assert refused.body["rejected"] == []  # kept unsaved by the browser, not dropped
        small_disk.free_up()
        written = endpoint.handle_decisions(ticket, batch)  # the browser sends it again
        assert written.status == 200 and written.body["confirmed"] == [batch["items"][0]["id"]]
        assert endpoint.handle_decisions(ticket, batch).status == 200
    finally:
        app.close()
    assert _history(settings) == before + [(shot, True, "ana")]
    _consistent(settings)


def test_ingest_that_cannot_fit_stops_before_writing_and_resumes(
    corpus_on_small_disk, small_disk, videos
):
    settings = corpus_on_small_disk
    before = _history(settings)
    small_disk.fill(leave=1 << 20)
    done = _cli(settings, "ingest", str(videos), "--workers", "1")
    _refused_cleanly(done, "MB free", "run ingest again")
    _consistent(settings)
    small_disk.free_up()
    done = _cli(settings, "ingest", str(videos), "--workers", "1")
    assert done.returncode == 0, done.stderr
    _consistent(settings)
    assert health.check(settings).facts["shots"] == (1 + 4) * (len(CUTS) - 1)
    assert _history(settings) == before


@pytest.mark.parametrize("leave_kb", [50, 200, 400])
def test_a_disk_that_fills_while_a_video_is_written_stops_the_run_and_the_next_cleans_up(
    corpus_on_small_disk, small_disk, videos, monkeypatch, leave_kb
):
    """With the room check off, the disk fills in the middle of a video's writes (SQL, h5,
    Chroma or a thumbnail, by how much is left): the run stops naming the disk, the next run
    (with space) removes the half-written video and finishes."""
    settings = corpus_on_small_disk
    before = _history(settings)
    monkeypatch.setattr(commit, "ROOM_MARGIN", -(1 << 40))
    small_disk.fill(leave=leave_kb << 10)
    with pytest.raises(DiskFullError, match="free some space"):
        ingest(settings, videos, workers=1)
    small_disk.free_up()
    forget_cached_clients()
    report = ingest(settings, videos, workers=1)
    assert not report.skipped
    _consistent(settings)
    assert _history(settings) == before


def test_an_import_on_a_full_disk_stores_nothing_then_everything(
    corpus_on_small_disk, small_disk, tmp_path, sql_backend
):
    if sql_backend != "sqlite":
        pytest.skip("the PostgreSQL catalog is on the server's disk, not the data dir's")
    settings = corpus_on_small_disk
    before = _history(settings)
    app = open_services(settings)
    shots = reads.shot_ids(app)
    app.close()
    rows = "".join(f"{LABEL},{s},{i % 2 == 0},bo\n" for i, s in enumerate(shots))
    csv = tmp_path / "import.csv"
    csv.write_text("label,shot_id,value,annotator\n" + rows, encoding="utf-8")
    small_disk.fill()
    _refused_cleanly(_cli(settings, "annotations", "import", str(csv)), "is full", "free some")
    small_disk.free_up()
    assert _history(settings) == before
    assert _cli(settings, "annotations", "import", str(csv)).returncode == 0
    assert len(_history(settings)) == len(before) + len(shots)
    _consistent(settings)


def test_a_backup_to_a_full_disk_stops_cleanly_and_leaves_no_partial_copy(
    small_disk, videos, database_url, tmp_path
):
    settings = Settings(
        data_dir=tmp_path / "data", encoder="descriptor", database_url=database_url
    ).with_data_dir(tmp_path / "data")
    assert ingest(settings, videos, workers=1).added_shots
    small_disk.fill(leave=64 << 10)
    dest = small_disk.path / "backup"
    _refused_cleanly(_cli(settings, "backup", str(dest)), "ran out of space", "no backup")
    assert not dest.exists()
    assert [p.name for p in small_disk.path.iterdir()] == [".filler"]  # no .partial left
    small_disk.free_up()
    assert _cli(settings, "backup", str(dest)).returncode == 0
    _consistent(settings)
