"""Ingestion: videos on disk to shots, keyframes, embeddings and the three stores.

The pipeline, one module per part:

- ``stages``     discover → prepare (probe, detect, sample, JPEGs; CPU) → encode (batched)
- ``commit``     the one writer: per-video atomic, idempotent by fingerprint, resumable
- ``pipeline``   one run: lock, repair, plan, the schedule every runner shares, clusters
- ``local``      runner: this process (``workers=1``) or a local process pool
- ``ray_runner`` runner: Ray tasks for the CPU stages, an actor pool of encoders

The names below load on first use: a worker that runs only the stages (a pool process, a Ray
task) imports the video stack, never the stores, the encoders' models or the learner.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from va_app.ingest.pipeline import ingest, refresh_clusters
    from va_app.ingest.stages import VideoMeta

__all__ = ["VideoMeta", "ingest", "refresh_clusters"]
_HOMES = {"ingest": "pipeline", "refresh_clusters": "pipeline", "VideoMeta": "stages"}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
