"""Storage: SQL catalog (SQLAlchemy), embedding matrix (h5py), vector index (ChromaDB)."""

from va_app.store.corpus import Corpus, open_corpus

__all__ = ["Corpus", "open_corpus"]
