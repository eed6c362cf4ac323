"""Which encoder the settings give, what the one-line description says, and corpus mismatches.

CLIP runs as the tiny test architecture (random weights); "no weights here" is a weights file
that does not exist or an empty Hugging Face cache — both real situations, nothing mocked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clipfixtures import register_tiny_clip, save_tiny_clip_weights
from va_app.config import Settings
from va_app.encoders import (
    describe_encoder_choice,
    encoder_for_corpus,
    make_encoder,
    planned_encoder_id,
)
from va_app.errors import EncoderMismatchError, WeightsNotFoundError


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings.from_env({}, data_dir=tmp_path / "data", device="cpu", **overrides)


@pytest.fixture
def tiny() -> str:
    return register_tiny_clip()


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch) -> Path:
    """Point huggingface_hub at an empty cache, as on a machine that never downloaded weights."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def _descriptor_module():
    return pytest.importorskip("va_app.encoders.descriptor", reason="descriptor.py not written yet")


def test_clip_mode_gives_clip_with_the_settings_applied(tmp_path: Path, tiny: str) -> None:
    settings = _settings(
        tmp_path,
        encoder="clip",
        clip_model=tiny,
        clip_pretrained="none",
        batch_size=7,
        keyframes_per_shot=5,
    )
    encoder = make_encoder(settings)
    assert encoder.id == f"open_clip:{tiny}:random" == planned_encoder_id(settings)
    assert (encoder.has_text, encoder.frames_per_shot, encoder.batch_size) == (True, 5, 7)
    assert (
        describe_encoder_choice(settings)
        == f"CLIP {tiny} with random weights (for tests only), on cpu"
    )


def test_clip_model_is_loaded_once_per_process(tmp_path: Path, tiny: str) -> None:
    settings = _settings(tmp_path, encoder="clip", clip_model=tiny, clip_pretrained="none")
    assert (
        make_encoder(settings).model is make_encoder(settings.with_data_dir(tmp_path / "b")).model
    )


def test_clip_mode_without_weights_says_how_to_get_them(tmp_path: Path, tiny: str) -> None:
    missing = tmp_path / "clip.safetensors"
    settings = _settings(tmp_path, encoder="clip", clip_model=tiny, clip_pretrained=str(missing))
    with pytest.raises(WeightsNotFoundError, match="VA_CLIP_PRETRAINED"):
        make_encoder(settings)
    assert describe_encoder_choice(settings).startswith(f"CLIP {tiny} ({missing}) — not available:")


def test_auto_mode_takes_clip_from_a_weights_file(tmp_path: Path, tiny: str) -> None:
    weights = save_tiny_clip_weights(tmp_path / "tiny.safetensors", seed=3)
    settings = _settings(tmp_path, clip_model=tiny, clip_pretrained=str(weights))
    assert make_encoder(settings).id.startswith(f"open_clip:{tiny}:tiny-")
    assert describe_encoder_choice(settings) == f"CLIP {tiny} from file {weights}, on cpu"


@pytest.mark.timeout(30)
def test_auto_mode_without_clip_weights_explains_the_fallback(
    tmp_path: Path, empty_hf_cache
) -> None:
    line = describe_encoder_choice(
        _settings(tmp_path, clip_model="ViT-B-32", clip_pretrained="openai")
    )
    assert line.startswith("offline visual descriptor — text search falls back to keywords")
    for needed in ("ViT-B-32/openai", str(empty_hf_cache), "VA_CLIP_PRETRAINED=", "`hf download"):
        assert needed in line
    assert "\n" not in line


def test_descriptor_mode_and_auto_fallback_give_the_descriptor(
    tmp_path: Path, empty_hf_cache
) -> None:
    _descriptor_module()
    explicit = make_encoder(_settings(tmp_path, encoder="descriptor"))
    fallback = make_encoder(_settings(tmp_path, clip_model="ViT-B-32", clip_pretrained="openai"))
    assert explicit.id == fallback.id == "descriptor:v2"
    assert not explicit.has_text
    assert describe_encoder_choice(_settings(tmp_path, encoder="descriptor")).startswith(
        "offline visual descriptor (VA_ENCODER=descriptor)"
    )


def test_corpus_built_with_the_same_encoder_is_accepted(tmp_path: Path, tiny: str) -> None:
    settings = _settings(tmp_path, encoder="clip", clip_model=tiny, clip_pretrained="random")
    assert encoder_for_corpus(settings, None).id == f"open_clip:{tiny}:random"
    assert encoder_for_corpus(settings, f"open_clip:{tiny}:random").id == f"open_clip:{tiny}:random"


