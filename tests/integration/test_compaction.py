"""The compacted, mapped matrix: opened without a per-shot read, served while rewritten, and
never left inconsistent by a ``kill -9`` — real h5 files, real SQL, real processes.

    python -m tests.integration.test_compaction compact-forever DATA_DIR
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import open_services
from tests.corpusfactory import make_synthetic_corpus
from va_app.config import Settings
from va_app.learn.matrix import CorpusMatrix
from va_app.search.shots import ShotTable
from va_app.store.corpus import Corpus, ingest_lock
from va_app.store.opening import open_corpus
from va_app.store.rowids import ShotIds

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.both_backends
KILLS = 6
KILL_SEED = int(os.environ.get("VA_DURABILITY_SEED", "0"))


def _snapshot(corpus: Corpus) -> tuple[list[str], np.ndarray, np.ndarray]:
    rows = corpus.visible_rows()
    return [i.decode() for i in rows.ids], np.array(rows.X), np.array(rows.clusters)


def test_a_compacted_corpus_opens_from_the_file_without_reading_per_shot(settings):
    make_synthetic_corpus(settings, videos=6, shots_per_video=20)
    corpus = Corpus(settings)
    try:
        assert corpus.matrix_is_current()
        fast = corpus.visible_rows()
        slow = corpus._visible_rows_from_catalog(corpus.matrix.open_mapped())
        assert fast.stamped and not slow.stamped
        for name in ("ids", "X", "clusters"):
            assert np.array_equal(getattr(fast, name), getattr(slow, name)), name
        matrix = CorpusMatrix.load(corpus)
        assert isinstance(matrix.ids, ShotIds) and matrix.n_shots == 120
        assert not matrix.X.flags.writeable and not matrix.X.flags.owndata  # a map
        assert matrix.rows(["movie03|48", "nope|0", "movie00|0"]).tolist() == [
            matrix.ids.index("movie03|48"),
            0,
        ]
        stored = ShotTable.from_video_ids(corpus.catalog, matrix.video_ids, matrix.duration_s)
        listed = ShotTable.from_catalog(corpus.catalog, list(matrix.ids))
        assert np.array_equal(stored.video_of_row, listed.video_of_row)
        assert np.array_equal(stored.duration_s, listed.duration_s)
        assert stored.titles == listed.titles and stored.genres == listed.genres
    finally:
        corpus.close()


def test_rows_of_a_video_being_ingested_stay_out_until_it_is_ready(settings):
    from va_app.store.schema import VideoRow

    make_synthetic_corpus(settings, videos=3, shots_per_video=10)
    corpus = Corpus(settings)
    try:
        before = CorpusMatrix.load(corpus)
        old = np.array(before.X)
        shots = _shot_rows("late", 4)
        video = corpus.catalog.begin_video(
            VideoRow(key="late", path="/late.mp4", title="Late"), shots
        )
        corpus.matrix.append([s.id for s in shots], np.ones((4, 32)), encoder_id="synthetic:v1")
        during = corpus.visible_rows()
        assert during.n_rows == 30 and during.mapped  # the stamp's rows: still current
        assert corpus.catalog.count_shots() == 30  # from the stamp's record
        corpus.catalog.mark_video_ready(video)
        assert corpus.catalog.count_shots() == 34  # the version moved: counted again
        now = corpus.visible_rows()
        assert now.n_rows == 34 and now.mapped and not now.stamped  # a view, no copy
        assert now.ordered_rows == 30  # the stamped rows, plus the catalog asked about 4
        slow = corpus._visible_rows_from_catalog(corpus.matrix.open_mapped())
        for name in ("ids", "X", "clusters"):
            assert np.array_equal(getattr(now, name), getattr(slow, name)), name
        after = CorpusMatrix.load(corpus)
        assert after.n_shots == 34 and after.ids[-1] == "late|3"
        assert after.rows(["late|2", "movie01|24", "late|9"]).tolist() == [32, 11]
        listed = ShotTable.from_catalog(corpus.catalog, list(after.ids))
        grown = ShotTable.from_video_ids(corpus.catalog, after.video_ids, after.duration_s)
        assert np.array_equal(grown.video_of_row, listed.video_of_row)
        with ingest_lock(settings):
            corpus.compact_matrix()
        assert corpus.visible_rows().stamped and corpus.visible_rows().n_rows == 34
        assert np.array_equal(before.X, old)  # the first map still reads its rows
        gone = corpus.catalog.videos()[1]  # a video in the middle leaves the catalog
        corpus.catalog.delete_video(gone.id)
        assert corpus.catalog.count_shots() == 24 == len(corpus.catalog.shot_ids())
        assert corpus.visible_rows().n_rows == 24  # asked about every row again
    finally:
        corpus.close()


def test_an_app_keeps_serving_its_map_while_another_process_rewrites_the_file(settings):
    """The app's services map the file; another process appends a video and compacts (rename
    over): the old map stays whole, and the next look at the corpus maps the new file."""
    make_synthetic_corpus(settings, videos=4, shots_per_video=15)
    app = open_services(settings)
    try:
        old = app.view.matrix
        kept = np.array(old.X)
        loads = app.view.matrix_loads
        writer = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.integration.test_compaction",
                "add-video",
                str(settings.data_dir),
                settings.database_url,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert writer.returncode == 0, writer.stderr
        assert np.array_equal(old.X, kept)  # no SIGBUS, same vectors
        new = app.view.matrix
        assert app.view.matrix_loads == loads + 1 and new.n_shots == old.n_shots + 5
        assert new.ids[-1] == "extra|4" and np.array_equal(new.X[: old.n_shots], kept)
        assert app.corpus.visible_rows().stamped
    finally:
        app.close()


@pytest.mark.slow
def test_compaction_killed_at_random_points_leaves_a_consistent_corpus(settings):
    make_synthetic_corpus(settings, videos=40, shots_per_video=250, dim=384)
    corpus = Corpus(settings)
    ids, X, clusters = _snapshot(corpus)
    t0 = time.perf_counter()
    with ingest_lock(settings):
        corpus.compact_matrix()
    one_compaction = time.perf_counter() - t0
    corpus.close()
    rng = random.Random(KILL_SEED)
    outcomes = []
    for kill in range(KILLS):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.test_compaction",
                "compact-forever",
                str(settings.data_dir),
                settings.database_url,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "compacting", proc.stderr.read()
        if kill % 2:  # anywhere in a compaction (catalog reads, the write, rename, stamp)
            delay = rng.uniform(0, 2.5 * one_compaction)
            time.sleep(delay)
        else:  # while the new file is being written
            waited, extra = _when_a_rewrite_starts(settings.data_dir), rng.uniform(0, 0.005)
            time.sleep(extra)
            delay = waited + extra
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        half_written = bool(list(settings.data_dir.glob("embeddings.h5.rewrite-*")))
        corpus = open_corpus(settings)
        try:
            outcomes.append((kill, round(delay, 3), half_written))
            now = _snapshot(corpus)
            assert now[0] == ids, outcomes
            assert np.array_equal(now[1], X) and np.array_equal(now[2], clusters), outcomes
            assert corpus.matrix.count() == len(ids)
            if kill % 2:
                with ingest_lock(settings):
                    corpus.recover()  # also removes a half-written file
                assert not list(settings.data_dir.glob("embeddings.h5.rewrite-*")), outcomes
        finally:
            corpus.close()
    # Some kills landed mid-write (a half-written new file beside the intact old one).
    assert any(half for *_, half in outcomes), outcomes


def _when_a_rewrite_starts(data_dir: Path, timeout_s: float = 60) -> float:
    """Poll until a half-written matrix file appears; returns the seconds waited."""
    t0 = time.perf_counter()
    while not list(data_dir.glob("embeddings.h5.rewrite-*")):
        if time.perf_counter() - t0 > timeout_s:
            raise AssertionError("no compaction started writing")
        time.sleep(0.001)
    return time.perf_counter() - t0


# -- entry points for the writer processes ----------------------------------------------------
def _compact_forever(settings: Settings) -> None:
    corpus = Corpus(settings)
    print("compacting", flush=True)
    while True:
        with ingest_lock(settings):
            corpus.compact_matrix()


def _shot_rows(video: str, n: int) -> list:
    """``n`` one-second shots of a new video ``video`` (ids ``video|0`` …)."""
    from va_app.store.schema import ShotRow

    return [
        ShotRow(
            id=f"{video}|{i}",
            idx=i,
            start_frame=i,
            end_frame=i + 1,
            start_s=i,
            end_s=i + 1,
            fps=24.0,
        )
        for i in range(n)
    ]


def _add_video(settings: Settings) -> None:
    from va_app.store.schema import VideoRow

    corpus = Corpus(settings)
    with ingest_lock(settings):
        shots = _shot_rows("extra", 5)
        video = corpus.catalog.begin_video(
            VideoRow(key="extra", path="/extra.mp4", title="Extra"), shots
        )
        vectors = np.random.default_rng(3).normal(size=(5, corpus.matrix.info()[1]))
        corpus.matrix.append([s.id for s in shots], vectors, encoder_id="synthetic:v1")
        corpus.catalog.mark_video_ready(video)
        corpus.compact_matrix()
    corpus.close()


def _main(argv: list[str]) -> int:
    mode, data_dir, *url = argv
    settings = Settings(
        data_dir=Path(data_dir), encoder="descriptor", database_url=(url or [""])[0]
    )
    {"compact-forever": _compact_forever, "add-video": _add_video}[mode](settings)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
