"""Shot ids of the matrix rows without a Python object per shot: a sequence and a lookup.

At millions of shots a ``list[str]`` of ids and a ``dict`` from id to row cost seconds to
build and hundreds of MB per process. :class:`ShotIds` reads the ids where they are — fixed-
width UTF-8 bytes, usually a memory map of the matrix file — and decodes only what is asked
for; :class:`RowLookup` finds rows by binary search over the ids' sort order (stored in the
compacted file, or sorted once on the first lookup of many ids).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import overload

import numpy as np

#: Lookups of up to this many ids scan the ids instead of sorting them first (a scan of 2M
#: ids takes a few ms; sorting them ~1 s, once).
SCAN_MAX = 8


class ShotIds(Sequence[str]):
    """The ids of the matrix rows, in row order, over an ``S``-dtype array (not copied)."""

    def __init__(self, raw: np.ndarray) -> None:
        self.raw = raw

    def __len__(self) -> int:
        return int(self.raw.shape[0])

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index):
        if isinstance(index, slice):
            return [i.decode() for i in self.raw[index].tolist()]
        return self.raw[index].decode()

    def __iter__(self) -> Iterator[str]:
        step = 65_536
        for start in range(0, len(self), step):
            yield from (i.decode() for i in self.raw[start : start + step].tolist())

    def __contains__(self, shot_id: object) -> bool:
        return isinstance(shot_id, str) and bool((self.raw == shot_id.encode()).any())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ShotIds):
            return np.array_equal(self.raw, other.raw)
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(other) == len(self) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def index(self, shot_id: str, start: int = 0, stop: int | None = None) -> int:
        found = np.flatnonzero(self.raw[start:stop] == shot_id.encode())
        if not found.size:
            raise ValueError(f"{shot_id!r} is not in the corpus")
        return int(found[0]) + start

    def take(self, rows: Iterable[int]) -> list[str]:
        """The ids of ``rows`` (any integer array), decoded."""
        return [i.decode() for i in self.raw[np.asarray(list(rows), dtype=np.intp)].tolist()]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """The ids as str: numpy's own conversion (C speed) for ASCII ids, else decoded."""
        try:
            text = self.raw.astype(np.str_)
        except UnicodeDecodeError:
            text = np.array(list(self), dtype=np.str_)
        return text if dtype is None else text.astype(dtype)

    def series(self):
        """The ids as a pandas Series of Arrow strings, made in C++ from the bytes (0.5 s at 2M
        ids here; a Series of Python strs took ~2 s)."""
        import pandas as pd
        import pyarrow as pa
        import pyarrow.compute as pc

        raw = np.ascontiguousarray(self.raw)
        width = raw.dtype.itemsize
        fixed = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(width), len(raw), [None, pa.py_buffer(raw)]
        )
        text = pc.utf8_rtrim(fixed.cast(pa.binary()).cast(pa.string()), characters="\x00")
        return pd.Series(pd.arrays.ArrowExtensionArray(text))

    def __repr__(self) -> str:
        return f"ShotIds({len(self)} ids)"


class RowLookup(Mapping[str, int]):
    """Shot id → matrix row, by binary search over the ids' sort order.

    ``order`` is ``argsort(ids)`` (the compacted file stores it) of the first ``ordered`` rows
    (all by default; rows appended since are sorted apart, once); without it, lookups of a few
    ids scan and the first larger one sorts the ids once. Repeated ids resolve to their first
    row.
    """

    def __init__(
        self, raw: np.ndarray, order: np.ndarray | None = None, *, ordered: int | None = None
    ) -> None:
        self._raw = raw
        self._order = order
        if order is not None and ordered is not None and ordered < len(raw):
            self._order = _merged_order(raw, order, ordered)

    def rows(self, shot_ids: Iterable[str]) -> np.ndarray:
        """Rows of the ids found, in the order given; ids not in the corpus are left out."""
        found = self.positions(shot_ids)
        return found[found >= 0]

    def positions(self, shot_ids: Iterable[str]) -> np.ndarray:
        """The row of each id, in the order given; -1 where the corpus has no such id."""
        encoded = [str(i).encode() for i in shot_ids]
        out = np.full(len(encoded), -1, dtype=np.intp)
        width = self._raw.dtype.itemsize
        fits = np.array([len(e) <= width for e in encoded], dtype=bool)
        if not fits.any() or not len(self._raw):
            return out
        keys = np.array([e for e, ok in zip(encoded, fits) if ok], dtype=self._raw.dtype)
        if self._order is None and len(keys) <= SCAN_MAX:
            hits = [np.flatnonzero(self._raw == key) for key in keys]
            out[fits] = [h[0] if h.size else -1 for h in hits]
            return out
        order = self.order
        at = np.minimum(np.searchsorted(self._raw, keys, sorter=order), len(order) - 1)
        rows = order[at]
        out[fits] = np.where(self._raw[rows] == keys, rows, -1)
        return out

    @property
    def order(self) -> np.ndarray:
        if self._order is None:
            self._order = np.argsort(self._raw, kind="stable")
        return self._order

    def __getitem__(self, shot_id: str) -> int:
        rows = self.rows([shot_id])
        if not rows.size:
            raise KeyError(shot_id)
        return int(rows[0])

    def get(self, shot_id: str, default=None):
        rows = self.rows([shot_id])
        return int(rows[0]) if rows.size else default

    def __contains__(self, shot_id: object) -> bool:
        return isinstance(shot_id, str) and bool(self.rows([shot_id]).size)

    def __iter__(self) -> Iterator[str]:
        return iter(ShotIds(self._raw))

    def __len__(self) -> int:
        return int(self._raw.shape[0])

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"RowLookup({len(self)} ids)"


def _merged_order(raw: np.ndarray, order: np.ndarray, ordered: int) -> np.ndarray:
    """The sort order of all of ``raw`` from that of its first ``ordered`` rows: the rows after
    are sorted alone (few) and merged in (one pass over the order)."""
    tail = ordered + np.argsort(raw[ordered:], kind="stable")
    at = np.searchsorted(raw[:ordered], raw[tail], side="right", sorter=order)
    return np.insert(np.asarray(order), at, tail)
