"""OpenClipEncoder with real open_clip code: a tiny architecture, real weight files, no network.

Random weights make similarity meaningless, so these tests check what holds for any weights:
shapes, unit norms, determinism, batching, the shot = mean-of-frames rule, that a weights file
really is what gets loaded, and that missing weights fail at once with a message to act on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from tests.clipfixtures import (
    TINY_CLIP_CONFIG,
    make_tiny_clip,
    register_tiny_clip,
    save_tiny_clip_weights,
)
from va_app.encoders.base import Encoder, l2_normalise
from va_app.encoders.clip import OpenClipEncoder, clip_weights_available, resolve_clip_weights
from va_app.errors import ConfigError, ValidationError, WeightsNotFoundError

TEXTS = ["a car chase at night", "an establishing shot of a city", "golden hour on a beach"]


def _frames(n: int, height: int, width: int, seed: int) -> np.ndarray:
    """Smooth coloured frames (not noise: resizing noise is not what videos look like)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    frames = []
    for _ in range(n):
        fx, fy, phase = rng.uniform(1, 8, size=3)
        rgb = np.stack([np.sin(fx * x + phase), np.cos(fy * y), np.sin(fx * (x + y))], axis=-1)
        frames.append((rgb * 110 + 128).astype(np.uint8))
    return np.stack(frames)


def _shots() -> list[np.ndarray]:
    sizes = [(48, 64), (48, 64), (90, 160), (36, 36), (120, 90)]
    return [
        _frames(k, h, w, seed=i)
        for i, (k, (h, w)) in enumerate(zip([3, 3, 2, 1, 3], sizes, strict=True))
    ]


@pytest.fixture(scope="module")
def tiny() -> str:
    return register_tiny_clip()


@pytest.fixture(scope="module")
def encoder(tiny: str) -> OpenClipEncoder:
    return OpenClipEncoder(tiny, None, device="cpu", batch_size=4, frames_per_shot=3)


def _reference_image_vectors(model: torch.nn.Module, frames: np.ndarray) -> np.ndarray:
    """open_clip's own path: its PIL preprocess transform, encode_image, normalise."""
    _, _, preprocess = open_clip.create_model_and_transforms(register_tiny_clip(), pretrained=None)
    batch = torch.stack([preprocess(Image.fromarray(frame)) for frame in frames])
    with torch.inference_mode():
        return model.encode_image(batch, normalize=True).numpy()


def _reference_text_vectors(model: torch.nn.Module, texts: list[str]) -> np.ndarray:
    tokens = open_clip.get_tokenizer(register_tiny_clip())(texts)
    with torch.inference_mode():
        return model.encode_text(tokens, normalize=True).numpy()


def test_encoder_identity_and_protocol(encoder: OpenClipEncoder, tiny: str) -> None:
    assert isinstance(encoder, Encoder)
    assert encoder.id == f"open_clip:{tiny}:random"
    assert (encoder.dim, encoder.has_text, encoder.frames_per_shot) == (32, True, 3)


def test_one_unit_float32_vector_per_shot(encoder: OpenClipEncoder) -> None:
    vectors = encoder.encode_shots(_shots())
    assert vectors.shape == (5, 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.encode_shots([]).shape == (0, 32)


def test_same_input_gives_same_vectors(encoder: OpenClipEncoder) -> None:
    np.testing.assert_array_equal(encoder.encode_shots(_shots()), encoder.encode_shots(_shots()))
    np.testing.assert_array_equal(encoder.encode_texts(TEXTS), encoder.encode_texts(TEXTS))


def test_batch_size_does_not_change_vectors(encoder: OpenClipEncoder, tiny: str) -> None:
    one_at_a_time = OpenClipEncoder(tiny, "none", device="cpu", batch_size=1)
    all_at_once = OpenClipEncoder(tiny, "random", device="cpu", batch_size=64)
    expected = encoder.encode_shots(_shots())
    np.testing.assert_allclose(one_at_a_time.encode_shots(_shots()), expected, atol=1e-5)
    np.testing.assert_allclose(all_at_once.encode_shots(_shots()), expected, atol=1e-5)


def test_shot_vector_is_mean_of_its_frame_vectors(encoder: OpenClipEncoder) -> None:
    frames = _frames(3, 60, 80, seed=7)
    per_frame = encoder.encode_images(frames)
    np.testing.assert_allclose(np.linalg.norm(per_frame, axis=1), 1.0, atol=1e-5)
    shot = encoder.encode_shots([frames])[0]
    np.testing.assert_allclose(shot, l2_normalise(per_frame.mean(axis=0)), atol=1e-5)


def test_frames_encode_like_open_clips_own_preprocessing(encoder: OpenClipEncoder) -> None:
    for frames in (_frames(2, 72, 128, seed=1), _frames(2, 128, 72, seed=2)):  # landscape, portrait
        ours = encoder.encode_images(frames)
        reference = _reference_image_vectors(encoder.model, frames)
        assert np.min(np.sum(ours * reference, axis=1)) > 0.999


def test_text_vectors(encoder: OpenClipEncoder) -> None:
    vectors = encoder.encode_texts([*TEXTS, TEXTS[0]])
    assert vectors.shape == (4, 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vectors[0], vectors[3])
    assert not np.allclose(vectors[0], vectors[1])
    assert encoder.encode_texts([]).shape == (0, 32)
    assert encoder.encode_texts(["word " * 500]).shape == (1, 32)  # longer than the context


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 8, 8, 3), dtype=np.float32),
        np.zeros((0, 8, 8, 3), dtype=np.uint8),
        np.zeros((8, 8, 3), dtype=np.uint8),
        np.zeros((1, 8, 8, 4), dtype=np.uint8),
    ],
)
def test_malformed_frames_are_refused_with_the_shot_named(encoder: OpenClipEncoder, bad) -> None:
    with pytest.raises(ValidationError, match="shot 1"):
        encoder.encode_shots([_frames(1, 8, 8, seed=0), bad])


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_weights_file_is_what_gets_loaded(tmp_path: Path, tiny: str, suffix: str) -> None:
    path = save_tiny_clip_weights(tmp_path / f"tiny{suffix}", seed=1)
    loaded = OpenClipEncoder(tiny, str(path), device="cpu")
    model = make_tiny_clip(seed=1)
    frames = _frames(3, 48, 64, seed=3)
    np.testing.assert_allclose(
        loaded.encode_images(frames), _reference_image_vectors(model, frames), atol=1e-3
    )
    np.testing.assert_allclose(
        loaded.encode_texts(TEXTS), _reference_text_vectors(model, TEXTS), atol=1e-5
    )
    assert loaded.id.startswith(f"open_clip:{tiny}:tiny-")


