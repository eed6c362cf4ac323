"""One encoder made of two: a CLIP for text and images, and a visual encoder beside it.

Owns :class:`CombinedEncoder`. A shot's vector is the concatenation of the CLIP vector and
the visual encoder's vector (the offline descriptor: motion, layout, edges), each unit length
and weighted so the whole is unit length again. A text's vector is the CLIP text vector
followed by zeros, so a text query's cosine similarity with a shot is the CLIP similarity
times :data:`CLIP_WEIGHT`: text search ranks exactly as CLIP alone, while a classifier and
"more like this" also see what single CLIP frames cannot show (how the camera moves).

Why: the demo world's own CLIP is small and trained only on captions, so it keeps what
captions say (light, places, cars, people) and drops the rest; with its vectors alone, every
labelling strategy learnt camera moves and shot types no better than chance (see
``va_app/datasets/demo/model/README.md``).
"""

from __future__ import annotations

import math

import numpy as np

from va_app.encoders.base import Encoder, evenly_spaced, l2_normalise

#: The CLIP part's length in a shot vector (the visual part has the rest, sqrt(1 - w²)).
#: Measured on the 400-shot demo (median test AP over 15 concepts, 5 random splits, random
#: labels, n = 60 / 200): descriptor alone 0.886 / 0.977; w 0.3: 0.886 / 0.967 with sharper
#: shot types (two-shot, establishing shot); w 0.5: 0.899 / 0.949; w 0.71: 0.663 / 0.934;
#: CLIP alone 0.510 / 0.568. A larger CLIP share drowns the motion features (pan 0.84 at
#: w 0.3, 0.64 at w 0.71, 0.15 alone).
CLIP_WEIGHT = 0.3
SEPARATOR = "+"


class CombinedEncoder:
    """CLIP (``text``) and a visual encoder (``visual``) side by side, in one vector space."""

    has_text = True

    def __init__(self, text: Encoder, visual: Encoder, *, clip_weight: float = CLIP_WEIGHT):
        if not text.has_text or not 0.0 < clip_weight < 1.0:
            raise ValueError("CombinedEncoder needs a text tower and 0 < clip_weight < 1")
        self.text, self.visual = text, visual
        self.clip_weight = clip_weight
        #: A text query's cosine with a shot is the CLIP's times ``clip_weight``: search shows
        #: the CLIP's own similarity (the ranking is the same either way).
        self.text_similarity_scale = 1.0 / clip_weight
        self.id = combined_id(text.id, visual.id)
        self.dim = text.dim + visual.dim
        # The visual encoder's frames (the descriptor's motion needs several); CLIP gets its
        # own count of them, evenly spaced (its cost grows with frames, its vector barely).
        self.frames_per_shot = max(text.frames_per_shot, visual.frames_per_shot)

    def __repr__(self) -> str:
        return f"CombinedEncoder(id={self.id!r})"

    def encode_shots(self, shots: list[np.ndarray]) -> np.ndarray:
        """``[w · clip(shot), √(1 − w²) · visual(shot)]`` per shot: unit length."""
        k = self.text.frames_per_shot
        clip = l2_normalise(self.text.encode_shots([evenly_spaced(f, k) for f in shots]))
        visual = l2_normalise(self.visual.encode_shots(shots))
        rest = math.sqrt(1.0 - self.clip_weight**2)
        return np.hstack([self.clip_weight * clip, rest * visual]).astype(np.float32)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """The CLIP text vectors followed by zeros (a text says nothing about the visual part)."""
        vectors = self.text.encode_texts(texts)
        return np.hstack([vectors, np.zeros((len(vectors), self.visual.dim), np.float32)])


def combined_id(text_id: str, visual_id: str) -> str:
    """The encoder id of a text encoder and a visual one combined: ``"<clip>+<visual>"``."""
    return f"{text_id}{SEPARATOR}{visual_id}"
