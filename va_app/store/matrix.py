"""The embedding matrix: an N × D float32 h5 file, row i ↔ shot id ``ids[i]``.

Layout: dataset ``embeddings`` (N, D) float32, contiguous-chunked for fast appends, rows
L2-normalised; dataset ``ids`` (N,) UTF-8 strings; attributes ``encoder_id`` and ``dim``.
The file is opened per operation (h5 locks it while open), so the app and an ingest can share
it; a reader that finds it locked retries briefly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from va_app.encoders.base import l2_normalise, require_same_encoder
from va_app.errors import StoreError

EMBEDDINGS = "embeddings"
IDS = "ids"
# Appends grow the dataset in whole chunks; 1024 rows × 512 × 4 B = 2 MiB per chunk.
CHUNK_ROWS = 1024
# Another process holding the file open makes ours fail at once; wait for it this long.
LOCK_WAIT_S = 10.0
_STR = h5py.string_dtype("utf-8")


class CorruptMatrixError(StoreError):
    """The h5 file exists but HDF5 cannot read it (cut off mid-write, damaged, not HDF5)."""


class EmbeddingMatrix:
    """Append-mostly store of shot vectors; :meth:`load` reads it whole into memory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.exists()

    def info(self) -> tuple[int, int, str]:
        """``(rows, dim, encoder_id)``; ``(0, 0, "")`` when there is no file yet."""
        if not self.exists():
            return 0, 0, ""
        with self._open("r") as f:
            ds = f[EMBEDDINGS]
            return int(ds.shape[0]), int(ds.shape[1]), str(f.attrs.get("encoder_id", ""))

    def count(self) -> int:
        return self.info()[0]

    def ids(self) -> list[str]:
        if not self.exists():
            return []
        with self._open("r") as f:
            return [s.decode() if isinstance(s, bytes) else s for s in f[IDS][:]]

    def load(self, *, mmap: bool = False) -> tuple[list[str], np.ndarray]:
        """All ids and the whole ``(N, D)`` float32 matrix, read in one go.

        With ``mmap``, the matrix is a read-only memory map of the file where its layout
        allows (:func:`_mapped_vectors`): this returns once the ids are read, and the first
        pass over the matrix reads the pages from disk; the pages are the kernel's file cache,
        shared between processes, not a private copy. Elsewhere it is read as without.
        """
        if not self.exists():
            return [], np.zeros((0, 0), dtype=np.float32)
        with self._open("r") as f:
            ds = f[EMBEDDINGS]
            matrix = _mapped_vectors(self.path, ds) if mmap else None
            if matrix is None:
                matrix = np.empty(ds.shape, dtype=np.float32)
                if ds.shape[0]:
                    ds.read_direct(matrix)
            ids = [s.decode() if isinstance(s, bytes) else s for s in f[IDS][:]]
        return ids, matrix

    def rows_of(
        self, wanted: set[str], *, batch_rows: int
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """The rows whose id is in ``wanted``, in file order, read ``batch_rows`` rows of the
        file at a time (bounded memory at any size): ``(ids, vectors)`` per batch."""
        if not wanted or not self.exists():
            return
        try:
            with self._open("r") as f:
                ids = [s.decode() if isinstance(s, bytes) else s for s in f[IDS][:]]
                for start in range(0, len(ids), batch_rows):
                    rows = [
                        r
                        for r in range(start, min(start + batch_rows, len(ids)))
                        if ids[r] in wanted
                    ]
                    if rows:
                        block = f[EMBEDDINGS][rows[0] : rows[-1] + 1]
                        yield [ids[r] for r in rows], block[[r - rows[0] for r in rows]]
        except OSError as exc:
            raise StoreError(f"{self.path} could not be read ({exc})") from exc

    def append(
        self, ids: list[str], vectors: np.ndarray, *, encoder_id: str, normalise: bool = True
    ) -> None:
        """Add rows (L2-normalised here unless they already are); refuses vectors of another
        encoder or dimension."""
        vectors = np.atleast_2d(vectors)
        vectors = l2_normalise(vectors) if normalise else vectors.astype(np.float32, copy=False)
        if len(ids) != len(vectors):
            raise StoreError(f"{len(ids)} ids but {len(vectors)} vectors")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._open("a") as f:
            self._check_or_init(f, vectors.shape[1], encoder_id)
            ds, id_ds = f[EMBEDDINGS], f[IDS]
            start = ds.shape[0]
            ds.resize(start + len(ids), axis=0)
            id_ds.resize(start + len(ids), axis=0)
            ds[start:] = vectors
            id_ds[start:] = np.asarray(ids, dtype=object)
            f.flush()

    def keep_only(self, keep: set[str]) -> int:
        """Drop every row whose id is not in ``keep``; returns how many rows were dropped.

        Dropping a tail (the usual case: a half-ingested last video) shrinks in place;
        anything else rewrites the file to a temporary one and renames it over (atomic).
        """
        ids = self.ids()
        mask = np.fromiter((i in keep for i in ids), dtype=bool, count=len(ids))
        dropped = int((~mask).sum())
        if not dropped:
            return 0
        first_bad = int(np.argmin(mask))
        if mask[first_bad:].sum() == 0:
            self._truncate(first_bad)
        else:
            self._rewrite(mask)
        return dropped

    def check_encoder(self, encoder_id: str) -> None:
        """Refuse ``encoder_id`` when the file holds another encoder's vectors."""
        self._check_stored_encoder(self.info()[2], encoder_id)

    def _check_stored_encoder(self, stored: str, encoder_id: str) -> None:
        require_same_encoder(
            stored,
            encoder_id,
            (
                f"{self.path} holds vectors of encoder {stored!r}, not {encoder_id!r}: use the "
                "encoder the corpus was built with (VA_ENCODER / VA_CLIP_*), or a new VA_DATA_DIR"
            ),
        )

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)

    def set_aside(self) -> Path:
        """Rename an unreadable file out of the way (kept for inspection); returns its name."""
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(self.path, aside)
        return aside

    def _truncate(self, rows: int) -> None:
        with self._open("a") as f:
            f[EMBEDDINGS].resize(rows, axis=0)
            f[IDS].resize(rows, axis=0)
            f.flush()

    def _rewrite(self, mask: np.ndarray) -> None:
        ids, matrix = self.load()
        encoder_id = self.info()[2]
        tmp = self.path.with_suffix(".rewrite.h5")
        tmp.unlink(missing_ok=True)
        kept_ids = [i for i, keep in zip(ids, mask) if keep]
        EmbeddingMatrix(tmp).append(kept_ids, matrix[mask], encoder_id=encoder_id, normalise=False)
        if not kept_ids:
            with h5py.File(tmp, "a") as f:
                f.attrs["encoder_id"] = encoder_id
        os.replace(tmp, self.path)

    def _check_or_init(self, f: h5py.File, dim: int, encoder_id: str) -> None:
        if EMBEDDINGS not in f:
            f.create_dataset(
                EMBEDDINGS,
                shape=(0, dim),
                maxshape=(None, dim),
                dtype=np.float32,
                chunks=(CHUNK_ROWS, dim),
            )
            f.create_dataset(IDS, shape=(0,), maxshape=(None,), dtype=_STR, chunks=(CHUNK_ROWS,))
            f.attrs["encoder_id"] = encoder_id
            f.attrs["dim"] = dim
            return
        if f[EMBEDDINGS].shape[1] != dim:
            raise StoreError(
                f"{self.path} stores {f[EMBEDDINGS].shape[1]}-d vectors, got {dim}-d: "
                "the corpus was built with another encoder"
            )
        self._check_stored_encoder(str(f.attrs.get("encoder_id", "")), encoder_id)

    def _open(self, mode: str) -> h5py.File:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                return h5py.File(self.path, mode)
            except OSError as exc:  # BlockingIOError included
                # Not just "lock": a damaged file's message names "sblock" (the superblock).
                locked = isinstance(exc, BlockingIOError) or "lock file" in str(exc).lower()
                if locked and time.monotonic() > deadline:
                    raise StoreError(f"{self.path} is locked by another process") from None
                if locked:
                    time.sleep(0.05)
                    continue
                if not (self.path.is_file() and os.access(self.path, os.R_OK)):
                    raise StoreError(f"{self.path} could not be opened ({exc})") from exc
                # Readable bytes HDF5 cannot parse: cut off mid-write or damaged. Opening the
                # corpus (recover) sets it aside and the next ingest encodes its videos again.
                raise CorruptMatrixError(
                    f"{self.path} could not be opened ({exc}); it may be corrupt — "
                    "run `python -m va_app ingest` again to rebuild it from the videos"
                ) from exc


