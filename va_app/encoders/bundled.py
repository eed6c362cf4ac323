"""CLIP models that ship inside the package, so text search works with no download.

Owns the demo world's own vision-language model: a small open_clip architecture (its config
is :data:`DEMO_CLIP_CONFIG`, registered with ``open_clip.add_model_config`` under
:data:`DEMO_CLIP_NAME`) and its trained weights (:data:`DEMO_CLIP_WEIGHTS`, trained by
``python -m va_app.datasets.demo.train`` on another rendering of the demo world). It loads
through the same code as any open_clip model with a weights file — model name plus
``pretrained=<file>`` — once its config is registered. The demo corpus's encoder is that CLIP
beside the offline descriptor (:class:`~va_app.encoders.combined.CombinedEncoder`): text
search ranks by the CLIP alone, classifiers also see the descriptor's motion and layout.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from va_app.config import Settings
from va_app.encoders.base import Encoder

DEMO_CLIP_NAME = "va-demo-clip"
#: The model travels with the demo world it was trained on (data files, not code).
DEMO_CLIP_DIR = Path(__file__).resolve().parents[1] / "datasets" / "demo" / "model"
DEMO_CLIP_CONFIG = DEMO_CLIP_DIR / f"{DEMO_CLIP_NAME}.json"
DEMO_CLIP_WEIGHTS = DEMO_CLIP_DIR / "va_demo_clip.safetensors"
DEMO_CLIP_ID_PREFIX = f"open_clip:{DEMO_CLIP_NAME}:"
#: The visual encoder beside the demo CLIP (``va_app.encoders.descriptor``'s id).
DEMO_VISUAL_ID = "descriptor:v2"


def register_bundled(model_name: str) -> None:
    """Register ``model_name`` with open_clip when it is a bundled model (else do nothing)."""
    if model_name == DEMO_CLIP_NAME:
        register_demo_clip()


def register_demo_clip() -> str:
    """Make open_clip know the demo CLIP's architecture (idempotent); returns its name."""
    import open_clip

    if open_clip.get_model_config(DEMO_CLIP_NAME) is None:
        open_clip.add_model_config(DEMO_CLIP_CONFIG)
    return DEMO_CLIP_NAME


def demo_clip_available() -> bool:
    return DEMO_CLIP_WEIGHTS.is_file() and DEMO_CLIP_CONFIG.is_file()


def is_demo_clip_id(encoder_id: str | None) -> bool:
    """Whether a corpus's encoder id names the demo CLIP (any version of its weights)."""
    return encoder_id is not None and encoder_id.startswith(DEMO_CLIP_ID_PREFIX)


def demo_clip_settings(settings: Settings) -> Settings:
    """``settings`` with the demo CLIP as their encoder (everything else unchanged)."""
    return replace(
        settings, encoder="clip", clip_model=DEMO_CLIP_NAME, clip_pretrained=str(DEMO_CLIP_WEIGHTS)
    )


def bundled_encoder(clip: Encoder) -> Encoder:
    """The encoder a corpus gets from ``clip``: the demo CLIP comes with the descriptor beside
    it (see the module docstring); any other CLIP is returned as it is."""
    if not is_demo_clip_id(clip.id):
        return clip
    from va_app.encoders.combined import CombinedEncoder
    from va_app.encoders.descriptor import DescriptorEncoder

    return CombinedEncoder(clip, DescriptorEncoder())


def bundled_encoder_id(clip_id: str) -> str:
    """The id :func:`bundled_encoder` gives a CLIP with id ``clip_id`` (no model loaded)."""
    if not is_demo_clip_id(clip_id):
        return clip_id
    from va_app.encoders.combined import combined_id

    return combined_id(clip_id, DEMO_VISUAL_ID)
