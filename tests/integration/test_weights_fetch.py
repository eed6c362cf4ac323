"""Fetching CLIP weights for a pretrained tag: once, verified, resumable, and fast to give up.

A real huggingface_hub download from a Hugging Face-compatible server on loopback
(``tests/hubserver.py``, ``HF_ENDPOINT``) that serves a tiny open_clip model made here; the
test architecture gets a pretrained tag pointing at that repo, as open_clip's table does for
ViT-B-32/openai. Never the internet.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import open_clip
import pytest
from huggingface_hub import constants as hf_constants

from tests.clipfixtures import (
    HUB_FILE as FILE,
)
from tests.clipfixtures import (
    HUB_REPO as REPO,
)
from tests.clipfixtures import (
    HUB_TAG as TAG,
)
from tests.clipfixtures import (
    make_tiny_clip,
    register_hub_tag,
    register_tiny_clip,
    save_tiny_clip_weights,
)
from tests.hubserver import online_hub
from va_app import cli
from va_app.config import DEFAULT_CLIP_MODEL, DEFAULT_CLIP_PRETRAINED, Settings
from va_app.encoders import describe_encoder_choice, encoder_for_corpus, make_encoder
from va_app.encoders.clip import clip_weights_available
from va_app.encoders.fetch import WeightsDownloadError
from va_app.errors import EncoderMismatchError, WeightsNotFoundError

TEXTS = ["a car chase at night", "golden hour on a beach"]

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def tiny(monkeypatch) -> str:
    return register_hub_tag(monkeypatch)


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch) -> Path:
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def hub(tmp_path: Path, monkeypatch, tiny: str, hf_cache: Path):
    """Online: huggingface_hub not in offline mode, HF_ENDPOINT at a local hub with the model."""
    weights = save_tiny_clip_weights(tmp_path / "published.safetensors", seed=5)
    with online_hub(monkeypatch, {(REPO, FILE): weights.read_bytes()}) as served:
        yield served


def _settings(tmp_path: Path, tiny: str, **overrides: object) -> Settings:
    values = {
        "encoder": "auto",
        "clip_model": tiny,
        "clip_pretrained": TAG,
        "device": "cpu",
        **overrides,
    }
    return Settings.from_env({}, data_dir=tmp_path / "data", **values)


def _reference_texts(seed: int) -> np.ndarray:
    model = make_tiny_clip(seed=seed)
    tokens = open_clip.get_tokenizer(register_tiny_clip())(TEXTS)
    return model.encode_text(tokens, normalize=True).detach().numpy()


class Progress:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int, str]] = []

    def __call__(self, done: int, total: int, note: str) -> None:
        self.calls.append((done, total, note))


def test_missing_weights_are_fetched_once_then_load_offline(tmp_path, tiny, hub, monkeypatch):
    size = len(hub.files[(REPO, FILE)])
    progress = Progress()
    encoder = make_encoder(_settings(tmp_path, tiny), progress=progress)
    assert encoder.id == f"open_clip:{tiny}:hub_tag"
    np.testing.assert_allclose(encoder.encode_texts(TEXTS), _reference_texts(5), atol=1e-5)
    first_note = progress.calls[0][2]
    assert progress.calls[0][:2] == (0, size) and f"{REPO}/{FILE}" in first_note
    assert f"({size / 1e6:.1f} MB)" in first_note
    assert progress.calls[-1][:2] == (size, size)
    assert len(hub.gets()) == 1
    # Cached now: the next start needs no network at all, offline mode included.
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    requests = len(hub.requests)
    assert make_encoder(_settings(tmp_path, tiny)).id == encoder.id
    assert clip_weights_available(tiny, TAG)
    assert len(hub.requests) == requests


def test_a_dropped_connection_resumes_where_it_stopped(tmp_path, tiny, hub, hf_cache):
    # huggingface_hub keeps what it received in whole chunks (10 MiB): drop the connection
    # a little after the first one (the tiny model is ~13.5 MB).
    chunk = hf_constants.DOWNLOAD_CHUNK_SIZE
    assert len(hub.files[(REPO, FILE)]) > chunk + 1000
    hub.cut_first_get_after = chunk + 1000
    encoder = make_encoder(_settings(tmp_path, tiny, encoder="clip"))
    ranges = [r.range for r in hub.gets()]
    assert ranges == [None, f"bytes={chunk}-"]  # the rest only, not the whole file again
    np.testing.assert_allclose(encoder.encode_texts(TEXTS), _reference_texts(5), atol=1e-5)


def test_a_download_that_fails_its_checksum_is_refused_and_deleted(tmp_path, tiny, hub, hf_cache):
    hub.tamper(REPO, FILE)
    with pytest.raises(WeightsDownloadError, match="is corrupt: its SHA-256 is") as caught:
        make_encoder(_settings(tmp_path, tiny, encoder="clip"))
    assert "was deleted; run again to retry" in str(caught.value)
    assert not clip_weights_available(tiny, TAG)
    assert not [p for p in hf_cache.rglob("*") if p.is_file() and p.stat().st_size > 1000]
    # auto mode falls back to the descriptor, and says why CLIP is not used.
    settings = _settings(tmp_path, tiny)
    assert make_encoder(settings).id.startswith("descriptor:")
    assert "corrupt" in describe_encoder_choice(settings)


def test_offline_mode_sends_no_request_and_auto_falls_back(tmp_path, tiny, hub, monkeypatch):
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    settings = _settings(tmp_path, tiny)
    assert make_encoder(settings).id.startswith("descriptor:")
    line = describe_encoder_choice(settings)
    assert "could not be downloaded: offline mode is on (HF_HUB_OFFLINE=1)" in line
    assert f"`hf download {REPO} {FILE}`" in line
    with pytest.raises(WeightsNotFoundError, match=r"HF_HUB_OFFLINE=1.*connect to the internet"):
        make_encoder(_settings(tmp_path, tiny, encoder="clip"))
    assert hub.requests == []


def test_an_unreachable_hub_is_explained_and_auto_falls_back(tmp_path, tiny, hf_cache, monkeypatch):
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    with socket.socket() as probe:  # a loopback port nobody listens on: refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(WeightsNotFoundError, match=rf"127\.0\.0\.1:{port} cannot be reached"):
        make_encoder(_settings(tmp_path, tiny, encoder="clip"))
    assert make_encoder(_settings(tmp_path, tiny)).id.startswith("descriptor:")


def test_an_existing_clip_corpus_gets_its_weights_fetched(tmp_path, tiny, hub):
    encoder = encoder_for_corpus(_settings(tmp_path, tiny), f"open_clip:{tiny}:hub_tag")
    assert encoder.id == f"open_clip:{tiny}:hub_tag"
    assert len(hub.gets()) == 1


def test_a_corpus_of_other_weights_downloads_nothing(tmp_path, tiny, hub):
    # The tag's weights would give another encoder than the corpus's: refused, not fetched.
    with pytest.raises(EncoderMismatchError, match="open_clip:ViT-B-32:openai"):
        encoder_for_corpus(_settings(tmp_path, tiny), "open_clip:ViT-B-32:openai")
    assert hub.requests == []


def test_cli_fetch_shows_the_size_and_a_progress_bar(tmp_path, tiny, hub, monkeypatch, capsys):
    monkeypatch.setenv("VA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VA_CLIP_MODEL", tiny)
    monkeypatch.setenv("VA_CLIP_PRETRAINED", TAG)
    size = len(hub.files[(REPO, FILE)])
    assert cli.main(["fetch-weights", "--json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["encoder"] == f"open_clip:{tiny}:hub_tag"
    assert report["downloaded_bytes"] == size and Path(report["path"]).is_file()
    assert f"{REPO}/{FILE} ({size / 1e6:.1f} MB)" in err
    assert "100%" in err  # tqdm's bar reached the end
    assert cli.main(["fetch-weights", "--json"]) == 0  # already here: nothing downloaded
    assert json.loads(capsys.readouterr().out)["downloaded_bytes"] == 0
    assert len(hub.gets()) == 1


def test_cli_fetch_offline_exits_non_zero_with_the_fix(
    tmp_path, tiny, hf_cache, monkeypatch, capsys
):
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("VA_CLIP_MODEL", tiny)
    monkeypatch.setenv("VA_CLIP_PRETRAINED", TAG)
    assert cli.main(["fetch-weights", "--data-dir", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no CLIP weights for") and err.count("\n") == 1
    assert "HF_HUB_OFFLINE=1" in err and "`hf download" in err


def test_fetch_weights_fetches_the_default_clip(tmp_path, hf_cache, monkeypatch, capsys):
    # The default model's own repo and file, as open_clip's table names them; the bytes are a
    # stand-in (fetching verifies the checksum, it does not load the model).
    cfg = open_clip.get_pretrained_cfg(DEFAULT_CLIP_MODEL, DEFAULT_CLIP_PRETRAINED)
    repo = cfg["hf_hub"].rstrip("/")
    payload = bytes(range(256)) * 4096
    for name in ("VA_CLIP_MODEL", "VA_CLIP_PRETRAINED", "VA_ENCODER"):
        monkeypatch.delenv(name, raising=False)
    with online_hub(monkeypatch, {(repo, "open_clip_model.safetensors"): payload}) as served:
        assert cli.main(["fetch-weights", "--json", "--data-dir", str(tmp_path / "d")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["encoder"] == f"open_clip:{DEFAULT_CLIP_MODEL}:{DEFAULT_CLIP_PRETRAINED}"
    assert report["downloaded_bytes"] == len(payload)
    assert [r.path.split("/resolve/")[0] for r in served.gets()] == [f"/{repo}"]
    assert clip_weights_available(DEFAULT_CLIP_MODEL, DEFAULT_CLIP_PRETRAINED)
    assert (DEFAULT_CLIP_MODEL, DEFAULT_CLIP_PRETRAINED) != ("ViT-B-32", "openai")


def test_a_corpus_built_with_other_local_weights_keeps_them_in_auto_mode(tmp_path, tiny, hub):
    built_with = make_encoder(_settings(tmp_path, tiny)).id  # fetched once: now in the cache
    requests = len(hub.requests)
    defaults = Settings.from_env({}, data_dir=tmp_path / "data", device="cpu")
    assert (defaults.clip_model, defaults.clip_pretrained) != (tiny, TAG)
    assert encoder_for_corpus(defaults, built_with).id == built_with
    assert len(hub.requests) == requests  # nothing fetched for it
    # VA_ENCODER=clip asks for the settings' model: no silent switch to the corpus's.
    clip = Settings.from_env({}, data_dir=tmp_path / "data", encoder="clip")
    with pytest.raises(WeightsNotFoundError, match=f"no CLIP weights for {DEFAULT_CLIP_MODEL}/"):
        encoder_for_corpus(clip, built_with)
