"""Text vectors kept on disk, so a query asked before never loads the text tower again.

Loading CLIP's text tower costs seconds (torch, open_clip, the weights); a query's vector
costs milliseconds and never changes for one encoder. :class:`TextVectorCache` keeps every
vector the corpus's encoder made, keyed by encoder id and text, in a small SQLite file beside
the corpus; :class:`CachedTextEncoder` answers from it and loads the real encoder only for
texts it has not seen (then keeps their vectors too). The CLI's ``search`` and the app share
the file, and a restarted app needs no model for the searches it already knows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from va_app.encoders.base import Encoder, NoTextTowerError
from va_app.encoders.combined import CLIP_WEIGHT, SEPARATOR

#: Texts this long or longer are not kept (queries are short; this bounds the file).
MAX_CACHED_CHARS = 1000
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS text_vectors ("
    " encoder_id TEXT NOT NULL, text TEXT NOT NULL, vector BLOB NOT NULL,"
    " PRIMARY KEY (encoder_id, text))"
)


class TextVectorCache:
    """``(encoder id, text) -> float32 vector`` in a SQLite file (WAL: readers never wait)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def get(self, encoder_id: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The kept vectors of ``texts`` (those never encoded are left out)."""
        if not texts or not self.path.is_file():
            return {}
        with self._connect() as db:
            marks = ",".join("?" * len(texts))
            rows = db.execute(
                f"SELECT text, vector FROM text_vectors WHERE encoder_id = ? AND text IN ({marks})",
                (encoder_id, *texts),
            ).fetchall()
        return {text: np.frombuffer(blob, dtype=np.float32).copy() for text, blob in rows}

    def put(self, encoder_id: str, vectors: dict[str, np.ndarray]) -> None:
        rows = [
            (encoder_id, text, np.asarray(v, dtype=np.float32).tobytes())
            for text, v in vectors.items()
            if len(text) < MAX_CACHED_CHARS
        ]
        if not rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO text_vectors VALUES (?, ?, ?)", rows)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=5.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(_SCHEMA)
        return db


class CachedTextEncoder:
    """The text side of the corpus's encoder, answering known texts from the cache and
    loading the encoder (``load``) only for new ones."""

    has_text = True

    def __init__(
        self, encoder_id: str, cache: TextVectorCache, load: Callable[[], Encoder | None]
    ) -> None:
        self.id = encoder_id
        self._cache = cache
        self._load = load
        #: As the encoder itself says it: a combined corpus's text similarity is scaled back
        #: to the CLIP's own (va_app.encoders.combined).
        self.text_similarity_scale = 1.0 / CLIP_WEIGHT if SEPARATOR in encoder_id else 1.0

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of ``texts``, one row each, in order."""
        known = self._cache.get(self.id, list(dict.fromkeys(texts)))
        new = [t for t in dict.fromkeys(texts) if t not in known]
        if new:
            encoder = self._load()
            if encoder is None or not encoder.has_text:
                raise NoTextTowerError(f"the encoder {self.id!r} has no text tower here")
            made = dict(zip(new, encoder.encode_texts(new)))
            self._cache.put(self.id, made)
            known.update(made)
        return np.stack([known[t] for t in texts]).astype(np.float32, copy=False)


def has_text_tower(encoder_id: str) -> bool:
    """Whether vectors of ``encoder_id`` come with a text tower (a CLIP part: ``open_clip:``);
    the offline descriptor and imported vectors have none."""
    return any(part.startswith("open_clip:") for part in encoder_id.split(SEPARATOR))
