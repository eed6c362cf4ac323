"""A synthetic corpus written through the real stores (SQL + h5 + Chroma), without videos.

Vectors come from a few Gaussian clusters on the unit sphere; the concept "bright" is a
learnable direction, so classifiers have something real to find.
"""

from __future__ import annotations

import numpy as np

from va_app.config import Settings
from va_app.ingest import refresh_clusters
from va_app.store import meta
from va_app.store.corpus import Corpus
from va_app.store.schema import ShotRow, VideoRow

ENCODER_ID = "synthetic:v1"


def make_synthetic_corpus(
    settings: Settings, *, videos: int = 10, shots_per_video: int = 30, dim: int = 32, seed: int = 0
) -> dict[str, bool]:
    """Returns the ground truth of concept "bright" per shot id."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=dim)
    direction /= np.linalg.norm(direction)
    centres = rng.normal(size=(6, dim))
    corpus = Corpus(settings)
    truth: dict[str, bool] = {}
    for v in range(videos):
        key = f"movie{v:02d}"
        rows = [
            ShotRow(
                id=f"{key}|{i * 24}",
                idx=i,
                start_frame=i * 24,
                end_frame=i * 24 + 24,
                start_s=float(i),
                end_s=float(i + 1),
                fps=24.0,
            )
            for i in range(shots_per_video)
        ]
        video_id = corpus.catalog.begin_video(
            VideoRow(
                key=key,
                path=f"/synthetic/{key}.mp4",
                title=f"Movie {v}",
                genre=("drama", "action", "comedy")[v % 3],
                tags=["synthetic"],
            ),
            rows,
        )
        labels = rng.random(shots_per_video) < 0.3
        x = centres[rng.integers(0, 6, shots_per_video)] + rng.normal(
            scale=0.6, size=(shots_per_video, dim)
        )
        x += np.where(labels, 2.5, -2.5)[:, None] * direction
        ids = [r.id for r in rows]
        corpus.matrix.append(ids, x, encoder_id=ENCODER_ID)
        corpus.index.add(ids, corpus.matrix.load()[1][-len(ids) :])
        corpus.catalog.mark_video_ready(video_id)
        truth.update(zip(ids, labels.tolist()))
    corpus.catalog.set_meta(meta.ENCODER_ID, ENCODER_ID)
    refresh_clusters(corpus)
    corpus.compact_matrix()  # as an ingest ends: the file mapped, stamped
    corpus.close()
    return truth
