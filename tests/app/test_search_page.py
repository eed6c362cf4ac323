"""The Search page's bootstrapping: zero-shot in one click on a new label, similarities shown,
suggestions from the label's hints, and "more like this" combined with words and filters.

Two corpora: the demo corpus on the offline descriptor (no text tower: words match metadata)
and a small demo corpus encoded by a tiny CLIP (random weights, a real text tower), where the
page's ranking is checked against the vectors themselves.
"""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import streamlit as st

from tests.app.conftest import make_app
from tests.app.grid_driver import grid, send
from tests.clipfixtures import register_tiny_clip, save_tiny_clip_weights
from tests.conftest import TESTER, open_services
from va_app.config import Settings
from va_app.datasets.demo.corpus import build_demo_corpus
from va_app.encoders import make_encoder
from va_app.learn.matrix import CorpusMatrix
from va_app.search.shots import NEGATIVE_WEIGHT
from va_app.services.bootstrap import Services

SEARCH = "pages/search.py"


def _result_ids(at) -> list[str]:
    """Shot ids of the result cards, in page order (the keyboard grid's cards)."""
    return grid(at, "grid-search").shot_ids


def _captions(at) -> list[str]:
    return [c.value for c in at.caption]


def _open_search(label: str):
    at = make_app(label=label)
    at.run()
    at.switch_page(SEARCH).run()
    assert not at.exception
    return at


def _more_like(label: str, words: str, nth: int):
    """Search ``label``'s page for ``words``, then press "More like this" on hit ``nth``."""
    at = _open_search(label)
    at.text_input(key="search_query").input(words).run()
    example = _result_ids(at)[nth]
    send(at, grid(at, "grid-search"), "similar", example)  # the card's More like this
    assert not at.exception
    return at, example


def _metadata_text(ws: Services, shot_id: str) -> str:
    shot = ws.corpus.shots([shot_id])[0]
    return " ".join([shot.title, shot.genre, *shot.tags, shot.video_key]).casefold()


# -- the descriptor corpus (keywords over metadata) -----------------------------------------
def test_one_click_on_a_new_label_runs_a_zero_shot_search(app_settings):
    ws = open_services(app_settings)
    ws.labelling.create_label(TESTER, "night", description="", hints="")
    at = _open_search("night")
    assert _result_ids(at)  # browsing before the click: corpus order
    zero_shot = at.button(key="zero-shot")
    assert zero_shot.proto.type == "primary"  # the first thing to press on a new label
    assert zero_shot.label == "Find “night” by its name (zero-shot)"  # it has no description
    assert any("A new label: start with the zero-shot" in c for c in _captions(at))
    zero_shot.click().run()
    assert not at.exception
    found = _result_ids(at)
    assert found and all("night" in _metadata_text(ws, shot_id) for shot_id in found)
    assert any(
        c.startswith("Zero-shot: shots most like the label's own words “night”")
        for c in _captions(at)
    )
    assert any("Keyword search" in i.value for i in at.info)  # the descriptor says so


def test_the_zero_shot_button_is_secondary_once_the_label_has_annotations(app_settings):
    ws = open_services(app_settings)
    ws.labelling.create_label(TESTER, "night", description="shots filmed after dark")
    ws.uow().labels.annotate_many(
        "night", [(ws.view.matrix.ids[0], True)], annotator="bo", source="search"
    )
    at = _open_search("night")
    assert at.button(key="zero-shot").proto.type == "secondary"
    assert at.button(key="zero-shot").label == "Find “night” by its description (zero-shot)"
    assert not any("A new label: start with the zero-shot" in c for c in _captions(at))


def test_hints_are_clickable_query_suggestions(app_settings):
    ws = open_services(app_settings)
    ws.labelling.create_label(TESTER, "after dark", hints="night; city, night")
    at = _open_search("after dark")
    suggestions = [b for b in at.button if (b.key or "").startswith("suggest-")]
    assert [b.label for b in suggestions] == ["night", "city"]  # split, duplicates once
    suggestions[1].click().run()
    assert not at.exception
    assert at.text_input(key="search_query").value == "city"
    found = _result_ids(at)
    assert found and all("city" in _metadata_text(ws, shot_id) for shot_id in found)


def test_more_like_this_combines_with_words_and_filters(app_settings):
    ws = open_services(app_settings)
    ws.labelling.create_label(TESTER, "night")
    at, example = _more_like("night", "night", 0)
    found = _result_ids(at)
    assert found and example not in found
    assert all("night" in _metadata_text(ws, shot_id) for shot_id in found)
    # ranked by similarity to the example, among the shots the words match
    x = (
        ws.view.matrix.X[ws.view.matrix.rows(found)]
        @ ws.view.matrix.X[ws.view.matrix.rows([example])[0]]
    )
    assert list(x) == sorted(x, reverse=True)
    assert any(f"Shots that look like `{example}` that match “night”" in c for c in _captions(at))
    genre = ws.corpus.shots([found[-1]])[0].genre
    at.multiselect(key="search_genres").select(genre).run()
    filtered = _result_ids(at)
    assert filtered and all(ws.corpus.shots([s])[0].genre == genre for s in filtered)
    assert all("night" in _metadata_text(ws, s) for s in filtered)
    at.button(key="clear-similar").click().run()
    assert not any("look like" in c for c in _captions(at))


