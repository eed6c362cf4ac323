"""A memory-mapped matrix load gives exactly the vectors a read gives (real h5 files)."""

import h5py
import numpy as np

from va_app.store.matrix import EMBEDDINGS, EmbeddingMatrix


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


def test_interleaved_appends_and_unchunked_files(tmp_path):
    store = _appended(tmp_path / "e.h5", batches=3)
    ids, read = store.load()
    _, fallback = store.load(mmap=True)  # chunks interleaved with the ids': read instead
    assert fallback.flags.writeable and np.array_equal(fallback, read)
    with h5py.File(store.path, "r") as f, h5py.File(tmp_path / "flat.h5", "w") as flat:
        flat.create_dataset(EMBEDDINGS, data=f[EMBEDDINGS][:])
        flat.create_dataset("ids", data=f["ids"][:])
    _, mapped = EmbeddingMatrix(tmp_path / "flat.h5").load(mmap=True)
    assert not mapped.flags.writeable and np.array_equal(mapped, read)
