"""Ingestion: videos on disk to shots, keyframes, embeddings and the three stores.

The pipeline, one module per part:

- ``stages``     discover → prepare (probe, detect, sample, JPEGs; CPU) → encode (batched)
- ``commit``     the one writer: per-video atomic, idempotent by fingerprint, resumable
- ``pipeline``   one run: lock, repair, plan, the schedule every runner shares, clusters
- ``local``      runner: this process (``workers=1``) or a local process pool
- ``ray_runner`` runner: Ray tasks for the CPU stages, an actor pool of encoders
"""

from va_app.ingest.pipeline import ingest, refresh_clusters
from va_app.ingest.stages import VideoMeta

__all__ = ["VideoMeta", "ingest", "refresh_clusters"]
