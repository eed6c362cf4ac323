"""The Encoder interface: shots' frames -> vectors, texts -> vectors, in one space.

Every vector an encoder returns is float32 and L2-normalised, so cosine similarity is a dot
product and the corpus matrix can be scored with one matrix product. Vectors of two encoders
live in different spaces: :func:`require_same_encoder` is the one compatibility check.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from va_app.errors import EncoderMismatchError, VAError


class NoTextTowerError(VAError):
    """The encoder cannot embed text (the offline descriptor): use keyword search instead."""


@runtime_checkable
class Encoder(Protocol):
    #: Stable identity recorded with the corpus, e.g. ``"open_clip:ViT-B-32:openai"``.
    id: str
    #: Length of every vector.
    dim: int
    #: Whether :meth:`encode_texts` works (CLIP yes, the offline descriptor no).
    has_text: bool
    #: How many evenly spaced frames of a shot :meth:`encode_shots` wants.
    frames_per_shot: int

    def encode_shots(self, shots: list[np.ndarray]) -> np.ndarray:
        """Each item is one shot's frames, uint8 RGB ``(K, H, W, 3)``; returns ``(S, dim)``."""
        ...

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Returns ``(len(texts), dim)``; raises :class:`NoTextTowerError` without a text tower."""
        ...


def same_encoder(a: str, b: str) -> bool:
    """Whether vectors made by encoder ids ``a`` and ``b`` can be compared: the same id, or an
    id not known (empty: e.g. a corpus with no vectors yet)."""
    return not a or not b or a == b


def require_same_encoder(have: str, want: str, message: str) -> None:
    """Raise :class:`EncoderMismatchError` with ``message`` (what to do about it) unless
    :func:`same_encoder` holds."""
    if not same_encoder(have, want):
        raise EncoderMismatchError(message)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))


def evenly_spaced(frames: np.ndarray, k: int) -> np.ndarray:
    """``k`` evenly spaced frames out of a shot's sampled frames (all of them if fewer)."""
    if len(frames) <= k:
        return frames
    return frames[np.linspace(0, len(frames) - 1, k).round().astype(int)]