# -- a corpus with a text tower (tiny CLIP) ---------------------------------------------------
@pytest.fixture(scope="session")
def clip_template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip-demo")
    weights = save_tiny_clip_weights(folder / "tiny.safetensors", seed=2)
    settings = Settings(
        data_dir=folder / "data",
        encoder="clip",
        clip_model=register_tiny_clip(),
        clip_pretrained=str(weights),
        device="cpu",
    )
    build_demo_corpus(settings, n_shots=24)
    return settings


@pytest.fixture
def clip_settings(clip_template, tmp_path, monkeypatch) -> Settings:
    data_dir = tmp_path / "data"
    shutil.copytree(clip_template.data_dir, data_dir)
    for name, value in {
        "VA_DATA_DIR": str(data_dir),
        "VA_ENCODER": "clip",
        "VA_DEVICE": "cpu",
        "VA_CLIP_MODEL": clip_template.clip_model,
        "VA_CLIP_PRETRAINED": clip_template.clip_pretrained,
    }.items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield Settings.from_env()
    st.cache_resource.clear()
    st.cache_data.clear()


def test_zero_shot_with_a_text_tower_ranks_by_the_labels_words(clip_settings):
    ws = open_services(clip_settings)
    ws.labelling.create_label(
        TESTER,
        "car chase",
        description="two or more cars racing through streets",
        hints="police cars, pursuit",
    )
    at = _open_search("car chase")
    at.button(key="zero-shot").click().run()
    assert not at.exception
    assert not any("Keyword search" in i.value for i in at.info)
    # the label's words, each through the text tower, averaged: exactly the page's ranking
    texts = ["car chase", "two or more cars racing through streets", "police cars", "pursuit"]
    q = make_encoder(clip_settings).encode_texts(texts).mean(axis=0)
    matrix = CorpusMatrix.load(ws.corpus)
    scores = matrix.X @ (q / np.linalg.norm(q))
    expected = [matrix.ids[i] for i in np.argsort(-scores, kind="stable")[:20]]
    assert _result_ids(at) == expected
    line = next(c for c in _captions(at) if c.startswith("Zero-shot"))
    shown = [float(v) for v in re.findall(r"similarity (-?[\d.]+) to (-?[\d.]+)", line)[0]]
    assert shown == pytest.approx([scores.max(), np.sort(scores)[-20]], abs=0.005)
    assert "cosine similarity" in line


def test_zero_shot_pushes_away_the_words_a_labels_hints_negate(clip_settings):
    ws = open_services(clip_settings)
    ws.labelling.create_label(TESTER, "car chase", hints="pursuit, −police cars")
    at = _open_search("car chase")
    assert [b.label for b in at.button if b.key and b.key.startswith("suggest-")] == ["pursuit"]
    at.button(key="zero-shot").click().run()
    assert not at.exception
    encoder = make_encoder(clip_settings)
    want = encoder.encode_texts(["car chase", "pursuit"]).mean(axis=0)
    away = encoder.encode_texts(["police cars"])[0]
    q = want / np.linalg.norm(want) - NEGATIVE_WEIGHT * away / np.linalg.norm(away)
    matrix = CorpusMatrix.load(ws.corpus)
    order = np.argsort(-(matrix.X @ (q / np.linalg.norm(q))), kind="stable")
    assert _result_ids(at) == [matrix.ids[i] for i in order[:20]]
    line = next(c for c in _captions(at) if c.startswith("Zero-shot"))
    assert "“−police cars”" in line  # the page says what it pushes away


def test_words_and_an_example_combine_in_the_vector_space(clip_settings):
    ws = open_services(clip_settings)
    ws.labelling.create_label(TESTER, "night")
    at, example = _more_like("night", "a street at night", 3)
    matrix = CorpusMatrix.load(ws.corpus)
    text = make_encoder(clip_settings).encode_texts(["a street at night"])[0]
    q = text / np.linalg.norm(text) + matrix.X[matrix.rows([example])[0]]
    order = [matrix.ids[i] for i in np.argsort(-(matrix.X @ q), kind="stable")]
    assert _result_ids(at) == [s for s in order if s != example][:20]


def test_the_button_grid_counts_down_to_the_first_build_like_the_keyboard_grid(
    app_settings, monkeypatch
):
    monkeypatch.setenv("VA_CARD_GRID", "buttons")
    ws = open_services(Settings.from_env())
    ws.labelling.create_label(TESTER, "night")
    ws.uow().labels.annotate_many(
        "night", [(i, True) for i in ws.view.matrix.ids[:3]], annotator="bo", source="search"
    )
    at = _open_search("night")
    assert [w.value for w in at.warning] == [
        "The first build needs 10 positives and 10 negatives: **7 more positives** and "
        "**10 more negatives** to go."
    ]
    at.switch_page("pages/learn.py").run()  # the random shots before the first build
    assert not at.exception
    assert any("**7 more positives**" in w.value for w in at.warning)
