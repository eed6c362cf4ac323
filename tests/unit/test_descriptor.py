"""The offline visual descriptor: unit vectors, deterministic, motion-aware, no text tower."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from va_app.encoders.base import Encoder, NoTextTowerError
from va_app.encoders.descriptor import DescriptorEncoder, feature_groups
from va_app.errors import ValidationError

FRAME_SIZE = (256, 144)


def _scene(seed: int) -> np.ndarray:
    """A textured picture with a few shapes, larger than a frame so a camera can move over it."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, size=(90, 160, 3), dtype=np.uint8)
    scene = cv2.resize(cv2.GaussianBlur(noise, (0, 0), 2.0), (480, 270))
    for _ in range(12):
        centre = (int(rng.integers(0, 480)), int(rng.integers(0, 270)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(scene, centre, int(rng.integers(8, 40)), colour, -1)
    return scene


def _clip(scene: np.ndarray, *, dx: float = 0.0, zoom: float = 1.0, k: int = 8) -> np.ndarray:
    """``k`` frames filmed from the scene's centre, moving ``dx`` px or zooming per frame."""
    frames = []
    for i in range(k):
        z = zoom**i
        cx, cy = scene.shape[1] / 2 + dx * i, scene.shape[0] / 2
        matrix = np.float32(
            [[z, 0, FRAME_SIZE[0] / 2 - z * cx], [0, z, FRAME_SIZE[1] / 2 - z * cy]]
        )
        frames.append(cv2.warpAffine(scene, matrix, FRAME_SIZE, borderMode=cv2.BORDER_REFLECT))
    return np.stack(frames)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_is_an_encoder_without_text() -> None:
    encoder = DescriptorEncoder()
    assert isinstance(encoder, Encoder)
    assert encoder.id.startswith("descriptor:")
    assert encoder.has_text is False
    assert 256 <= encoder.dim <= 512
    assert encoder.frames_per_shot >= 2


def test_vectors_are_unit_length_float32() -> None:
    shots = [_clip(_scene(1)), _clip(_scene(2), dx=4.0), _clip(_scene(3), zoom=1.05)]
    vectors = DescriptorEncoder().encode_shots(shots)
    assert vectors.shape == (3, DescriptorEncoder().dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_no_shots_give_an_empty_matrix() -> None:
    vectors = DescriptorEncoder().encode_shots([])
    assert vectors.shape == (0, DescriptorEncoder().dim)


def test_same_frames_give_the_same_vector_alone_or_in_a_batch() -> None:
    encoder = DescriptorEncoder()
    a, b = _clip(_scene(4), dx=3.0), _clip(_scene(5))
    batch = encoder.encode_shots([a, b])
    np.testing.assert_array_equal(encoder.encode_shots([a])[0], batch[0])
    np.testing.assert_array_equal(DescriptorEncoder().encode_shots([a, b]), batch)


def test_any_frame_size_and_a_single_frame_work() -> None:
    scene = _scene(6)
    big = np.stack([cv2.resize(f, (640, 360)) for f in _clip(scene)])
    odd = np.stack([cv2.resize(f, (90, 70)) for f in _clip(scene)])
    vectors = DescriptorEncoder().encode_shots([big, odd, _clip(scene)[:1]])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # The same picture at another resolution stays the nearest thing to itself.
    assert _cosine(vectors[0], vectors[1]) > 0.9


def test_different_pictures_give_different_vectors() -> None:
    a, b = DescriptorEncoder().encode_shots([_clip(_scene(7)), _clip(_scene(8))])
    assert _cosine(a, b) < 0.98


def test_a_panning_clip_moves_unlike_a_static_one() -> None:
    scene_a, scene_b = _scene(9), _scene(10)
    static_a = feature_groups(_clip(scene_a))["motion"]
    static_b = feature_groups(_clip(scene_b))["motion"]
    pan_a = feature_groups(_clip(scene_a, dx=6.0))["motion"]
    pan_b = feature_groups(_clip(scene_b, dx=-6.0))["motion"]
    # Motion features describe how the picture moves, whatever it shows.
    assert _cosine(static_a, static_b) > 0.95
    assert _cosine(pan_a, pan_b) > max(_cosine(pan_a, static_a), _cosine(pan_b, static_b)) + 0.2


def test_a_zoom_moves_unlike_a_pan() -> None:
    scene = _scene(11)
    zoom = feature_groups(_clip(scene, zoom=1.06))["motion"]
    pan = feature_groups(_clip(scene, dx=5.0))["motion"]
    other_zoom = feature_groups(_clip(_scene(12), zoom=1 / 1.06))["motion"]
    assert _cosine(zoom, other_zoom) > _cosine(zoom, pan) + 0.2


def test_shots_that_are_not_rgb_frames_are_refused() -> None:
    encoder = DescriptorEncoder()
    with pytest.raises(ValidationError, match="shot 1"):
        encoder.encode_shots([_clip(_scene(13)), np.zeros((4, 36, 64), np.uint8)])
    with pytest.raises(ValidationError, match="uint8"):
        encoder.encode_shots([_clip(_scene(13)).astype(np.float32)])


def test_text_search_explains_the_keyword_fallback_and_how_to_get_clip() -> None:
    with pytest.raises(NoTextTowerError) as error:
        DescriptorEncoder().encode_texts(["a car chase at night"])
    message = str(error.value)
    assert "keyword" in message
    assert "VA_ENCODER=clip" in message
    assert "VA_CLIP_PRETRAINED" in message


# -- tilt (version 2): a Dutch angle ---------------------------------------------------------
def _street(seed: int) -> np.ndarray:
    """A level, man-made scene: buildings with windows over a road, as a camera sees them."""
    rng = np.random.default_rng(seed)
    scene = np.full((270, 480, 3), (150, 180, 220), np.uint8)
    x = 0
    while x < 480:
        width, top = int(rng.integers(40, 90)), int(rng.integers(40, 140))
        cv2.rectangle(
            scene, (x, top), (x + width, 200), tuple(int(c) for c in rng.integers(40, 200, 3)), -1
        )
        for wy in range(top + 10, 190, 22):
            for wx in range(x + 6, x + width - 12, 16):
                cv2.rectangle(scene, (wx, wy), (wx + 8, wy + 10), (240, 230, 160), -1)
        x += width + int(rng.integers(0, 10))
    cv2.rectangle(scene, (0, 200), (480, 270), (70, 70, 75), -1)
    return scene


def _tilted(frames: np.ndarray, degrees: float) -> np.ndarray:
    h, w = frames.shape[1:3]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.25)  # zoomed in: no corners
    return np.stack(
        [cv2.warpAffine(f, matrix, (w, h), borderMode=cv2.BORDER_REFLECT) for f in frames]
    )


def test_a_tilted_camera_is_told_from_a_level_one_either_way_round() -> None:
    level = _clip(_street(4))
    tilt = {d: feature_groups(_tilted(level, d), ("tilt",))["tilt"] for d in (0.0, 12.0, -12.0)}
    t = {
        d: float(np.arctan2(v[1], v[0]) / (np.pi / 2)) for d, v in tilt.items()
    }  # 0 level, 1 tilted
    assert t[0.0] < 0.2
    assert t[12.0] > 0.8 and t[-12.0] > 0.8


def test_corpora_of_version_1_keep_their_features() -> None:
    """A corpus built before the tilt group grows with version-1 vectors, comparable to its own."""
    shot = _clip(_street(5))
    v1, v2 = DescriptorEncoder(1), DescriptorEncoder()
    assert (v1.id, v2.id) == ("descriptor:v1", "descriptor:v2")
    assert v2.dim == v1.dim + 2
    old = v1.encode_shots([shot])[0]
    new = v2.encode_shots([shot])[0]
    assert old.shape == (v1.dim,)
    # Version 2 is version 1 plus the tilt group: the shared groups point the same way.
    assert _cosine(old, new[: v1.dim]) > 0.999
    with pytest.raises(ValidationError, match="unknown descriptor version 9"):
        DescriptorEncoder(9)
