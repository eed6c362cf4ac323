"""The matrix file is mapped, not read: real h5 files, appended, rewritten, of both layouts."""

import os

import h5py
import numpy as np
import pytest

from va_app.store.matrix import (
    EMBEDDINGS,
    EMBEDDINGS_F16,
    FLOAT16,
    FLOAT32,
    EmbeddingMatrix,
    RowFacts,
    write_legacy,
)


def _appended(path, batches: int, rows: int = 1500, dim: int = 24) -> EmbeddingMatrix:
    store = EmbeddingMatrix(path)
    rng = np.random.default_rng(0)
    for b in range(batches):
        store.append(
            [f"v{b}|{i}" for i in range(rows)], rng.normal(size=(rows, dim)), encoder_id="test:v1"
        )
    return store


def test_one_append_is_mapped_read_only_with_the_same_vectors(tmp_path):
    store = _appended(tmp_path / "e.h5", batches=1)
    ids, read = store.load()
    mapped_ids, mapped = store.load(mmap=True)
    assert mapped_ids == ids and np.array_equal(mapped, read)
    assert not mapped.flags.writeable and not mapped.flags.owndata  # a map, not a copy
    assert np.allclose(mapped @ read[7], read @ read[7])


def test_many_appends_stay_one_mappable_range_and_grow_by_rewriting(tmp_path):
    store = _appended(tmp_path / "e.h5", batches=5)  # 7,500 rows: grows past the first room
    ids, read = store.load()
    assert len(ids) == 7500 and ids[1500] == "v1|0"
    rows = store.open_mapped()
    assert rows is not None and rows.n_rows == 7500
    assert not rows.X.flags.writeable and np.array_equal(rows.X, read)
    assert [i.decode() for i in rows.ids[:2]] == ["v0|0", "v0|1"]
    with h5py.File(store.path, "r") as f:
        assert f[EMBEDDINGS].chunks is None  # contiguous: one byte range
        capacity = f[EMBEDDINGS].shape[0]
    assert capacity >= 7500


def test_a_reader_keeps_its_map_while_the_file_is_rewritten(tmp_path):
    """keep_only and compact write a new file and rename it over: the old map stays whole."""
    store = _appended(tmp_path / "e.h5", batches=2)
    before = store.open_mapped()
    first = np.array(before.X[:10])
    assert store.keep_only({f"v1|{i}" for i in range(1500)}) == 1500
    store.compact()
    assert np.array_equal(before.X[:10], first)  # the old inode, still mapped: no SIGBUS
    assert float(before.X[-1].sum()) == pytest.approx(float(np.asarray(before.X[-1]).sum()))
    after = store.open_mapped()
    assert after.n_rows == 1500 and after.ids[0] == b"v1|0"
    assert np.array_equal(after.X, before.X[1500:])


def test_ids_longer_than_the_stored_width_rewrite_the_file(tmp_path):
    store = _appended(tmp_path / "e.h5", batches=1, rows=10)
    long_id = "a-very-long-video-key/" * 8 + "|120"
    store.append([long_id], np.ones((1, 24)), encoder_id="test:v1")
    assert store.ids()[-1] == long_id and store.count() == 11


