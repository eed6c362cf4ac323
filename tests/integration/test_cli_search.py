"""``python -m va_app search``: the app's search path from the command line, on a real corpus.

The corpus (SQLite, h5, Chroma in tmp_path) is encoded by a tiny CLIP through its real text
tower: each shot's vector is the text vector of its caption, so a search for a caption must
find that shot first with similarity 1 — a check of the whole path that random weights allow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.clipfixtures import register_tiny_clip, save_tiny_clip_weights
from tests.conftest import TESTER, open_services
from va_app import cli
from va_app.config import Settings
from va_app.encoders import make_encoder
from va_app.search.shots import NEGATIVE_WEIGHT
from va_app.store.corpus import Corpus
from va_app.store.schema import ShotRow, VideoRow

# key, title, genre, tags, captions (one shot each)
VIDEOS = [
    (
        "chase",
        "Night Pursuit",
        "action",
        ["cars", "night"],
        ["a car chase at night", "police cars in a city street", "a man running"],
    ),
    (
        "beach",
        "Summer Days",
        "documentary",
        ["sea"],
        ["golden hour on a beach", "children playing in the sand", "a car parked by the sea"],
    ),
    (
        "city",
        "Downtown",
        "drama",
        ["city", "night"],
        ["an establishing shot of a city", "two people talking in a kitchen", "a busy road"],
    ),
]
KEYS = {"id", "score", "title", "start_s", "end_s"}


@pytest.fixture(scope="module")
def corpus_settings(tmp_path_factory) -> Settings:
    folder = tmp_path_factory.mktemp("cli-search")
    weights = save_tiny_clip_weights(folder / "tiny.safetensors", seed=4)
    settings = Settings(
        data_dir=folder / "data",
        encoder="clip",
        clip_model=register_tiny_clip(),
        clip_pretrained=str(weights),
        device="cpu",
    )
    encoder = make_encoder(settings)
    corpus = Corpus(settings)
    for key, title, genre, tags, captions in VIDEOS:
        shots = [
            ShotRow(
                id=f"{key}|{i * 50}",
                idx=i,
                start_frame=i * 50,
                end_frame=i * 50 + 50,
                start_s=i * 2.0,
                end_s=i * 2.0 + 2.0,
                fps=25.0,
            )
            for i in range(len(captions))
        ]
        video_id = corpus.catalog.begin_video(
            VideoRow(key=key, path=f"/videos/{key}.mp4", title=title, genre=genre, tags=tags), shots
        )
        corpus.matrix.append(
            [s.id for s in shots], encoder.encode_texts(captions), encoder_id=encoder.id
        )
        corpus.catalog.mark_video_ready(video_id)
    corpus.catalog.set_meta("encoder_id", encoder.id)
    ids, x = corpus.matrix.load()
    corpus.index.add(ids, x)
    corpus.close()
    return settings


@pytest.fixture
def env(corpus_settings, monkeypatch) -> Settings:
    for name, value in {
        "VA_DATA_DIR": str(corpus_settings.data_dir),
        "VA_ENCODER": "clip",
        "VA_DEVICE": "cpu",
        "VA_CLIP_MODEL": corpus_settings.clip_model,
        "VA_CLIP_PRETRAINED": corpus_settings.clip_pretrained,
    }.items():
        monkeypatch.setenv(name, value)
    return corpus_settings


def _search(capsys, *args: str) -> list[dict]:
    assert cli.main(["search", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _vectors(settings: Settings, texts: list[str]) -> np.ndarray:
    return make_encoder(settings).encode_texts(texts)


def _ranking(settings: Settings, q: np.ndarray) -> list[str]:
    corpus = Corpus(settings)
    try:
        ids, x = corpus.matrix.load()
    finally:
        corpus.close()
    return [ids[i] for i in np.argsort(-(x @ (q / np.linalg.norm(q))), kind="stable")]


def test_text_search_finds_the_described_shot_first(env, capsys):
    rows = _search(capsys, "police cars in a city street")
    assert all(set(row) == KEYS for row in rows) and len(rows) == 9
    assert rows[0] == {
        "id": "chase|50",
        "score": pytest.approx(1.0, abs=1e-4),
        "title": "Night Pursuit",
        "start_s": 2.0,
        "end_s": 4.0,
    }
    scores = [row["score"] for row in rows]
    assert scores == sorted(scores, reverse=True)
    expected = _ranking(env, _vectors(env, ["police cars in a city street"])[0])
    assert [row["id"] for row in rows] == expected


def test_filters_and_limit(env, capsys):
    rows = _search(
        capsys, "a car", "--filter", "tag=night", "--filter", "genre=drama", "--limit", "2"
    )
    assert [row["id"].split("|")[0] for row in rows] == ["city", "city"]
    rows = _search(capsys, "a car", "--filter", "min_duration=2", "--filter", "title=summer")
    assert {row["id"].split("|")[0] for row in rows} == {"beach"}


def test_more_like_this_alone_and_combined_with_text(env, capsys):
    alone = _search(capsys, "--like", "beach|100")
    assert "beach|100" not in [row["id"] for row in alone]
    assert alone[0]["score"] >= alone[-1]["score"]
    combined = _search(capsys, "night", "--like", "beach|100", "--limit", "4")
    vectors = _vectors(env, ["night", "a car parked by the sea"])
    q = vectors[0] / np.linalg.norm(vectors[0]) + vectors[1]
    expected = [i for i in _ranking(env, q) if i != "beach|100"][:4]
    assert [row["id"] for row in combined] == expected


def test_zero_shot_by_a_label(env, capsys):
    ws = open_services(env)
    ws.labelling.create_label(
        TESTER, "golden hour", description="golden hour on a beach", hints="sunset"
    )
    ws.close()
    rows = _search(capsys, "--label", "golden hour", "--limit", "3")
    q = _vectors(env, ["golden hour", "golden hour on a beach", "sunset"]).mean(axis=0)
    assert [row["id"] for row in rows] == _ranking(env, q)[:3]


def test_without_the_text_tower_it_says_keyword_search(env, capsys, monkeypatch):
    monkeypatch.setenv("VA_ENCODER", "descriptor")  # not the corpus's encoder: none loads
    assert cli.main(["search", "pursuit", "--json"]) == 0
    out, err = capsys.readouterr()
    assert {row["id"].split("|")[0] for row in json.loads(out)} == {"chase"}
    assert "Keyword search" in err and "encoder is not available" in err


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "search needs TEXT, --like SHOT_ID or --label NAME"),
        (["x", "--filter", "colour=red"], "filter 'colour=red': use KEY=VALUE"),
        (["x", "--filter", "max_duration=long"], "must be a number of seconds"),
        (["--like", "nope|0"], "shot 'nope|0' is not in the corpus"),
        (["x", "--label", "no such label"], "no such label"),
    ],
)
def test_mistakes_exit_non_zero_with_one_line(env, capsys, args, message):
    assert cli.main(["search", *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_a_query_searched_before_needs_no_text_tower(env, capsys, tmp_path):
    first = _search(capsys, "two people talking in a kitchen")
    weights = Path(env.clip_pretrained)
    hidden = tmp_path / "away.safetensors"
    weights.rename(hidden)  # no model to load from here on
    try:
        assert cli.main(["search", "two people talking in a kitchen", "--json"]) == 0
        out = capsys.readouterr()
        assert json.loads(out.out) == first  # answered from the corpus's text-vector cache
        assert out.err == ""
        assert cli.main(["search", "a dog on a skateboard", "--json"]) == 0  # new words
        err = capsys.readouterr().err
        assert "encoder is not available" in err and "Keyword search" in err
    finally:
        hidden.rename(weights)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_words_pushed_away_move_those_shots_down(env, capsys):
    plain = [row["id"] for row in _search(capsys, "cars", "--limit", "9")]
    pushed = [row["id"] for row in _search(capsys, "cars −police cars", "--limit", "9")]
    want, away = _vectors(env, ["cars", "police cars"])
    assert pushed == _ranking(env, _unit(want) - NEGATIVE_WEIGHT * _unit(away))
    assert pushed.index("chase|50") > plain.index("chase|50")  # the police cars' shot


def test_zero_shot_by_a_label_pushes_its_negative_hints_away(env, capsys):
    ws = open_services(env)
    ws.labelling.create_label(
        TESTER, "chases", description="a car chase at night", hints="pursuit, −police cars"
    )
    ws.close()
    rows = _search(capsys, "--label", "chases", "--limit", "9")
    want = _vectors(env, ["chases", "a car chase at night", "pursuit"]).mean(axis=0)
    away = _vectors(env, ["police cars"])[0]
    assert [row["id"] for row in rows] == _ranking(env, _unit(want) - NEGATIVE_WEIGHT * _unit(away))


def test_keyword_search_leaves_out_what_matches_the_words_pushed_away(env, capsys, monkeypatch):
    monkeypatch.setenv("VA_ENCODER", "descriptor")  # no text tower: keywords over metadata
    (env.data_dir / "cache" / "text-vectors.sqlite").unlink(missing_ok=True)  # nor cached words
    assert cli.main(["search", "night -pursuit", "--json"]) == 0
    out, _ = capsys.readouterr()
    assert {row["id"].split("|")[0] for row in json.loads(out)} == {"city"}  # not "Night Pursuit"


def test_only_words_to_push_away_is_refused_with_what_to_do(env, capsys):
    assert cli.main(["search", "−police"]) == 1
    assert "only says what to push away" in capsys.readouterr().err
