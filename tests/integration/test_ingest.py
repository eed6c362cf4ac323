"""Ingest end to end: real generated videos → SQL + h5 + Chroma, bad files, kills, re-runs."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import open_services
from tests.videogen import make_cut_video, make_empty_file, make_text_file
from va_app.errors import EncoderMismatchError, NotFoundError
from va_app.ingest import ingest
from va_app.learn.matrix import CorpusMatrix
from va_app.search.shots import ShotSearch
from va_app.services.bootstrap import Services
from va_app.services.reads import describe_corpus
from va_app.store.catalog import Catalog
from va_app.store.labels import LabelStore
from va_app.store.opening import open_corpus

ROOT = Path(__file__).resolve().parents[2]
CUTS = [0, 30, 75, 120]


def _videos(folder: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        path = folder / f"clip_{i:02d}.mp4"
        make_cut_video(path, cuts=CUTS, seed=i)
        paths.append(path)
    return paths


def _assert_consistent(settings, shots: int) -> None:
    corpus = open_corpus(settings)
    state = corpus.consistency()
    assert state.ok, state.problems
    assert (state.shots, state.embeddings, state.index) == (shots, shots, shots)
    ids = corpus.matrix.ids()
    assert len(ids) == len(set(ids))
    corpus.close()


def test_ingest_stores_every_shot_in_all_three_stores_and_survives_reopening(tmp_path, settings):
    _videos(tmp_path / "videos", 3)
    report = ingest(settings, tmp_path / "videos")
    assert report.added_shots == 9 and not report.skipped
    _assert_consistent(settings, 9)
    shots = Catalog(settings.sql_url).shots()
    assert [s.start_frame for s in shots[:3]] == CUTS[:3]
    assert all(Path(s.thumb_path).is_file() and Path(s.filmstrip_path).is_file() for s in shots)
    assert {s.cluster for s in shots} - {None} and None not in {s.cluster for s in shots}


def _what_readers_see(ws: Services) -> dict[str, int]:
    """Shots as Home counts them, as the build (the app's cached matrix, and a fresh load by
    another process) and as search (over that matrix, with metadata) see them."""
    matrix = ws.view.matrix
    search = ShotSearch.from_corpus(ws.corpus, matrix)
    return {
        "home": describe_corpus(ws.corpus)["shots"],
        "build": matrix.n_shots,
        "fresh load": CorpusMatrix.load(ws.corpus).n_shots,
        "search": int((search.table.video_of_row >= 0).sum()),
    }


def test_a_shot_is_visible_to_counts_search_and_build_at_once_or_to_none(
    tmp_path, settings, monkeypatch
):
    _videos(tmp_path / "videos", 1)
    ingest(settings, tmp_path / "videos")
    ws = open_services(settings)  # long-lived, as in the app: its matrix stays loaded
    assert set(_what_readers_see(ws).values()) == {3}
    mark_ready, seen = Catalog.mark_video_ready, {}

    def spy(catalog, video_id):  # the new video's vectors are stored, it is not ready yet
        seen.setdefault("vectors stored", _what_readers_see(ws))
        mark_ready(catalog, video_id)

    def progress(done, total, name):
        if done == 2:  # clip_01 is ready, clip_02 not started, nothing clustered yet
            seen["ready, not clustered"] = _what_readers_see(ws)

    monkeypatch.setattr(Catalog, "mark_video_ready", spy)
    for i in (1, 2):  # two new files beside the ingested clip_00
        make_cut_video(tmp_path / "videos" / f"clip_{i:02d}.mp4", cuts=CUTS, seed=i)
    ingest(settings, tmp_path / "videos", progress=progress)
    assert seen == {
        "vectors stored": dict.fromkeys(seen["vectors stored"], 3),
        "ready, not clustered": dict.fromkeys(seen["vectors stored"], 6),
    }
    assert set(_what_readers_see(ws).values()) == {9}
    ws.close()


def test_reingest_adds_nothing_and_a_changed_file_is_replaced(tmp_path, settings):
    videos = _videos(tmp_path / "videos", 2)
    ingest(settings, tmp_path / "videos")
    again = ingest(settings, tmp_path / "videos")
    assert again.added_shots == 0 and len(again.unchanged_videos) == 2
    make_cut_video(videos[0], cuts=[0, 40, 120], seed=9)
    changed = ingest(settings, tmp_path / "videos")
    assert changed.replaced_videos == [str(videos[0])]
    _assert_consistent(settings, 2 + 3)


def test_bad_files_are_skipped_with_reasons_and_the_good_ones_ingested(tmp_path, settings):
    folder = tmp_path / "mixed"
    _videos(folder, 2)
    make_empty_file(folder / "empty.mp4")
    make_text_file(folder / "notes.mp4")
    report = ingest(settings, folder)
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(reasons) == {"empty.mp4", "notes.mp4"}
    assert "empty" in reasons["empty.mp4"] and "not a video" in reasons["notes.mp4"]
    _assert_consistent(settings, 6)
    info = _cli(settings, "info", "--json")
    assert {Path(s["path"]).name for s in info["skipped"]} == {"empty.mp4", "notes.mp4"}


def test_annotations_survive_reingesting_a_changed_video(tmp_path, settings):
    videos = _videos(tmp_path / "videos", 1)
    ingest(settings, tmp_path / "videos")
    store = LabelStore(Catalog(settings.sql_url))
    store.create_label("night")
    store.annotate("night", "clip_00|30", True, annotator="ana")
    os.utime(videos[0], ns=(time.time_ns(), time.time_ns()))  # same shots, new fingerprint
    ingest(settings, tmp_path / "videos")
    assert [a.shot_id for a in store.current("night")] == ["clip_00|30"]


def test_missing_folder_and_other_encoder_are_clear_errors(tmp_path, settings):
    with pytest.raises(NotFoundError):
        ingest(settings, tmp_path / "nope")
    _videos(tmp_path / "videos", 1)
    ingest(settings, tmp_path / "videos")
    other = type(
        "Other", (), {"id": "other:v1", "dim": 8, "has_text": False, "frames_per_shot": 1}
    )()
    make_cut_video(tmp_path / "videos" / "new.mp4", cuts=[0, 40, 80], seed=5)
    with pytest.raises(EncoderMismatchError, match="descriptor:v2"):
        ingest(settings, tmp_path / "videos", encoder=other)


def test_ingest_killed_with_sigkill_then_rerun_ends_consistent(tmp_path, settings):
    _videos(tmp_path / "videos", 10)
    env = {**os.environ, "VA_DATA_DIR": str(settings.data_dir), "VA_ENCODER": "descriptor"}
    cmd = [sys.executable, "-m", "va_app", "ingest", str(tmp_path / "videos")]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _wait_for_ready_videos(settings, at_least=2, proc=proc)
    time.sleep(random.Random(0).uniform(0.0, 0.3))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    _assert_consistent(settings, 30)
    assert len(Catalog(settings.sql_url).videos()) == 10


def _wait_for_ready_videos(settings, *, at_least: int, proc) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if settings.embeddings_path.exists():
            try:
                if len(Catalog(settings.sql_url).videos()) >= at_least:
                    return
            except Exception:  # noqa: BLE001 — the database may be mid-creation
                pass
        time.sleep(0.05)
    pytest.fail("the ingest never got going")


def _cli(settings, *args: str) -> dict:
    env = {**os.environ, "VA_DATA_DIR": str(settings.data_dir), "VA_ENCODER": "descriptor"}
    out = subprocess.run(
        [sys.executable, "-m", "va_app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout)
