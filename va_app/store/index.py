"""The vector index: a ChromaDB collection (cosine HNSW) of shot vectors.

Derived data: it can always be rebuilt from the SQL catalog and the h5 matrix (``reindex``).
Embedded (files under ``data/chroma``) by default; a Chroma server when ``VA_CHROMA_HOST`` is
set. Every call passes embeddings explicitly — the collection has no embedding function, so
Chroma never tries to download its default ONNX model.

It holds vectors and ids only: search filters with numpy over the matrix
(``va_app.search.shots``), exact and faster, and every stored metadata field would cost Chroma
insertion time (3 fields: +14 % CPU per vector at M 32, measured; ``docs/scale.md``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from va_app.errors import StoreError

# Graph quality vs build speed (docs/scale.md): M 16 / efC 100 inserted ~2× more vectors per
# CPU-second than M 32 / efC 200 at 50k × 512 and, with ef_search 400 and search's exact
# re-scoring, kept recall@50 at 0.9946 at 500k.
HNSW_CONFIG: dict[str, Any] = {
    "space": "cosine",
    "max_neighbors": 16,
    "ef_construction": 100,
    "ef_search": 400,
}
# Chroma rejects very large single writes; 1k-row batches were also measured fastest.
ADD_BATCH = 1000


@dataclass(frozen=True)
class Hit:
    id: str
    similarity: float


class VectorIndex:
    """Top-k cosine search over shot vectors (ids and vectors only)."""

    def __init__(
        self,
        *,
        path: str | Path | None = None,
        host: str = "",
        port: int = 8000,
        collection: str = "shots",
        hnsw: Mapping[str, int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._path, self._host, self._port, self._name = path, host, port, collection
        self._headers = dict(headers or {})
        # Used when the collection is created; an existing collection keeps its own.
        self._hnsw = {**HNSW_CONFIG, **(hnsw or {})}
        self._client = None
        self._collection = None

    @classmethod
    def from_settings(cls, settings) -> VectorIndex:
        return cls(
            path=settings.chroma_path,
            host=settings.chroma_host,
            port=settings.chroma_port,
            collection=settings.chroma_collection,
            headers=settings.chroma_request_headers,
        )

    @property
    def collection(self):
        if self._collection is None:
            self._collection = self._client_().get_or_create_collection(
                self._name, embedding_function=None, configuration={"hnsw": self._hnsw}
            )
        return self._collection

    def count(self) -> int:
        return int(self.collection.count())

    def add(self, ids: list[str], vectors: np.ndarray) -> None:
        """Insert or replace rows."""
        for start in range(0, len(ids), ADD_BATCH):
            stop = start + ADD_BATCH
            self.collection.upsert(
                ids=list(ids[start:stop]),
                embeddings=np.asarray(vectors[start:stop], dtype=np.float32),
            )

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        for start in range(0, len(ids), ADD_BATCH):
            self.collection.delete(ids=ids[start : start + ADD_BATCH])

    def ids(self) -> set[str]:
        """Every id in the index (reads ids only, no vectors)."""
        found: set[str] = set()
        total, offset = self.count(), 0
        while offset < total:
            page = self.collection.get(include=[], limit=10_000, offset=offset)
            found.update(page["ids"])
            offset += 10_000
        return found

    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these ids (those the index has), for consistency checks."""
        if not ids:
            return {}
        got = self.collection.get(ids=list(ids), include=["embeddings"])
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], got["embeddings"])}

    def query(self, vector: np.ndarray, k: int) -> list[Hit]:
        """The ``k`` nearest vectors (fewer when the index holds fewer), most similar first."""
        if k <= 0:
            return []
        # No count() first: it costs ~4 ms at 50k vectors and ~30 ms at 500k, and an empty
        # collection simply returns no ids.
        result = self.collection.query(
            query_embeddings=np.asarray(vector, dtype=np.float32).reshape(1, -1),
            n_results=int(k),
            include=["distances"],
        )
        ids, distances = result["ids"][0], result["distances"][0]
        return [Hit(i, 1.0 - float(d)) for i, d in zip(ids, distances)]

    def hnsw_config(self) -> dict:
        """The collection's HNSW settings (``max_neighbors``, ``ef_construction``, ...)."""
        return dict(self.collection.configuration_json.get("hnsw") or {})

    def set_search_ef(self, ef_search: int) -> None:
        """Change the search beam width (recall vs speed) of the existing collection.

        Chroma applies it when the index is next loaded, so this client is closed and the
        next call reopens it (other clients of the same path in this process must close too).
        """
        if int(ef_search) < 1:
            raise ValueError(f"ef_search must be at least 1, got {ef_search}")
        self.collection.modify(configuration={"hnsw": {"ef_search": int(ef_search)}})
        self.close()

    def reset(self) -> None:
        """Drop the collection (``reindex`` then refills it)."""
        try:
            self._client_().delete_collection(self._name)
        except Exception:  # noqa: BLE001 — absent collection: nothing to drop
            pass
        self._collection = None

    def close(self) -> None:
        """Release this client; Chroma stops (and frees) the index when its last client closes."""
        client, self._client, self._collection = self._client, None, None
        if client is not None and hasattr(client, "close"):
            client.close()

    def _client_(self):
        if self._client is None:
            self._client = _make_client(self._path, self._host, self._port, self._headers)
        return self._client


def _make_client(path, host: str, port: int, headers: Mapping[str, str]):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False, allow_reset=True)
    try:
        if host:
            return chromadb.HttpClient(
                host=host, port=port, headers=dict(headers) or None, settings=settings
            )
        Path(path).mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except Exception as exc:
        # Chroma caches its system per path, also a half-started one (a full disk on open):
        # forget it, so the next attempt starts afresh.
        forget_cached_clients()
        where = f"{host}:{port}" if host else str(path)
        raise StoreError(f"the Chroma index at {where} could not be opened: {exc}") from exc


def forget_cached_clients() -> None:
    """Make the next client see other processes' writes (Chroma caches one system per path)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