def test_corpus_built_with_another_clip_is_refused_with_both_ids(tmp_path: Path, tiny: str) -> None:
    settings = _settings(tmp_path, encoder="clip", clip_model=tiny, clip_pretrained="random")
    with pytest.raises(EncoderMismatchError) as caught:
        encoder_for_corpus(settings, "open_clip:ViT-B-32:openai")
    message = str(caught.value)
    for needed in (
        "'open_clip:ViT-B-32:openai'",
        f"'open_clip:{tiny}:random'",
        str(settings.data_dir),
        "VA_CLIP_MODEL=ViT-B-32 VA_CLIP_PRETRAINED=openai",
        "VA_DATA_DIR",
        "re-ingest",
    ):
        assert needed in message


def test_corpus_built_from_a_weights_file_names_that_file(tmp_path: Path, tiny: str) -> None:
    settings = _settings(tmp_path, encoder="clip", clip_model=tiny, clip_pretrained="random")
    with pytest.raises(
        EncoderMismatchError, match="VA_CLIP_PRETRAINED=<path of the my_clip weights"
    ):
        encoder_for_corpus(settings, f"open_clip:{tiny}:my_clip-0123456789")


def test_auto_mode_prefers_the_corpus_descriptor_over_available_clip(
    tmp_path: Path, tiny: str
) -> None:
    _descriptor_module()
    settings = _settings(tmp_path, clip_model=tiny, clip_pretrained="random")
    assert make_encoder(settings).id.startswith("open_clip:")
    assert encoder_for_corpus(settings, "descriptor:v1").id == "descriptor:v1"


def test_auto_mode_with_a_clip_corpus_but_no_weights_is_refused(
    tmp_path: Path, empty_hf_cache
) -> None:
    _descriptor_module()
    settings = _settings(tmp_path, clip_model="ViT-B-32", clip_pretrained="openai")
    with pytest.raises(EncoderMismatchError, match=r"'open_clip:ViT-B-32:openai'.*'descriptor:v2'"):
        encoder_for_corpus(settings, "open_clip:ViT-B-32:openai")


# -- the demo world's own CLIP ------------------------------------------------------------
def test_a_demo_corpus_keeps_the_demo_clip_in_auto_mode(tmp_path: Path, empty_hf_cache) -> None:
    """No ViT-B-32 weights here and auto mode: a corpus the demo CLIP built still gets it."""
    from va_app.encoders.bundled import DEMO_CLIP_NAME, demo_clip_settings

    demo_id = planned_encoder_id(demo_clip_settings(_settings(tmp_path)))
    assert demo_id.startswith(f"open_clip:{DEMO_CLIP_NAME}:va_demo_clip-")
    assert demo_id.endswith("+descriptor:v2")  # the descriptor beside it (encoders.combined)
    encoder = encoder_for_corpus(_settings(tmp_path), demo_id)
    assert encoder.id == demo_id and encoder.has_text
    vectors = encoder.encode_texts(["a car chase at night", "two people indoors"])
    assert vectors.shape == (2, encoder.dim)
    # A new corpus in auto mode without CLIP weights still gets the descriptor.
    assert make_encoder(_settings(tmp_path)).id.startswith("descriptor:")
    with pytest.raises(EncoderMismatchError):
        encoder_for_corpus(_settings(tmp_path, encoder="descriptor"), demo_id)


def test_the_app_line_says_which_encoder_is_active(tmp_path: Path, tiny: str) -> None:
    from va_app.encoders import encoder_status_line
    from va_app.encoders.bundled import DEMO_CLIP_ID_PREFIX

    clip = make_encoder(
        _settings(tmp_path, encoder="clip", clip_model=tiny, clip_pretrained="none")
    )
    descriptor = make_encoder(_settings(tmp_path, encoder="descriptor"))
    assert "semantic (CLIP)" in encoder_status_line(clip.id, clip)
    assert "demo world's own small CLIP" in encoder_status_line(f"{DEMO_CLIP_ID_PREFIX}x", clip)
    assert "falls back to keywords" in encoder_status_line(descriptor.id, descriptor)
    assert "not available on this machine" in encoder_status_line("clip4clip:netflix", None)


def test_a_descriptor_corpus_of_an_older_version_keeps_its_version(tmp_path: Path) -> None:
    _descriptor_module()
    for mode in ("auto", "descriptor"):
        encoder = encoder_for_corpus(_settings(tmp_path, encoder=mode), "descriptor:v1")
        assert encoder.id == "descriptor:v1"
    with pytest.raises(EncoderMismatchError, match="'descriptor:v9'"):
        encoder_for_corpus(_settings(tmp_path, encoder="descriptor"), "descriptor:v9")


def test_a_demo_corpus_of_another_release_says_to_rebuild_the_demo(
    tmp_path: Path, empty_hf_cache
) -> None:
    """Each release ships its own demo-CLIP weights: an older demo corpus cannot be searched with
    them, and the way out is to rebuild the demo, not to find the old weights."""
    old = "open_clip:va-demo-clip:va_demo_clip-0123456789+descriptor:v1"
    with pytest.raises(EncoderMismatchError, match="builds this release.s") as caught:
        encoder_for_corpus(_settings(tmp_path), old)
    assert "python -m va_app demo --first-run" in str(caught.value)
