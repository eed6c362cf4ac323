"""How far the vector index is behind the matrix, and when it will catch up.

The Chroma index is derived data, filled after the matrix (by ingest, ``reindex`` or an
import, possibly in another process). Until it holds every shot, search is exact (one pass over
the matrix; right, but slower on a large corpus). :class:`IndexWatch` turns successive looks at
the index's count into an :class:`IndexProgress` with a rate and an ETA, so the user sees why
search is exact and for how long.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

#: A count that has not moved for this long means nobody is filling the index.
STALLED_AFTER_S = 30.0


@dataclass(frozen=True)
class IndexProgress:
    """``indexed`` of ``total`` shots are in the vector index; ``per_s`` is the observed
    fill rate (None until two looks differ in time and count)."""

    indexed: int
    total: int
    per_s: float | None = None
    stalled: bool = False

    def __post_init__(self) -> None:
        if self.indexed < 0 or self.total < 0:
            raise ValueError(f"counts must be ≥ 0, got {self.indexed} of {self.total}")

    @property
    def complete(self) -> bool:
        return self.indexed == self.total

    @property
    def eta_s(self) -> float | None:
        """Seconds until the index holds every shot at the observed rate; None if unknown."""
        if self.complete:
            return 0.0
        if not self.per_s or self.indexed > self.total:
            return None
        return (self.total - self.indexed) / self.per_s

    def describe(self) -> str:
        """The line the search page shows while the index is incomplete."""
        if self.indexed > self.total:
            return (
                f"The index is out of step ({self.indexed:,} vectors for {self.total:,} "
                "shots): searching exactly; `python -m va_app reindex` rebuilds it."
            )
        done = f"index building: {self.indexed:,} of {self.total:,}"
        if self.stalled:
            return (
                f"{done} and not growing — `python -m va_app reindex` builds it; "
                "searching exactly meanwhile."
            )
        eta = self.eta_s
        when = "ETA measuring…" if eta is None else f"ETA {_duration(eta)} ({self.per_s:,.0f}/s)"
        return f"{done}, {when}; searching exactly meanwhile."


class IndexWatch:
    """Remembers the first look at a growing index, to measure its fill rate.

    ``look(indexed, total)`` returns the progress; the rate is measured from the first look
    since the count last went down or the total changed (a new build starts over).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._first: tuple[float, int, int] | None = None
        self._last_change: tuple[float, int] | None = None

    def look(self, indexed: int, total: int) -> IndexProgress:
        now = self._clock()
        first = self._first
        if first is None or total != first[2] or indexed < first[1]:
            self._first = first = (now, indexed, total)
        if self._last_change is None or indexed != self._last_change[1]:
            self._last_change = (now, indexed)
        elapsed, grown = now - first[0], indexed - first[1]
        per_s = grown / elapsed if elapsed > 0 and grown > 0 else None
        stalled = indexed < total and now - self._last_change[0] >= STALLED_AFTER_S
        return IndexProgress(indexed, total, None if stalled else per_s, stalled)


def _duration(seconds: float) -> str:
    """``"45 s"``, ``"12 min"``, ``"3 h 5 min"``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