def _mapped_vectors(path: Path, ds: h5py.Dataset) -> np.ndarray | None:
    """The dataset's rows as a read-only memory map, or None when they are not stored as one
    plain byte range: uncompressed, unfiltered float32, either unchunked or in whole-row chunks
    laid out back to back in row order (what :meth:`EmbeddingMatrix.append` writes)."""
    rows, dim = ds.shape
    if (
        not rows
        or ds.dtype != np.float32
        or ds.compression
        or ds.shuffle
        or ds.fletcher32
        or ds.scaleoffset is not None
    ):
        return None
    if ds.chunks is None:
        offset, allocated = ds.id.get_offset(), rows
    else:
        offset, allocated = _back_to_back_chunks(ds)
    if offset is None:
        return None
    mapped = np.memmap(path, dtype=np.float32, mode="r", offset=offset, shape=(allocated, dim))
    return np.asarray(mapped[:rows])


def _back_to_back_chunks(ds: h5py.Dataset) -> tuple[int | None, int]:
    """``(file offset of the first chunk, rows allocated)`` when every chunk holds whole rows,
    is stored in full and follows the previous one in the file; ``(None, 0)`` otherwise."""
    chunk_rows, dim = ds.chunks
    if dim != ds.shape[1]:
        return None, 0
    chunk_bytes = chunk_rows * dim * ds.dtype.itemsize
    found: list[tuple[tuple[int, ...], int, int]] = []
    ds.id.chunk_iter(lambda info: found.append((info.chunk_offset, info.byte_offset, info.size)))
    if len(found) != -(-ds.shape[0] // chunk_rows):
        return None, 0
    start = found[0][1]
    for i, (where, byte_offset, size) in enumerate(found):
        if (
            where != (i * chunk_rows, 0)
            or size != chunk_bytes
            or byte_offset != start + i * chunk_bytes
        ):
            return None, 0
    return start, len(found) * chunk_rows
