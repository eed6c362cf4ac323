"""While the vector index is incomplete, the search service says how far its build is, searches
exactly, and switches to the index once another writer has filled it (real Chroma, real h5)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import open_services
from va_app.search import shots as shot_search
from va_app.search.shots import PATH_EXACT, PATH_INDEX, SearchQuery
from va_app.services import reads
from va_app.services.bootstrap import Services
from va_app.store.corpus import Corpus
from va_app.store.index import VectorIndex
from va_app.store.schema import ShotRow, VideoRow

N, DIM = 120, 16


@pytest.fixture
def half_indexed(settings, monkeypatch) -> Services:
    # A corpus this small is searched exactly anyway; make it one that needs its index.
    monkeypatch.setattr(shot_search, "EXACT_MAX_VALUES", 0)
    corpus = Corpus(settings)
    rows = [
        ShotRow(id=f"v|{i}", idx=i, start_frame=i, end_frame=i + 1, start_s=i, end_s=i + 1, fps=1.0)
        for i in range(N)
    ]
    video_id = corpus.catalog.begin_video(VideoRow(key="v", path="/v.mp4", title="V"), rows)
    vectors = np.random.default_rng(0).normal(size=(N, DIM)).astype(np.float32)
    corpus.matrix.append([r.id for r in rows], vectors, encoder_id="test:v1")
    corpus.catalog.mark_video_ready(video_id)
    ids, x = corpus.matrix.load()
    corpus.index.add(ids[: N // 2], x[: N // 2])
    ws = open_services(settings, corpus=corpus)
    yield ws
    ws.close()


def test_an_incomplete_index_is_shown_with_its_progress_and_search_stays_exact(half_indexed):
    ws = half_indexed
    progress = reads.index_progress(ws)
    assert (progress.indexed, progress.total) == (N // 2, N)
    assert progress.describe().startswith(f"index building: {N // 2} of {N}")
    assert "searching exactly meanwhile" in progress.describe()
    assert ws.view.search.plan(10) == PATH_EXACT
    q = ws.view.matrix.X[100]
    hits = reads.search(ws, SearchQuery(vector=q), k=5).hits
    assert hits[0].shot_id == "v|100"  # exact search finds a shot that is not in the index


def test_search_switches_to_the_index_once_another_writer_filled_it(half_indexed, settings):
    ws = half_indexed
    reads.index_progress(ws)
    ids, x = ws.corpus.matrix.load()
    other = VectorIndex.from_settings(settings)  # e.g. `reindex` in another process
    other.add(ids[N // 2 :], x[N // 2 :])
    other.close()
    assert reads.index_progress(ws).complete
    assert reads.index_progress(ws) is None  # nothing left to show
    assert ws.view.search.index_in_step and ws.view.search.plan(10) == PATH_INDEX
    hits = reads.search(ws, SearchQuery(vector=x[100]), k=5).hits
    assert hits[0].shot_id == "v|100"