def test_compact_keeps_the_first_of_each_id_and_stamps_facts(tmp_path):
    store = _appended(tmp_path / "e.h5", batches=1, rows=6)
    store.append(["v0|2"], np.ones((1, 24)), encoder_id="test:v1")  # a repeated id
    facts = RowFacts(
        stamp="tok@3",
        ids=np.array([b"v0|2", b"v0|0"]),
        clusters=np.array([1, 4], np.int32),
        video_ids=np.array([7, 7], np.int64),
        duration_s=np.array([2.0, 1.5], np.float32),
    )
    _, before = store.load()
    assert store.compact({"v0|0", "v0|2", "gone|0"}, facts=facts) == 2
    rows = store.open_mapped()
    assert rows.stamp == "tok@3" and rows.stamp_rows == 2
    assert [i.decode() for i in rows.ids] == ["v0|0", "v0|2"]
    assert np.array_equal(rows.X, before[[0, 2]])  # the first v0|2, not the appended one
    assert rows.clusters.tolist() == [4, 1] and rows.video_ids.tolist() == [7, 7]
    assert rows.duration_s.tolist() == [1.5, 2.0]
    assert rows.ids[rows.id_order].tolist() == sorted(rows.ids.tolist())
    store.append(["v9|0"], np.ones((1, 24)), encoder_id="test:v1")
    later = store.open_mapped()
    assert later.n_rows == 3 and later.stamp_rows == 2  # appended rows are outside the stamp


def test_float16_copy_is_kept_in_step_with_appends(tmp_path):
    store = _appended(tmp_path / "e.h5", batches=1, rows=50)
    store.compact(precision=FLOAT16)
    assert store.precision() == FLOAT16
    store.append(["new|0"], np.full((1, 24), 0.2), encoder_id="test:v1")
    rows = store.open_mapped()
    assert rows.X16 is not None and rows.X16.dtype == np.float16
    assert np.allclose(rows.X16, rows.X, atol=1e-3) and rows.X16.shape == (51, 24)
    store.compact(precision=FLOAT32)
    with h5py.File(store.path, "r") as f:
        assert EMBEDDINGS_F16 not in f


def test_legacy_chunked_files_are_read_then_converted_by_the_first_write(tmp_path):
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(3000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"old|{i}" for i in range(3000)]
    write_legacy(tmp_path / "e.h5", ids, vectors, encoder_id="test:v1")
    store = EmbeddingMatrix(tmp_path / "e.h5")
    assert store.open_mapped() is None and not store.is_compact()
    assert store.info() == (3000, 16, "test:v1") and store.ids() == ids
    _, read = store.load()
    assert np.array_equal(read, vectors)
    store.append(["new|0"], vectors[:1], encoder_id="test:v1")
    assert store.is_compact() and store.ids() == [*ids, "new|0"]
    assert np.array_equal(store.open_mapped().X[:3000], vectors)


def test_a_free_slot_left_by_a_killed_append_is_reused(tmp_path):
    """An append killed after its vectors but before its ids leaves a free slot."""
    store = _appended(tmp_path / "e.h5", batches=1, rows=4)
    with h5py.File(store.path, "r") as f:
        at = f[EMBEDDINGS].id.get_offset() + 4 * 24 * 4
    with open(store.path, "r+b") as handle:
        handle.seek(at)
        handle.write(np.full(24, 9.0, np.float32).tobytes())  # a vector without its id
    assert store.count() == 4
    store.append(["v1|0"], np.ones((1, 24)), encoder_id="test:v1")
    assert store.ids()[-1] == "v1|0" and np.allclose(store.load()[1][-1], 1 / np.sqrt(24))


def test_rows_never_shown_at_the_end_are_freed_in_place(tmp_path):
    """An interrupted ingest's rows (never visible) are dropped without rewriting the file;
    anything else is rewritten beside it."""
    store = _appended(tmp_path / "e.h5", batches=2, rows=100)
    inode = os.stat(store.path).st_ino
    half = {f"v1|{i}" for i in range(100)}
    keep = {f"v0|{i}" for i in range(100)}
    assert store.keep_only(keep, never_shown=half) == 100
    assert os.stat(store.path).st_ino == inode and store.count() == 100  # in place
    store.append(["v2|0"], np.ones((1, 24)), encoder_id="test:v1")  # reuses a freed slot
    assert store.ids()[-1] == "v2|0" and store.count() == 101
    assert store.keep_only({f"v0|{i}" for i in range(1, 100)} | {"v2|0"}) == 1
    assert os.stat(store.path).st_ino != inode  # a row in the middle: a new file
