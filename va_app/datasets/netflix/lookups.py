"""What the app and the exports look up about an imported Netflix corpus.

An import (:mod:`.importer`) copies the label files to ``<data dir>/netflix/``; this module
reads them back: the zero-shot query of a label (its text embedding, in the corpus's vector
space) and the YouTube link of a clip. (Each imported label's annotator roles are kept in the
catalog: :meth:`va_app.store.labels.LabelStore.annotator_roles`.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from va_app.config import Settings
from va_app.datasets.netflix.format import TEXT_EMBEDDINGS, read_text_embeddings
from va_app.encoders.base import l2_normalise

#: Folder under the corpus's data dir that keeps the copied label files.
COPY_DIR = "netflix"


def netflix_dir(settings: Settings) -> Path:
    """``<data dir>/netflix``: the copied label files and zero-shot queries."""
    return settings.data_dir / COPY_DIR


def load_text_embeddings(settings: Settings) -> dict[str, np.ndarray]:
    """The imported zero-shot queries, ``{label: unit vector}``; empty without an import."""
    path = netflix_dir(settings) / TEXT_EMBEDDINGS
    if not path.is_file():
        return {}
    return {label: l2_normalise(v) for label, v in read_text_embeddings(path).items()}


def zero_shot_query(settings: Settings, label: str) -> np.ndarray | None:
    """The label's text embedding (unit vector) in the corpus's space, or None."""
    return load_text_embeddings(settings).get(label)


def youtube_url(yt_id: str, start_s: float | None = None) -> str:
    """Link to the source clip on YouTube, at the shot's start (whole seconds) when given."""
    url = f"https://www.youtube.com/watch?v={yt_id}"
    return url if start_s is None else f"{url}&t={max(0, int(start_s))}s"
