"""The embedding matrix: one h5 file of shot vectors that every process maps instead of reading.

Layout (``va-mapped/1``): fixed-size, contiguous, uncompressed datasets with room to grow, so
each is one byte range the OS maps and shares between processes (the pages are the kernel's
file cache, not a private copy per app process):

- ``embeddings`` ``(capacity, D)`` float32, rows L2-normalised;
- ``ids`` ``(capacity,)`` fixed-width UTF-8 bytes; the used rows are the leading non-empty ids,
  an empty id is a free slot (never-written space is a hole in a sparse file);
- ``embeddings_f16`` ``(capacity, D)`` float16, only in corpora scored at lower precision
  (:data:`FLOAT16`; see ``va_app.learn.lowp`` and docs/scale.md);
- written by :meth:`EmbeddingMatrix.compact` for the first ``stamp_rows`` rows: ``clusters``
  (int32), ``id_order`` (the ids' sort order, for lookups without a dict), ``video_ids`` (int64,
  the catalog's) and ``duration_s`` (float32), valid while the catalog carries the same
  ``stamp`` (:meth:`Corpus.visible_rows <va_app.store.corpus.Corpus.visible_rows>`).

Writes never change a byte a reader may have mapped, and never truncate a mapped file (SIGBUS):

- :meth:`~EmbeddingMatrix.append` writes new rows into free slots with plain ``pwrite`` — the
  vectors first, the ids last, the h5 structure untouched — so a process killed mid-append
  leaves a free slot or a row no catalog shot names (removed by the next repair);
- anything else (dropping rows, growing, :meth:`~EmbeddingMatrix.compact`) writes a complete new
  file beside the old one, syncs it and renames it over (``os.replace``): a reader keeps the
  old file mapped until it reloads, and a kill leaves either file, whole.

Files of the earlier layout (chunked, resized per append, variable-length ids) are read as
before and rewritten into this one by the first write or compaction.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from va_app.encoders.base import l2_normalise, require_same_encoder
from va_app.errors import StoreError

EMBEDDINGS = "embeddings"
EMBEDDINGS_F16 = "embeddings_f16"
IDS = "ids"
CLUSTERS = "clusters"
ID_ORDER = "id_order"
VIDEO_IDS = "video_ids"
DURATIONS = "duration_s"
LAYOUT = "va-mapped/1"
FLOAT32, FLOAT16 = "float32", "float16"
# Legacy files grew by whole chunks of this many rows.
CHUNK_ROWS = 1024
# Another process holding the file open makes ours fail at once; wait for it this long.
LOCK_WAIT_S = 10.0
#: Free rows a new file keeps beyond its rows: a share of them (appends of the next ingests go
#: in place; growing rewrites the file), and at least MIN_CAPACITY rows in all.
HEADROOM = 0.25
MIN_CAPACITY = 1024
#: Ids are stored in at least this many bytes (shot ids are "<video key>|<frame>").
MIN_ID_BYTES = 32
#: Rows copied per step of a rewrite: 64k × 512 × 4 B = 128 MiB (bounded memory at any size).
COPY_ROWS = 65_536
_STR = h5py.string_dtype("utf-8")


class CorruptMatrixError(StoreError):
    """The h5 file exists but HDF5 cannot read it (cut off mid-write, damaged, not HDF5)."""


@dataclass(frozen=True, eq=False)
class MappedRows:
    """The used rows of a ``va-mapped/1`` file as read-only memory maps (no copies).

    ``ids`` are fixed-width bytes; ``X16`` is the float16 scoring copy where the file has one.
    ``clusters``, ``id_order``, ``video_ids`` and ``duration_s`` describe the first
    ``stamp_rows`` rows as they were when ``stamp`` was written (None without a stamp).
    """

    path: Path
    ids: np.ndarray
    X: np.ndarray
    X16: np.ndarray | None
    encoder_id: str
    stamp: str
    stamp_rows: int
    clusters: np.ndarray | None
    id_order: np.ndarray | None
    video_ids: np.ndarray | None
    duration_s: np.ndarray | None

    @property
    def n_rows(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True, eq=False)
class RowFacts:
    """What :meth:`EmbeddingMatrix.compact` stores beside the vectors, from the catalog: per
    shot id (``ids``, UTF-8 bytes, any order) its cluster (-1 = none), catalog video id and
    duration, and the catalog ``stamp`` they belong to."""

    stamp: str
    ids: np.ndarray
    clusters: np.ndarray
    video_ids: np.ndarray
    duration_s: np.ndarray

    def aligned(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(clusters, video_ids, duration_s)`` for the ids ``rows`` (-1, -1, NaN if unknown)."""
        clusters = np.full(len(rows), -1, dtype=np.int32)
        video_ids = np.full(len(rows), -1, dtype=np.int64)
        durations = np.full(len(rows), np.nan, dtype=np.float32)
        if len(self.ids) and len(rows):
            order = np.argsort(self.ids, kind="stable")
            at = order[np.minimum(np.searchsorted(self.ids, rows, sorter=order), len(order) - 1)]
            hit = self.ids[at] == rows
            clusters[hit] = self.clusters[at[hit]]
            video_ids[hit] = self.video_ids[at[hit]]
            durations[hit] = self.duration_s[at[hit]]
        return clusters, video_ids, durations


