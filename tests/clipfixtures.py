"""A tiny open_clip architecture for tests: real CLIP code paths at thousands of images/s.

``register_tiny_clip()`` registers it with open_clip and returns its model name;
``save_tiny_clip_weights(path, seed=...)`` writes a weights file for it (random weights,
reproducible per seed), standing in for a real checkpoint that cannot be downloaded here;
``register_hub_tag(monkeypatch)`` gives it a pretrained tag whose weights live in a Hugging Face
repo, as open_clip's table does for ViT-B-32/openai (served by ``tests/hubserver.py``).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

TINY_CLIP_NAME = "va-test-tiny-clip"
HUB_REPO = "va-test/tiny-clip-hub"
HUB_FILE = "open_clip_model.safetensors"
HUB_TAG = "hub-tag"
TINY_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    # The real tokenizer (vocab 49408, context 77) so text goes through CLIP's own code.
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def register_tiny_clip() -> str:
    """Register the tiny config with open_clip (idempotent); returns the model name."""
    import open_clip

    if TINY_CLIP_NAME not in open_clip.list_models():
        folder = Path(tempfile.mkdtemp(prefix="va-tiny-clip-"))
        path = folder / f"{TINY_CLIP_NAME}.json"
        path.write_text(json.dumps(TINY_CLIP_CONFIG))
        open_clip.add_model_config(path)
    return TINY_CLIP_NAME


def make_tiny_clip(*, seed: int = 0):
    """A tiny CLIP model with weights drawn from ``seed`` (torch's global RNG left untouched)."""
    import open_clip
    import torch

    name = register_tiny_clip()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = open_clip.create_model(name, pretrained=None)
    return model.eval()


def save_tiny_clip_weights(path: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny CLIP's state dict to ``path`` (.safetensors, else torch.save)."""
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in make_tiny_clip(seed=seed).state_dict().items()}
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


def register_hub_tag(monkeypatch) -> str:
    """Give the tiny architecture the pretrained tag ``HUB_TAG`` -> ``HUB_REPO`` (undone after
    the test); returns the model name."""
    import open_clip

    name = register_tiny_clip()
    monkeypatch.setitem(
        open_clip.pretrained._PRETRAINED,
        name,
        {HUB_TAG.replace("-", "_"): {"hf_hub": f"{HUB_REPO}/"}},
    )
    return name
