"""The demo corpus through the real CLIP path: the demo world's own CLIP, text-to-video search.

The shipped demo (400 shots, default settings, ``VA_ENCODER=auto``) is built once for the
module and searched the way the app searches it: ``ShotSearch.from_corpus`` over the
workspace's matrix, with the corpus's encoder's text tower.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import open_services
from va_app.config import Settings
from va_app.datasets.demo.corpus import build_demo_corpus
from va_app.encoders import encoder_for_corpus
from va_app.encoders.bundled import DEMO_CLIP_ID_PREFIX
from va_app.search.shots import MODE_SEMANTIC, ShotSearch
from va_app.services.bootstrap import Services

#: Phrasings of "car chase" a user might type: the label's name, a caption-like sentence, and
#: a synonym.
# The module builds the full demo once (1–2 min on a quiet machine, 8 under heavy load).
pytestmark = pytest.mark.timeout(1800)
CHASE_QUERIES = ("car chase", "cars racing through the streets at night", "police pursuit")
TOP = 10


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Settings:
    settings = Settings(data_dir=tmp_path_factory.mktemp("democlip"))
    build_demo_corpus(settings)
    return settings


@pytest.fixture(scope="module")
def workspace(demo: Settings):
    ws = open_services(demo)
    yield ws
    ws.close()


def _precision_at(ws: Services, query: str, concept: str, k: int = TOP) -> float:
    search = ShotSearch.from_corpus(ws.corpus, ws.view.matrix)
    encoder = encoder_for_corpus(ws.settings, ws.corpus.encoder_id)
    result = search.search_text(query, encoder, k)
    assert result.mode == MODE_SEMANTIC and len(result.hits) == k
    truth = ws.corpus.catalog.ground_truth(concept)
    return float(np.mean([truth[hit.shot_id] for hit in result.hits]))


def test_info_reports_the_demo_clip_as_the_corpus_encoder(demo: Settings) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "va_app", "info", "--json", "--data-dir", str(demo.data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(out.stdout)
    assert info["encoder"].startswith(DEMO_CLIP_ID_PREFIX)
    assert info["shots"] == 400


@pytest.mark.parametrize("query", CHASE_QUERIES)
def test_text_search_puts_car_chases_first(workspace: Services, query: str) -> None:
    """Measured with the committed weights: precision@10 0.8 / 0.6 / 1.0 for these queries,
    on a 13 % base rate (see va_app/datasets/demo/model/README.md). The label's own name meets
    the issue's bar (0.8); other phrasings must beat twice what a random ranking gets."""
    rate = np.mean(list(workspace.corpus.catalog.ground_truth("car_chase").values()))
    assert rate < 0.2
    bar = 0.8 if query == "car chase" else 2 * rate
    assert _precision_at(workspace, query, "car_chase") >= bar


def test_search_shows_the_clips_own_similarity(workspace: Services) -> None:
    """The demo's shot vectors hold the CLIP beside the descriptor; the similarity a user reads
    is still the CLIP's own cosine of the text and the shot's CLIP part."""
    search = ShotSearch.from_corpus(workspace.corpus, workspace.view.matrix)
    encoder = encoder_for_corpus(workspace.settings, workspace.corpus.encoder_id)
    hits = search.search_text("car chase", encoder, 5).hits
    text = encoder.text.encode_texts(["car chase"])[0]
    text = text / np.linalg.norm(text)
    matrix, row = search.X, {shot_id: i for i, shot_id in enumerate(search.ids)}
    for hit in hits:
        clip_part = matrix[row[hit.shot_id], : encoder.text.dim]
        clip_part = clip_part / np.linalg.norm(clip_part)
        assert hit.similarity == pytest.approx(float(clip_part @ text), abs=2e-3)


def test_text_finds_times_of_day_but_not_camera_moves(workspace: Services) -> None:
    """Captions named the light, never the camera: zero-shot is strong on one, chance on the
    other (the reason the tool has active learning)."""
    assert _precision_at(workspace, "night", "night") >= 0.8
    zoom_rate = np.mean(list(workspace.corpus.catalog.ground_truth("zoom").values()))
    assert _precision_at(workspace, "zoom", "zoom", k=40) < zoom_rate + 0.25


@pytest.mark.parametrize("query", ["police car", "police pursuit"])
def test_text_search_finds_the_police_cars_among_the_chases(
    workspace: Services, query: str
) -> None:
    """A police car is 1 chase in 3 (5 % of shots): its light bar, kept in frame for the whole
    shot, is what the CLIP must see. Measured: precision@10 0.9 for both queries."""
    rate = np.mean(list(workspace.corpus.catalog.ground_truth("police_car").values()))
    assert rate < 0.1
    assert _precision_at(workspace, query, "police_car") >= 0.7


@pytest.mark.parametrize("concept", ["pan", "zoom", "handheld"])
def test_labels_teach_what_text_cannot_find(workspace: Services, concept: str) -> None:
    """Camera moves were never captioned, so text search cannot find them; the demo corpus's
    vectors still carry them (the descriptor beside the CLIP), so 150 labelled shots train a
    classifier that ranks the other 250 well. Measured, mean AP over five random splits: 0.80
    pan, 0.90 zoom, 0.95 handheld (base rates 0.14 / 0.09 / 0.20; one split alone ranges
    0.68–0.87 for pan); with the CLIP's vectors alone 0.17 / 0.10 / 0.25 (previous weights)."""
    from sklearn.metrics import average_precision_score

    from va_app.learn.classifier import ShotClassifier

    matrix = workspace.view.matrix
    truth = workspace.corpus.catalog.ground_truth(concept)
    y = np.array([truth[i] for i in matrix.ids])
    aps = []
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(len(y))
        train, test = order[:150], order[150:]
        scores = ShotClassifier().fit(matrix.X[train], y[train]).decision_function(matrix.X[test])
        aps.append(average_precision_score(y[test], scores))
    assert np.mean(aps) >= 0.7 > 2 * y.mean()


def test_a_descriptor_demo_corpus_keeps_its_encoder(tmp_path) -> None:
    """Data dirs built before the demo CLIP (with the descriptor) keep working in auto mode."""
    old = Settings(data_dir=tmp_path / "old", encoder="descriptor")
    build_demo_corpus(old, n_shots=16)
    again = build_demo_corpus(Settings(data_dir=tmp_path / "old"), n_shots=16)
    assert again.added_shots == 0
    ws = open_services(Settings(data_dir=tmp_path / "old"))
    try:
        assert ws.corpus.encoder_id.startswith("descriptor:")
        assert not encoder_for_corpus(ws.settings, ws.corpus.encoder_id).has_text
    finally:
        ws.close()