@dataclass(frozen=True)
class _Layout:
    """Where a ``va-mapped/1`` file keeps its datasets: byte offsets, capacity, id width."""

    capacity: int
    dim: int
    id_bytes: int
    vectors_at: int
    ids_at: int
    f16_at: int | None
    encoder_id: str


class EmbeddingMatrix:
    """The shot vectors of one corpus; see the module docstring for the file layout."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.exists()

    def info(self) -> tuple[int, int, str]:
        """``(rows, dim, encoder_id)``; ``(0, 0, "")`` when there is no file yet."""
        if not self.exists():
            return 0, 0, ""
        with self._open("r") as f:
            if _is_mapped(f):
                return _used_rows(f[IDS]), int(f.attrs["dim"]), str(f.attrs.get("encoder_id", ""))
            ds = f[EMBEDDINGS]
            return int(ds.shape[0]), int(ds.shape[1]), str(f.attrs.get("encoder_id", ""))

    def count(self) -> int:
        return self.info()[0]

    def is_compact(self) -> bool:
        """True when the file is in the mapped layout (False for a legacy file or none)."""
        if not self.exists():
            return False
        with self._open("r") as f:
            return _is_mapped(f)

    def precision(self) -> str:
        """:data:`FLOAT16` when the file keeps a float16 scoring copy, else :data:`FLOAT32`."""
        if not self.exists():
            return FLOAT32
        with self._open("r") as f:
            return FLOAT16 if EMBEDDINGS_F16 in f else FLOAT32

    def ids(self) -> list[str]:
        if not self.exists():
            return []
        with self._open("r") as f:
            return _decode(_read_ids(f))

    def id_array(self) -> np.ndarray:
        """The used rows' ids as bytes (``S`` dtype), read into memory."""
        if not self.exists():
            return np.zeros(0, dtype="S1")
        with self._open("r") as f:
            return _read_ids(f)

    def load(self, *, mmap: bool = False) -> tuple[list[str], np.ndarray]:
        """All ids and the whole ``(N, D)`` float32 matrix.

        With ``mmap``, the matrix is a read-only memory map of the file where its layout allows
        (the mapped layout, or a legacy file whose chunks lie back to back); elsewhere it is
        read into memory as without.
        """
        if not self.exists():
            return [], np.zeros((0, 0), dtype=np.float32)
        if mmap:
            mapped = self.open_mapped()
            if mapped is not None:
                return _decode(mapped.ids), mapped.X
        with self._open("r") as f:
            ids = _read_ids(f)
            matrix = _legacy_mapped_vectors(self.path, f[EMBEDDINGS]) if mmap else None
            if matrix is None:
                matrix = np.empty((len(ids), f[EMBEDDINGS].shape[1]), dtype=np.float32)
                if len(ids):
                    f[EMBEDDINGS].read_direct(matrix, np.s_[: len(ids)])
        return _decode(ids), matrix

    def open_mapped(self) -> MappedRows | None:
        """The used rows as memory maps, or None for a legacy (chunked) file or no file."""
        if not self.exists():
            return None
        with self._open("r") as f:
            if not _is_mapped(f):
                return None
            layout = _layout(f)
            rows = _used_rows(f[IDS])
            attrs = dict(f.attrs)
            extras = {name: _map_dataset(self.path, f[name]) for name in _STAMPED if name in f}
        stamp_rows = int(attrs.get("stamp_rows", 0)) if attrs.get("stamp") else 0
        stamped = stamp_rows and stamp_rows <= rows and all(n in extras for n in _STAMPED)
        return MappedRows(
            path=self.path,
            ids=_map(self.path, layout.ids_at, f"S{layout.id_bytes}", (rows,)),
            # With a float16 copy the float32 rows are read a few at a time (the funnel's last
            # stage): no read-ahead, or each row fetched 128 KiB of its neighbours (12k rows
            # took 15 s instead of 0.8 s from a cold 20 GB file, measured).
            X=_map(
                self.path,
                layout.vectors_at,
                np.float32,
                (rows, layout.dim),
                random_access=layout.f16_at is not None,
            ),
            X16=(
                None
                if layout.f16_at is None
                else _map(self.path, layout.f16_at, np.float16, (rows, layout.dim))
            ),
            encoder_id=layout.encoder_id,
            stamp=str(attrs.get("stamp", "")) if stamped else "",
            stamp_rows=stamp_rows if stamped else 0,
            **{_FIELD[name]: extras[name][:stamp_rows] if stamped else None for name in _STAMPED},
        )

    def rows_of(
        self, wanted: set[str], *, batch_rows: int
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """The rows whose id is in ``wanted``, in file order, read ``batch_rows`` rows of the
        file at a time (bounded memory at any size): ``(ids, vectors)`` per batch."""
        if not wanted or not self.exists():
            return
        try:
            with self._open("r") as f:
                ids = _decode(_read_ids(f))
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

    # -- writing -----------------------------------------------------------------------------
    def append(
        self, ids: list[str], vectors: np.ndarray, *, encoder_id: str, normalise: bool = True
    ) -> None:
        """Add rows (L2-normalised here unless they already are); refuses vectors of another
        encoder or dimension. Rows go into free slots in place; a file without room (or of the
        legacy layout) is rewritten with room first."""
        vectors = np.atleast_2d(vectors)
        vectors = l2_normalise(vectors) if normalise else vectors.astype(np.float32, copy=False)
        if len(ids) != len(vectors):
            raise StoreError(f"{len(ids)} ids but {len(vectors)} vectors")
        encoded = _encode(ids)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.exists():
            self._replace_with(_empty_source(vectors.shape[1]), encoder_id=encoder_id)
        layout, used = self._writable_layout(vectors.shape[1], encoder_id)
        width = max((len(i) for i in encoded), default=0)
        if used + len(ids) > layout.capacity or width > layout.id_bytes:
            self._rewrite(np.ones(used, dtype=bool), extra_rows=len(ids), id_bytes=width)
            layout, used = self._writable_layout(vectors.shape[1], encoder_id)
        if len(ids):
            _write_rows(self.path, layout, used, encoded, vectors)

    def reserve(self, rows: int, *, dim: int, encoder_id: str) -> None:
        """Make room for ``rows`` more rows now (one rewrite at most), so that a bulk writer's
        appends all go in place (an import of 500k rows would otherwise grow the file
        several times)."""
        if not self.exists():
            self._replace_with(_empty_source(dim), encoder_id=encoder_id, extra_rows=rows)
            return
        layout, used = self._writable_layout(dim, encoder_id)
        if used + rows > layout.capacity:
            self._rewrite(np.ones(used, dtype=bool), extra_rows=rows)

    def keep_only(self, keep: set[str], *, never_shown: Collection[str] = frozenset()) -> int:
        """Drop every row whose id is not in ``keep`` (and repeats of an id: the first row
        stays); returns how many rows were dropped.

        Rewrites the file (atomic rename), never in place: a reader keeps the old file mapped.
        Except when every dropped row is at the end and was ``never_shown`` (an interrupted
        ingest's rows, whose video never became visible, so no reader uses them): then their
        slots are freed in place — ids cleared last row first — without rewriting millions of
        rows on the way to opening the corpus.
        """
        if not self.exists():
            return 0
        ids = self.id_array()
        mask = _first_occurrences(ids) & np.isin(ids, _encode(keep))
        dropped = int((~mask).sum())
        if not dropped:
            return 0
        kept = int(mask.sum())
        tail = ids[kept:]
        if (
            self.is_compact()
            and mask[:kept].all()
            and never_shown
            and np.isin(tail, _encode(never_shown)).all()
        ):
            self._free_tail(kept, len(ids))
        else:
            self._rewrite(mask)
        return dropped

    def compact(
        self,
        keep: set[str] | np.ndarray | None = None,
        *,
        facts: RowFacts | None = None,
        precision: str | None = None,
    ) -> int:
        """Rewrite the file with its rows back to back (only those in ``keep``, first of each
        id), room to grow and, with ``facts``, the stamped per-row facts; ``precision`` adds
        (:data:`FLOAT16`) or drops (:data:`FLOAT32`) the float16 scoring copy (None: as now).

        Written beside the old file, synced and renamed over it. Returns the rows kept.
        """
        ids = self.id_array()
        mask = _first_occurrences(ids)
        if keep is not None:
            mask &= np.isin(ids, keep if isinstance(keep, np.ndarray) else _encode(keep))
        self._rewrite(mask, facts=facts, precision=precision)
        return int(mask.sum())

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

    def remove_leftovers(self) -> list[Path]:
        """Delete half-written files of rewrites that were killed (call under the ingest lock)."""
        found = sorted(self.path.parent.glob(f"{self.path.name}.rewrite-*"))
        for path in found:
            path.unlink(missing_ok=True)
        return found

    def _free_tail(self, start: int, stop: int) -> None:
        """Clear the ids of rows ``[start, stop)``, last first: their slots become free, and
        the used rows stay the leading non-empty ids at every moment (a kill mid-way is fine)."""
        with self._open("r") as f:
            layout = _layout(f)
        fd = os.open(self.path, os.O_WRONLY)
        try:
            blank = bytes(layout.id_bytes)
            for row in range(stop - 1, start - 1, -1):
                os.pwrite(fd, blank, layout.ids_at + row * layout.id_bytes)
        finally:
            os.close(fd)

    def _writable_layout(self, dim: int, encoder_id: str) -> tuple[_Layout, int]:
        """The layout to append ``dim``-d rows of ``encoder_id`` to, converting a legacy file."""
        with self._open("r") as f:
            mapped = _is_mapped(f)
            stored_dim = int(f.attrs.get("dim", f[EMBEDDINGS].shape[1] if EMBEDDINGS in f else 0))
            stored_encoder = str(f.attrs.get("encoder_id", ""))
        if stored_dim != dim:
            raise StoreError(
                f"{self.path} stores {stored_dim}-d vectors, got {dim}-d: "
                "the corpus was built with another encoder"
            )
        self._check_stored_encoder(stored_encoder, encoder_id)
        if not mapped:
            self._rewrite(np.ones(self.count(), dtype=bool))
        with self._open("r") as f:
            return _layout(f), _used_rows(f[IDS])

    def _rewrite(
        self,
        mask: np.ndarray,
        *,
        extra_rows: int = 0,
        id_bytes: int = 0,
        facts: RowFacts | None = None,
        precision: str | None = None,
    ) -> None:
        """Write the rows ``mask`` keeps to a new file beside this one and rename it over."""
        with self._open("r") as f:
            source = _Source.of(self.path, f)
            if precision is None:
                precision = FLOAT16 if EMBEDDINGS_F16 in f else FLOAT32
            self._replace_with(
                source.selected(mask),
                encoder_id=source.encoder_id,
                extra_rows=extra_rows,
                id_bytes=id_bytes,
                facts=facts,
                float16=precision == FLOAT16,
            )

    def _replace_with(self, rows: _Selected | _Given, **options) -> None:
        """Write ``rows`` to a new file beside this one, then rename it over (atomic)."""
        tmp = self.path.with_name(f"{self.path.name}.rewrite-{uuid.uuid4().hex[:8]}")
        try:
            _write_file(tmp, rows, **options)
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _sync_dir(self.path.parent)

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


_STAMPED = (CLUSTERS, ID_ORDER, VIDEO_IDS, DURATIONS)
_FIELD = {
    CLUSTERS: "clusters",
    ID_ORDER: "id_order",
    VIDEO_IDS: "video_ids",
    DURATIONS: "duration_s",
}


# -- the rows a rewrite copies ----------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Source:
    """Rows to write: ids (bytes) and a way to read vector blocks, of either layout."""

    ids: np.ndarray
    dim: int
    encoder_id: str
    read: Callable[[int, int], np.ndarray]  # (start, stop) -> float32 rows [start, stop)

    @classmethod
    def of(cls, path: Path, f: h5py.File) -> _Source:
        ids = _read_ids(f)
        encoder_id = str(f.attrs.get("encoder_id", ""))
        if _is_mapped(f):
            layout = _layout(f)
            vectors = _map(path, layout.vectors_at, np.float32, (len(ids), layout.dim))
            return cls(ids, layout.dim, encoder_id, lambda a, b: vectors[a:b])
        ds = f[EMBEDDINGS]
        return cls(ids, int(ds.shape[1]), encoder_id, lambda a, b: ds[a:b])

    def selected(self, mask: np.ndarray) -> _Selected:
        return _Selected(self, np.flatnonzero(mask))


@dataclass(frozen=True, eq=False)
class _Selected:
    source: _Source
    rows: np.ndarray

    @property
    def ids(self) -> np.ndarray:
        return self.source.ids[self.rows]

    @property
    def dim(self) -> int:
        return self.source.dim

    def blocks(self) -> Iterator[np.ndarray]:
        """The kept rows' vectors in order, reading COPY_ROWS rows of the source at a time."""
        rows = self.rows
        if not rows.size:
            return
        cuts = np.searchsorted(rows, np.arange(0, int(rows[-1]) + 1 + COPY_ROWS, COPY_ROWS))
        for lo, hi in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
            if hi > lo:
                part = rows[lo:hi]
                block = np.asarray(self.source.read(int(part[0]), int(part[-1]) + 1))
                yield block[part - part[0]]


@dataclass(frozen=True, eq=False)
class _Given:
    """Rows handed in by a bulk writer: ids and the vectors' blocks in the same order."""

    ids: np.ndarray
    dim: int
    parts: Iterable[np.ndarray]  # float32 blocks

    def blocks(self) -> Iterator[np.ndarray]:
        yield from self.parts


def write_rows(
    path: str | Path,
    ids: np.ndarray,
    blocks,
    *,
    dim: int,
    encoder_id: str,
    facts: RowFacts | None = None,
    precision: str = FLOAT32,
) -> None:
    """A complete compacted file at ``path`` from ``ids`` (bytes) and the vectors' ``blocks``
    (unit rows, in order), written beside and renamed over (bulk writers: the scale bench)."""
    EmbeddingMatrix(path)._replace_with(
        _Given(ids, dim, blocks),
        encoder_id=encoder_id,
        facts=facts,
        float16=precision == FLOAT16,
    )


def _empty_source(dim: int) -> _Selected:
    return _Source(
        np.zeros(0, dtype="S1"), dim, "", lambda a, b: np.zeros((0, dim), np.float32)
    ).selected(np.zeros(0, dtype=bool))


def _write_file(
    path: Path,
    rows: _Selected | _Given,
    *,
    encoder_id: str,
    extra_rows: int = 0,
    id_bytes: int = 0,
    facts: RowFacts | None = None,
    float16: bool = False,
) -> None:
    """A complete ``va-mapped/1`` file at ``path`` holding ``rows``, synced to disk."""
    ids = rows.ids
    n, dim = len(ids), rows.dim
    capacity = max(MIN_CAPACITY, math.ceil((n + extra_rows) * (1 + HEADROOM)))
    width = max(MIN_ID_BYTES, id_bytes, ids.dtype.itemsize if n else 0)
    width = -(-int(width * 1.25) // 8) * 8 if width > MIN_ID_BYTES else width
    with h5py.File(path, "w") as f:
        vectors = _dataset(f, EMBEDDINGS, (capacity, dim), np.float32)
        low = _dataset(f, EMBEDDINGS_F16, (capacity, dim), np.float16) if float16 else None
        id_ds = _dataset(f, IDS, (capacity,), f"S{width}")
        at = 0
        for block in rows.blocks():
            vectors[at : at + len(block)] = block
            if low is not None:
                low[at : at + len(block)] = block.astype(np.float16)
            at += len(block)
        if n:
            id_ds[:n] = ids.astype(f"S{width}")
        f.attrs.update({"layout": LAYOUT, "encoder_id": encoder_id, "dim": dim})
        if facts is not None:
            _write_facts(f, ids, facts)
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _write_facts(f: h5py.File, ids: np.ndarray, facts: RowFacts) -> None:
    """The stamped per-row datasets for ``ids`` (written in the same new file)."""
    clusters, video_ids, durations = facts.aligned(ids)
    f.create_dataset(CLUSTERS, data=clusters)
    f.create_dataset(ID_ORDER, data=np.argsort(ids, kind="stable").astype(np.int64))
    f.create_dataset(VIDEO_IDS, data=video_ids)
    f.create_dataset(DURATIONS, data=durations)
    f.attrs.update({"stamp": facts.stamp, "stamp_rows": len(ids)})


def _dataset(f: h5py.File, name: str, shape: tuple, dtype) -> h5py.Dataset:
    """A contiguous dataset allocated at creation and never filled: unwritten rows are holes
    in a sparse file, and appends can write into it by byte offset."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    return f.create_dataset(name, shape=shape, dtype=dtype, dcpl=dcpl)


def _write_rows(
    path: Path, layout: _Layout, start: int, ids: np.ndarray, vectors: np.ndarray
) -> None:
    """``pwrite`` rows into free slots from ``start``: vectors (and float16 copy), then ids."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    fd = os.open(path, os.O_WRONLY)
    try:
        _pwrite(fd, vectors, layout.vectors_at + start * layout.dim * 4)
        if layout.f16_at is not None:
            _pwrite(fd, vectors.astype(np.float16), layout.f16_at + start * layout.dim * 2)
        _pwrite(fd, ids.astype(f"S{layout.id_bytes}"), layout.ids_at + start * layout.id_bytes)
    finally:
        os.close(fd)


def _pwrite(fd: int, data: np.ndarray, offset: int) -> None:
    view = np.ascontiguousarray(data).data.cast("B")
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


# -- reading ----------------------------------------------------------------------------------
def _is_mapped(f: h5py.File) -> bool:
    return f.attrs.get("layout") == LAYOUT


def _layout(f: h5py.File) -> _Layout:
    vectors, ids = f[EMBEDDINGS], f[IDS]
    f16 = f[EMBEDDINGS_F16] if EMBEDDINGS_F16 in f else None
    return _Layout(
        capacity=int(vectors.shape[0]),
        dim=int(vectors.shape[1]),
        id_bytes=int(ids.dtype.itemsize),
        vectors_at=int(vectors.id.get_offset()),
        ids_at=int(ids.id.get_offset()),
        f16_at=None if f16 is None else int(f16.id.get_offset()),
        encoder_id=str(f.attrs.get("encoder_id", "")),
    )


def _used_rows(ids: h5py.Dataset) -> int:
    """Leading non-empty ids: appends fill slots in order, so a binary search finds the end."""
    lo, hi = 0, int(ids.shape[0])
    while lo < hi:
        mid = (lo + hi) // 2
        if ids[mid]:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _read_ids(f: h5py.File) -> np.ndarray:
    """The used rows' ids as fixed-width bytes, of either layout."""
    ds = f[IDS]
    if _is_mapped(f):
        return ds[: _used_rows(ds)]
    raw = ds[:]
    return _encode([s.decode() if isinstance(s, bytes) else s for s in raw])


def _map(
    path: Path, offset: int, dtype, shape: tuple, *, random_access: bool = False
) -> np.ndarray:
    """A read-only map of ``shape`` items at ``offset`` (an empty array for no rows); with
    ``random_access`` the kernel reads only the pages touched (``MADV_RANDOM``)."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    if not count:
        return np.zeros(shape, dtype=dtype)
    start = offset - offset % mmap.ALLOCATIONGRANULARITY
    with open(path, "rb") as handle:
        mapped = mmap.mmap(
            handle.fileno(),
            offset - start + count * dtype.itemsize,
            access=mmap.ACCESS_READ,
            offset=start,
        )
    if random_access and hasattr(mmap, "MADV_RANDOM"):
        mapped.madvise(mmap.MADV_RANDOM)
    return np.frombuffer(mapped, dtype=dtype, count=count, offset=offset - start).reshape(shape)


def _map_dataset(path: Path, ds: h5py.Dataset) -> np.ndarray:
    offset = ds.id.get_offset()
    if offset is None or not ds.shape[0]:
        return ds[:]
    return _map(path, int(offset), ds.dtype, ds.shape)


def _encode(ids) -> np.ndarray:
    encoded = [str(i).encode() for i in ids]
    width = max((len(e) for e in encoded), default=1) or 1
    return np.array(encoded, dtype=f"S{width}")


def _decode(ids: np.ndarray) -> list[str]:
    return [i.decode() for i in ids.tolist()]


def _first_occurrences(ids: np.ndarray) -> np.ndarray:
    """True for the first row of each id."""
    mask = np.zeros(len(ids), dtype=bool)
    if len(ids):
        mask[np.unique(ids, return_index=True)[1]] = True
    return mask


def _sync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _legacy_mapped_vectors(path: Path, ds: h5py.Dataset) -> np.ndarray | None:
    """A legacy file's rows as a read-only memory map, or None when they are not stored as one
    plain byte range: uncompressed, unfiltered float32, either unchunked or in whole-row chunks
    laid out back to back in row order."""
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


def write_legacy(path: str | Path, ids: list[str], vectors: np.ndarray, *, encoder_id: str) -> None:
    """A file of the earlier chunked layout (for tests and the upgrade path's checks)."""
    with h5py.File(path, "w") as f:
        dim = vectors.shape[1]
        ds = f.create_dataset(
            EMBEDDINGS,
            shape=(0, dim),
            maxshape=(None, dim),
            dtype=np.float32,
            chunks=(CHUNK_ROWS, dim),
        )
        id_ds = f.create_dataset(
            IDS, shape=(0,), maxshape=(None,), dtype=_STR, chunks=(CHUNK_ROWS,)
        )
        ds.resize(len(ids), axis=0)
        id_ds.resize(len(ids), axis=0)
        ds[:] = vectors
        id_ds[:] = np.asarray(ids, dtype=object)
        f.attrs["encoder_id"] = encoder_id
        f.attrs["dim"] = dim
