"""The app fetches a CLIP corpus's missing weights once, under an st.progress bar.

A corpus built with the tiny CLIP's pretrained tag (weights fetched from a local hub into one
Hugging Face cache), then opened on a "machine" whose cache is empty: Home downloads them from
the local hub (``tests/hubserver.py``) with a progress bar, and search is semantic.
"""

from __future__ import annotations

import streamlit as st
from huggingface_hub import constants as hf_constants

from tests.app.conftest import make_app
from tests.clipfixtures import HUB_FILE, HUB_REPO, HUB_TAG, register_hub_tag, save_tiny_clip_weights
from tests.hubserver import online_hub
from va_app.config import Settings
from va_app.encoders import make_encoder
from va_app.store.corpus import Corpus
from va_app.store.schema import ShotRow, VideoRow


def _small_corpus(settings: Settings) -> str:
    encoder = make_encoder(settings)
    corpus = Corpus(settings)
    shots = [
        ShotRow(
            id=f"v|{i * 25}",
            idx=i,
            start_frame=i * 25,
            end_frame=i * 25 + 25,
            start_s=float(i),
            end_s=i + 1.0,
            fps=25.0,
        )
        for i in range(6)
    ]
    video_id = corpus.catalog.begin_video(VideoRow(key="v", path="/videos/v.mp4", title="V"), shots)
    captions = ["a car chase", "a beach", "a city", "a kitchen", "a forest", "a crowd"]
    corpus.matrix.append(
        [s.id for s in shots], encoder.encode_texts(captions), encoder_id=encoder.id
    )
    corpus.catalog.mark_video_ready(video_id)
    corpus.catalog.set_meta("encoder_id", encoder.id)
    corpus.close()
    return encoder.id


def test_home_downloads_missing_clip_weights_with_a_progress_bar(tmp_path, monkeypatch):
    tiny = register_hub_tag(monkeypatch)
    weights = save_tiny_clip_weights(tmp_path / "published.safetensors", seed=7).read_bytes()
    with online_hub(monkeypatch, {(HUB_REPO, HUB_FILE): weights}) as hub:
        monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "cache-elsewhere"))
        env = {
            "VA_DATA_DIR": str(tmp_path / "data"),
            "VA_ENCODER": "auto",
            "VA_DEVICE": "cpu",
            "VA_CLIP_MODEL": tiny,
            "VA_CLIP_PRETRAINED": HUB_TAG,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        encoder_id = _small_corpus(Settings.from_env())
        monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "cache-here"))
        st.cache_resource.clear()
        at = make_app()
        at.run()
        assert not at.exception
        bars = at.get("progress")
        assert len(bars) == 1 and bars[0].proto.value == 100
        assert f"{HUB_REPO}/{HUB_FILE} ({len(weights) / 1e6:.1f} MB)" in bars[0].proto.text
        assert any(f"`{encoder_id}` — text search is semantic" in c.value for c in at.caption)
        assert len(hub.gets()) == 2  # once for the corpus's machine, once for this one
        at.run()  # later runs: no bar, no download
        assert not at.get("progress") and len(hub.gets()) == 2
    st.cache_resource.clear()
