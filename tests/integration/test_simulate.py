"""The oracle simulator on a tiny rendered demo corpus: every strategy, the JSON, the figure."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.corpusfactory import make_synthetic_corpus
from va_app.config import Settings
from va_app.datasets.demo.corpus import build_demo_corpus
from va_app.datasets.demo.manifest import DEMO_CONCEPTS, DEMO_RARE_CONCEPTS
from va_app.errors import ValidationError
from va_app.learn.feeds import meaning_depth, meaning_page
from va_app.research.simulate.runner import run_simulation
from va_app.research.simulate.strategies import (
    ROTATION,
    SEARCH_GIVE_UP,
    STRATEGIES,
    Session,
    feed_quotas,
    first_labels_batch,
    search_batch,
)
from va_app.research.simulate.summary import summary_lines
from va_app.research.simulate.task import label_queries, split_rows

BUDGET = 30


@pytest.fixture(scope="session")
def demo_settings(tmp_path_factory) -> Settings:
    settings = Settings(data_dir=tmp_path_factory.mktemp("simdemo"), encoder="descriptor")
    build_demo_corpus(settings, n_shots=60)
    return settings


@pytest.fixture(scope="session")
def result(demo_settings, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("simout") / "simulation.html"
    return run_simulation(demo_settings, budget=BUDGET, seeds=2, batch=10, out_html=out)


def test_every_strategy_reports_a_median_ap_between_0_and_1_at_every_n(result) -> None:
    assert result["checkpoints"] == [20, 30]
    assert list(result["median_ap"]) == list(STRATEGIES)
    for strategy, curve in result["median_ap"].items():
        assert list(curve) == ["20", "30"], strategy
        assert all(0.0 <= ap <= 1.0 for ap in curve.values()), (strategy, curve)
    assert set(result["va_minus_cc"]) == set(result["recommender_lift"]) == {"20", "30"}
    assert isinstance(result["va_at_least_cc_at_every_n"], bool)
    assert set(result["va_vs_cc"].values()) <= {"above", "tie", "below"}
    assert all(low <= high for low, high in result["va_minus_cc_interval"].values())
    groups = result["groups"]
    assert groups and set(groups) <= {"common", "rare"}
    assert sorted(sum((g["labels"] for g in groups.values()), [])) == sorted(result["labels"])


def test_labels_are_simulated_or_excluded_with_a_reason(result, demo_settings) -> None:
    simulated, excluded = result["labels"], result["excluded"]
    assert simulated, "at least one demo concept has enough positives at 60 shots"
    assert len(simulated) + len(excluded) == len(DEMO_CONCEPTS)
    assert all(item["reason"] for item in excluded)
    for label, facts in simulated.items():
        assert facts["train"] + facts["test"] <= 60 and facts["train_positives"] >= 10
        for strategy in STRATEGIES:
            runs = facts["ap_per_seed"][strategy]
            assert len(runs) == 2 and all(len(run) == 2 for run in runs)
            assert all(0.0 <= ap <= 1.0 for run in runs for ap in run), (label, strategy)
            assert sum(facts["sources"][strategy].values()) == 2 * min(BUDGET, facts["train"])


def test_the_output_is_json_and_the_figure_is_a_self_contained_page(result) -> None:
    assert json.loads(json.dumps(result))["budget"] == BUDGET
    with open(result["html"], encoding="utf-8") as page:
        html = page.read()
    assert "plotly" in html.lower() and "VA + recommender" in html
    lines = summary_lines(result)
    assert lines[0].split()[:3] == ["n", "va", "va_rec"] and len(lines) >= 3


def test_the_plain_rotation_is_judged_and_pages_are_checked_for_near_duplicates(result) -> None:
    assert set(result["rotation_vs_cc"].values()) <= {"above", "tie", "below"}
    assert isinstance(result["rotation_at_least_cc_at_every_n"], bool)
    assert result["model"] == {
        "pool_size": 512,
        "pool_prior": 20.0,
        "pool_screen": "rocchio",
        "spread_feeds": ["borderline", "positive", "negative"],
    }
    built = 0
    for facts in result["labels"].values():
        rotation = facts["sources"]["va_rot"]
        assert set(rotation) <= {"meaning", "search", "similar", "browse", *ROTATION, "random"}
        pages = facts["page_near_duplicates"].get("va_rot")  # none where it never built
        if pages:
            built += 1
            assert set(pages) == {"borderline", "positive", "negative"}
            assert all(
                p["plain"] >= 0 and p["spread"] >= 0 and p["pages"] > 0 for p in pages.values()
            )
    assert built and "va_rot" in result["page_near_duplicates"]


def test_the_recommender_strategy_labels_from_the_sources_it_recommends(result) -> None:
    for facts in result["labels"].values():
        recommended = facts["recommended"]
        assert set(recommended) <= {"search", "positive", "negative", "borderline", "random"}
        feeds = facts["sources"]["va_rec"]
        for arm in set(recommended) - {"search"}:
            assert feeds.get(arm, 0) > 0


def test_unknown_labels_and_corpora_without_ground_truth_are_refused(
    demo_settings, settings
) -> None:
    with pytest.raises(ValidationError, match="no ground truth for sunrise"):
        run_simulation(demo_settings, labels=["sunrise"])
    with pytest.raises(ValidationError, match="unknown strategies"):
        run_simulation(demo_settings, strategies=["va", "magic"])
    make_synthetic_corpus(settings)
    with pytest.raises(ValidationError, match="no ground truth"):
        run_simulation(settings)


# -- the pieces ------------------------------------------------------------------------------
def test_the_split_is_stratified_and_the_same_every_time() -> None:
    truth = np.array([True] * 20 + [False] * 80)
    train, test = split_rows(truth, test_share=0.3, seed=7)
    assert len(test) == 30 and truth[test].sum() == 6
    assert set(train) | set(test) == set(range(100)) and not set(train) & set(test)
    again = split_rows(truth, test_share=0.3, seed=7)
    assert train.tolist() == again[0].tolist()


def test_a_batch_is_split_between_feeds_by_their_shares() -> None:
    quotas = feed_quotas({"borderline": 0.5, "positive": 0.2, "random": 0.2, "negative": 0.1}, 10)
    assert quotas == {"borderline": 5, "positive": 2, "random": 2, "negative": 1}
    assert sum(feed_quotas({"borderline": 1, "random": 1, "positive": 1}, 10).values()) == 10
    with pytest.raises(ValidationError):
        feed_quotas({"borderline": 0.0}, 10)


def test_an_expert_whose_words_find_nothing_browses_instead() -> None:
    """Text that ranks every positive last (a concept the text tower cannot see): after
    SEARCH_GIVE_UP hits without a positive the simulated expert browses, as a person would."""
    from types import SimpleNamespace

    truth = np.zeros(200, dtype=bool)
    truth[150:] = True  # positives: a quarter of the shots, all at the end of the ranking
    task = SimpleNamespace(truth=truth, search_rows=np.arange(200), n_train=200)
    session = Session(task, np.random.default_rng(0))
    assert search_batch(session, SEARCH_GIVE_UP + 10, bootstrap=True) == SEARCH_GIVE_UP + 10
    assert session.sources == ["search"] * SEARCH_GIVE_UP + ["browse"] * 10
    assert session.search_cursor == SEARCH_GIVE_UP


def test_the_first_labels_follow_the_by_meaning_page_then_random_shots() -> None:
    """Before the first build the simulated expert labels what the Active-learning page offers:
    pages of the label's words spread down their ranking (the app's own rule, meaning_page),
    then, with 10 positives and too few negatives, random shots."""
    from types import SimpleNamespace

    truth = np.zeros(400, dtype=bool)
    truth[:60] = True  # the words rank 60 positives first
    task = SimpleNamespace(truth=truth, search_rows=np.arange(400), n_train=400)
    session = Session(task, np.random.default_rng(0))
    assert first_labels_batch(session, 20) == 20
    assert session.order[:5] == meaning_page(list(range(meaning_depth(400))), 5)
    assert session.sources == ["meaning"] * 10 + ["browse"] * 10
    assert session.n_pos >= 10


def test_the_expert_types_the_label_words() -> None:
    assert label_queries("golden_hour") == ["golden hour", "golden", "hour"]
    assert label_queries("night") == ["night"]


def test_on_the_full_demo_corpus_va_is_at_least_cc_at_every_n(tmp_path_factory) -> None:
    """The issue's check: the shipped demo (400 shots), the default protocol. Its 13 common
    concepts are simulated; the rare ones (~3 %) have too few positives at 400 shots and are
    left out with a reason (a ``demo --shots 2000`` corpus simulates them).

    Deterministic for a given set of libraries (fixed seeds, a deterministic renderer and
    encoder); the margins it passes by are in the README.
    """
    settings = Settings(data_dir=tmp_path_factory.mktemp("fulldemo"), encoder="descriptor")
    build_demo_corpus(settings)
    result = run_simulation(settings, strategies=("va", "va_rec", "cc"), workers=2)
    common = [c for c in DEMO_CONCEPTS if c not in DEMO_RARE_CONCEPTS]
    assert set(common) <= set(result["labels"])
    assert {e["label"] for e in result["excluded"]} <= set(DEMO_RARE_CONCEPTS)
    assert result["va_at_least_cc_at_every_n"], result["median_ap"]
    va, cc = result["median_ap"]["va"], result["median_ap"]["cc"]
    assert all(va[n] >= cc[n] for n in va)
    # The recommender's advice helps while the model is young and never costs much.
    lift = result["recommender_lift"]
    assert max(lift.values()) > 0 and min(lift.values()) > -0.01, lift
