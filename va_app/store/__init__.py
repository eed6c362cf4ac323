"""Storage: SQL catalog (SQLAlchemy), embedding matrix (h5py), vector index (ChromaDB); a
corpus keeps the three in step (:mod:`.corpus`), and readers open it with :mod:`.opening`."""
