"""Ingestion: videos on disk to shots, keyframes, embeddings and the three stores."""
