"""The three stores (real SQL, real h5, real Chroma) and their repair after interruptions.

The catalog tests run on SQLite and on PostgreSQL (``both_backends``)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from va_app.config import Settings
from va_app.errors import EncoderMismatchError, StoreError
from va_app.store import catalog as catalog_module
from va_app.store.catalog import Catalog
from va_app.store.corpus import Corpus
from va_app.store.index import VectorIndex
from va_app.store.labels import LabelStore
from va_app.store.matrix import EmbeddingMatrix
from va_app.store.opening import open_corpus
from va_app.store.schema import ShotRow, VideoRow

DIM = 16
pytestmark = pytest.mark.both_backends


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


def _add_video(
    corpus: Corpus,
    key: str,
    n_shots: int,
    *,
    ready: bool = True,
    to_h5: bool = True,
    to_index: bool = True,
) -> list[str]:
    shots = [
        ShotRow(
            id=f"{key}|{i * 10}",
            idx=i,
            start_frame=i * 10,
            end_frame=i * 10 + 10,
            start_s=i / 2.4,
            end_s=(i + 1) / 2.4,
            fps=24.0,
        )
        for i in range(n_shots)
    ]
    video_id = corpus.catalog.begin_video(
        VideoRow(key=key, path=f"/videos/{key}.mp4", title=key.title()), shots
    )
    ids = [s.id for s in shots]
    vectors = _vectors(n_shots, seed=len(key))
    if to_h5:
        corpus.matrix.append(ids, vectors, encoder_id="test:v1")
    if to_index:
        corpus.index.add(ids, vectors)
    if ready:
        corpus.catalog.mark_video_ready(video_id)
    return ids


def test_matrix_appends_normalised_rows_and_reads_them_back(tmp_path):
    matrix = EmbeddingMatrix(tmp_path / "e.h5")
    matrix.append(["a|0", "a|5"], _vectors(2), encoder_id="enc:1")
    matrix.append(["b|0"], _vectors(1, seed=3), encoder_id="enc:1")
    ids, x = matrix.load()
    assert ids == ["a|0", "a|5", "b|0"]
    assert x.dtype == np.float32 and x.shape == (3, DIM)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    assert matrix.info() == (3, DIM, "enc:1")


def test_matrix_refuses_another_encoder_or_dimension(tmp_path):
    matrix = EmbeddingMatrix(tmp_path / "e.h5")
    matrix.append(["a|0"], _vectors(1), encoder_id="enc:1")
    with pytest.raises(EncoderMismatchError, match="enc:1"):
        matrix.append(["b|0"], _vectors(1), encoder_id="enc:2")
    with pytest.raises(StoreError, match="16-d"):
        matrix.append(["b|0"], np.ones((1, 8), np.float32), encoder_id="enc:1")
    assert matrix.count() == 1


def test_matrix_keep_only_drops_tail_and_middle_rows(tmp_path):
    matrix = EmbeddingMatrix(tmp_path / "e.h5")
    matrix.append([f"s|{i}" for i in range(6)], _vectors(6), encoder_id="enc:1")
    _, before = matrix.load()
    assert matrix.keep_only({f"s|{i}" for i in range(4)}) == 2
    assert matrix.keep_only({"s|0", "s|2", "s|3"}) == 1
    ids, after = matrix.load()
    assert ids == ["s|0", "s|2", "s|3"]
    np.testing.assert_array_equal(after, before[[0, 2, 3]])


def test_corrupt_matrix_file_gives_an_actionable_error(tmp_path):
    path = tmp_path / "e.h5"
    path.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(StoreError, match="ingest"):
        EmbeddingMatrix(path).count()


def test_index_query_finds_the_nearest_and_forgets_deleted_rows(tmp_path):
    index = VectorIndex(path=tmp_path / "chroma")
    x = _vectors(20)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index.add([f"v|{i}" for i in range(20)], x)
    hits = index.query(x[3], 5)
    assert hits[0].id == "v|3" and hits[0].similarity == pytest.approx(1.0, abs=1e-4)
    assert [h.similarity for h in hits] == sorted((h.similarity for h in hits), reverse=True)
    index.delete(["v|3"])
    assert index.count() == 19 and "v|3" not in {h.id for h in index.query(x[3], 5)}


def test_catalog_survives_reopening_and_lists_shots_in_order(settings):
    corpus = Corpus(settings)
    _add_video(corpus, "alpha", 3)
    corpus.close()
    catalog = Catalog(settings.sql_url)
    assert [s.id for s in catalog.shots()] == ["alpha|0", "alpha|10", "alpha|20"]
    assert catalog.shots(["alpha|20", "alpha|0"])[0].title == "Alpha"


def test_unfinished_video_is_invisible_and_recovery_removes_it_everywhere(settings):
    corpus = Corpus(settings)
    _add_video(corpus, "done", 4)
    _add_video(corpus, "half", 3, ready=False)  # killed before "ready"
    assert corpus.catalog.count_shots() == 4
    assert not corpus.consistency().ok
    assert corpus.recover() == ["half"]
    state = corpus.consistency()
    assert state.ok and (state.shots, state.embeddings, state.index) == (4, 4, 4)


def test_open_corpus_repairs_missing_index_rows_from_the_matrix(settings):
    corpus = Corpus(settings)
    _add_video(corpus, "alpha", 5, to_index=False)
    corpus.close()
    reopened = open_corpus(settings)
    state = reopened.consistency()
    assert state.ok and state.index == 5


def test_reindex_rebuilds_the_index_from_sql_and_h5(settings):
    corpus = Corpus(settings)
    _add_video(corpus, "alpha", 4)
    corpus.index.reset()
    assert corpus.index.count() == 0
    assert corpus.reindex() == 4
    assert corpus.consistency().ok


def test_reads_do_not_wait_for_a_writer_holding_the_lock(tmp_path, monkeypatch):
    """A page render reads while another process writes: it sees the last committed state at
    once; a write in the meantime waits for the lock (and, past the busy timeout, says so).
    SQLite only: its one write lock is what this is about (PostgreSQL locks rows)."""
    settings = Settings(data_dir=tmp_path / "data")
    corpus = Corpus(settings)
    ids = _add_video(corpus, "alpha", 3)
    corpus.close()
    monkeypatch.setattr(catalog_module, "SQLITE_BUSY_TIMEOUT_MS", 300)
    catalog = Catalog(settings.sql_url)
    labels = LabelStore(catalog)
    labels.create_label("night")
    labels.annotate("night", ids[0], True, annotator="ana")
    writer = sqlite3.connect(settings.data_dir / "catalog.sqlite", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another annotator's click, mid-transaction
    writer.execute("UPDATE videos SET title = title")
    try:
        assert [s.id for s in catalog.shots()] == ids
        assert [a.shot_id for a in labels.history("night")] == [ids[0]]
        assert labels.get_label("NIGHT").name == "night"
        with pytest.raises(StoreError, match="locked"):
            labels.annotate("night", ids[1], True, annotator="bo")
    finally:
        writer.rollback()
        writer.close()
    labels.annotate("night", ids[1], True, annotator="bo")
    assert len(labels.history("night")) == 2
    catalog.close()