def test_two_weight_files_with_one_name_get_different_ids(tmp_path: Path, tiny: str) -> None:
    first = save_tiny_clip_weights(tmp_path / "a" / "model.safetensors", seed=1)
    second = save_tiny_clip_weights(tmp_path / "b" / "model.safetensors", seed=2)
    ids = {OpenClipEncoder(tiny, str(p), device="cpu").id for p in (first, second)}
    assert len(ids) == 2


def test_local_directory_with_open_clip_config(tmp_path: Path, tiny: str) -> None:
    folder = tmp_path / "my-clip"
    save_tiny_clip_weights(folder / "open_clip_model.safetensors", seed=1)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CLIP_CONFIG}))
    for pretrained in (str(folder), f"local-dir:{folder}"):
        loaded = OpenClipEncoder(tiny, pretrained, device="cpu")
        assert loaded.id.startswith("open_clip:local-dir:my-clip-")
        np.testing.assert_allclose(
            loaded.encode_texts(TEXTS),
            _reference_text_vectors(make_tiny_clip(seed=1), TEXTS),
            atol=1e-5,
        )


def _fake_hf_cache(cache: Path, repo: str, weights: Path) -> None:
    """The layout huggingface_hub writes: refs/main names a snapshot holding the files."""
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text("0123abcd")
    snapshot = root / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    weights.rename(snapshot / "open_clip_model.safetensors")


def test_pretrained_tag_loads_from_the_local_hf_cache(
    tmp_path: Path, tiny: str, monkeypatch
) -> None:
    # open_clip knows no tag for the test architecture: register one as its pretrained table would.
    tag_cfg = {"hf_hub": "va-test/tiny-clip/", "mean": (0.5,) * 3, "std": (0.5,) * 3}
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, tiny, {"cached_tag": tag_cfg})
    _fake_hf_cache(
        tmp_path, "va-test/tiny-clip", save_tiny_clip_weights(tmp_path / "w.safetensors", seed=1)
    )
    assert clip_weights_available(tiny, "cached-tag", cache_dir=tmp_path)
    loaded = OpenClipEncoder(tiny, "cached-tag", device="cpu", cache_dir=tmp_path)
    assert loaded.id == f"open_clip:{tiny}:cached_tag"
    np.testing.assert_allclose(
        loaded.encode_texts(TEXTS),
        _reference_text_vectors(make_tiny_clip(seed=1), TEXTS),
        atol=1e-5,
    )
    assert loaded.model.visual.preprocess_cfg["mean"] == (0.5,) * 3  # the tag's normalisation


@pytest.mark.timeout(30)
def test_uncached_tag_fails_at_once_with_a_fix(tmp_path: Path) -> None:
    assert not clip_weights_available("ViT-B-32", "openai", cache_dir=tmp_path)
    with pytest.raises(WeightsNotFoundError) as caught:
        OpenClipEncoder("ViT-B-32", "openai", device="cpu", cache_dir=tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    for needed in (
        "ViT-B-32/openai",
        str(tmp_path),
        "timm/vit_base_patch32_clip_224.openai",
        "VA_CLIP_PRETRAINED=",
        "VA_ENCODER=descriptor",
    ):
        assert needed in message


@pytest.mark.timeout(30)
def test_missing_file_unknown_tag_and_unknown_model_are_explained(
    tmp_path: Path, tiny: str
) -> None:
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(WeightsNotFoundError, match=r"nope\.safetensors does not exist"):
        resolve_clip_weights(tiny, str(missing))
    with pytest.raises(WeightsNotFoundError, match=r"neither a pretrained tag.*known: openai"):
        resolve_clip_weights("ViT-B-32", "no-such-tag")
    with pytest.raises(ConfigError, match=r"VA_CLIP_MODEL='ViT-Q-99'"):
        resolve_clip_weights("ViT-Q-99", "openai")
    with pytest.raises(WeightsNotFoundError, match=r"open_clip_config\.json"):
        resolve_clip_weights(tiny, str(tmp_path))
    with pytest.raises(WeightsNotFoundError, match="VA_CLIP_PRETRAINED is empty"):
        resolve_clip_weights(tiny, "")
    assert not clip_weights_available("ViT-Q-99", "openai")
