"""The demo corpus's encoder: its CLIP and the offline descriptor side by side.

Real parts: the bundled demo CLIP weights and the real descriptor, on rendered demo frames.
"""

from __future__ import annotations

import numpy as np
import pytest

from va_app.datasets.demo.plan import plan_corpus
from va_app.datasets.demo.world import ShotRenderer, VideoLook
from va_app.encoders.base import evenly_spaced
from va_app.encoders.bundled import bundled_encoder, demo_clip_available, register_demo_clip
from va_app.encoders.combined import CLIP_WEIGHT, CombinedEncoder
from va_app.encoders.descriptor import DescriptorEncoder

pytestmark = pytest.mark.skipif(not demo_clip_available(), reason="demo CLIP weights missing")


@pytest.fixture(scope="module")
def clip():
    from va_app.encoders.bundled import DEMO_CLIP_NAME, DEMO_CLIP_WEIGHTS
    from va_app.encoders.clip import OpenClipEncoder

    register_demo_clip()
    return OpenClipEncoder(DEMO_CLIP_NAME, str(DEMO_CLIP_WEIGHTS), device="cpu")


@pytest.fixture(scope="module")
def shots() -> list[np.ndarray]:
    """Eight frames of each of the first 12 shots of a small demo world."""
    out = []
    for video in plan_corpus(12, seed=5, fps=24):
        rng = np.random.default_rng([5, video.index])
        look = VideoLook.draw(rng)
        for shot in video.shots:
            renderer = ShotRenderer.build(shot, size=(128, 72), fps=24, look=look, rng=rng)
            picks = np.linspace(0, shot.n_frames - 1, 8).round().astype(int)
            out.append(np.stack([renderer.frame(int(i)) for i in picks]))
    return out[:12]


def test_text_search_ranks_shots_as_the_clip_alone_does(clip, shots) -> None:
    combined = bundled_encoder(clip)
    assert isinstance(combined, CombinedEncoder)
    assert combined.id == f"{clip.id}+descriptor:v2"
    assert combined.dim == clip.dim + DescriptorEncoder().dim
    vectors = combined.encode_shots(shots)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    texts = ["a car chase at night", "two people indoors", "a city skyline at sunset"]
    # CLIP alone, as an ingest with it alone gives it frames: its own count, evenly spaced.
    own = [evenly_spaced(frames, clip.frames_per_shot) for frames in shots]
    alone = clip.encode_shots(own) @ clip.encode_texts(texts).T
    together = vectors @ combined.encode_texts(texts).T
    # Same order for every query, and the similarity shown is the CLIP's, scaled.
    assert (np.argsort(-alone, axis=0) == np.argsort(-together, axis=0)).all()
    np.testing.assert_allclose(together, CLIP_WEIGHT * alone, atol=1e-4)


def test_only_the_demo_clip_is_combined(clip) -> None:
    class OtherClip:
        id, dim, has_text, frames_per_shot = "open_clip:ViT-B-32:openai", 4, True, 3

    other = OtherClip()
    assert bundled_encoder(other) is other
    with pytest.raises(ValueError):
        CombinedEncoder(DescriptorEncoder(), DescriptorEncoder())
