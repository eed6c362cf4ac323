"""The next-action recommender: a prior or untried sources first, then the source that paid off
lately."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from va_app.domain import Annotation, ModelVersion
from va_app.learn.recommender import (
    ARMS,
    DEFAULT_PRIOR,
    Round,
    mistake_share,
    recommend,
    recommend_from_rounds,
    rounds_from_history,
    shots_to_predict,
)

T0 = datetime(2026, 3, 1, 9, 0, 0)


def _version(number: int, minute: int, score: float | None) -> ModelVersion:
    return ModelVersion(
        "night",
        number,
        T0 + timedelta(minutes=minute),
        20,
        20,
        score,
        0.5,
        ["ana"],
        "descriptor:v1",
        "f",
        5.0,
    )


def _click(shot: str, source: str, minute: float, value: bool | None = True) -> Annotation:
    return Annotation("night", shot, value, "ana", source, T0 + timedelta(minutes=minute))


def _all_tried(**recent: float) -> list[Round]:
    """Every arm tried once with a small gain, then the given arms' recent gains."""
    rounds = [Round(arm, 0.001) for arm in ARMS]
    for arm, gain in recent.items():
        rounds += [Round(arm, gain), Round(arm, gain)]
    return rounds


# -- advice ----------------------------------------------------------------------------------
def test_without_a_model_the_advice_is_to_search_for_ten_and_ten() -> None:
    advice = recommend([], [], reward="quality")
    assert advice.source == "search"
    assert "10 positives and 10 negatives" in advice.reason


def test_after_the_first_build_an_untried_feed_comes_first() -> None:
    advice = recommend([_version(1, 0, 0.7)], [_click("s1", "search", -5)], reward="quality")
    assert advice.source == ARMS[0]
    assert advice.reason == (
        f"{ARMS[0]} has not been tried yet: one batch from it shows what it adds"
    )
    assert all(score is None for score in advice.scores_per_arm.values())


def test_untried_arms_come_before_any_arm_that_gained() -> None:
    rounds = [Round(arm, 0.2) for arm in ARMS if arm != "random"]
    advice = recommend_from_rounds(rounds, reward="quality")
    assert advice.source == "random"
    assert advice.reason.startswith("random has not been tried yet")
    assert advice.scores_per_arm["random"] is None
    # UCB: recent mean + c·sqrt(ln t / n_a), with t = 4 rounds, n_a = 1 and c = 0.03.
    assert advice.scores_per_arm["positive"] == pytest.approx(0.2 + 0.03 * math.sqrt(math.log(4)))


def test_search_untried_says_so_in_words_of_the_search_page() -> None:
    rounds = [Round(arm, 0.01) for arm in ARMS if arm != "search"]
    advice = recommend_from_rounds(rounds, reward="quality")
    assert advice.source == "search"
    assert "more like this" in advice.reason


def test_the_arm_with_the_largest_recent_gain_wins_with_a_reason() -> None:
    rounds = [Round(arm, 0.001) for arm in ARMS if arm != "borderline"]
    rounds += [Round("borderline", 0.04), Round("borderline", 0.04)]
    advice = recommend_from_rounds(rounds, reward="quality")
    assert advice.source == "borderline"
    assert advice.reason == (
        "borderline gave the largest gain in the last two rounds (+0.040 model quality per round)"
    )
    assert max(advice.scores_per_arm, key=advice.scores_per_arm.get) == "borderline"


def test_a_long_run_of_gains_is_told_over_the_window() -> None:
    rounds = _all_tried(positive=0.01) + [Round("borderline", 0.05)] * 3
    advice = recommend_from_rounds(rounds, reward="quality")
    assert advice.source == "borderline"
    assert advice.reason == (
        "borderline gave the largest gain in the last three rounds (+0.050 model quality per round)"
    )


def test_recent_rounds_count_more_than_old_ones() -> None:
    rounds = [Round(arm, 0.0) for arm in ARMS]
    rounds += [Round("positive", 0.08)] + [Round("positive", -0.01)] * 3  # good long ago
    rounds += [Round("random", 0.02), Round("borderline", 0.0)]
    advice = recommend_from_rounds(rounds, c=0.0, reward="quality")
    assert advice.source == "random"
    assert advice.reason == (
        "random gave the largest gain lately: +0.010 model quality over its last two batches"
    )


def test_a_neglected_arm_is_revisited_when_exploration_outweighs_the_gap() -> None:
    rounds = [Round(arm, 0.0) for arm in ARMS] + [Round("positive", 0.011)] * 12
    advice = recommend_from_rounds(rounds, c=0.05, reward="quality")
    assert advice.source == "borderline"  # 1 round of 17: a large bonus; ties go in ARMS order
    assert advice.reason.startswith("borderline has had few batches (1 of 17)")
    assert recommend_from_rounds(rounds, c=0.0, reward="quality").source == "positive"


def test_mistakes_reward_speaks_of_mistakes() -> None:
    rounds = [Round(arm, 0.1) for arm in ARMS] + [Round("borderline", 0.5)] * 2
    advice = recommend_from_rounds(rounds, reward="mistakes")
    assert advice.source == "borderline"
    assert "found the most model mistakes" in advice.reason and "%" in advice.reason


def test_advice_is_json_ready() -> None:
    advice = recommend_from_rounds(_all_tried(random=0.02), c=0.0, reward="quality")
    data = json.loads(json.dumps(advice.to_dict()))
    assert data["source"] == "random" and data["rounds"] == len(ARMS) + 2
    assert set(data["scores_per_arm"]) == set(ARMS)


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="reward"):
        recommend_from_rounds([], reward="accuracy")
    with pytest.raises(ValueError, match="unknown arms"):
        recommend_from_rounds([Round("review", 0.1)])
    with pytest.raises(ValueError, match="finite"):
        Round("random", float("nan"))


# -- attribution -----------------------------------------------------------------------------
def test_a_batch_is_credited_to_the_source_most_of_it_came_from() -> None:
    versions = [_version(1, 0, 0.70), _version(2, 10, 0.76), _version(3, 20, 0.74)]
    clicks = [
        _click("a", "search", -3),  # before the first build: bootstraps, credits nothing
        _click("b", "borderline", 2),
        _click("c", "borderline", 3),
        _click("d", "random", 4),
        _click("e", "similar", 12),
        _click("f", "search", 13),
        _click("g", "negative", 14),
    ]
    rounds = rounds_from_history(versions, clicks, reward="quality")
    assert [(r.arm, round(r.reward, 3), r.n_annotations, r.version) for r in rounds] == [
        ("borderline", 0.06, 3, 2),
        ("search", -0.02, 3, 3),
    ]


def test_review_only_batches_clears_and_unscored_versions_credit_nothing() -> None:
    versions = [
        _version(1, 0, 0.7),
        _version(2, 10, 0.8),
        _version(3, 20, None),
        _version(4, 30, 0.9),
    ]
    clicks = [
        _click("a", "review", 5),
        _click("b", "import", 6),
        _click("c", "positive", 25, value=None),
        _click("d", "positive", 26),
        _click("e", "random", 27),
    ]
    rounds = rounds_from_history(versions, clicks, reward="quality")
    # version 3 has no score: 2 → 4 is one round; the clear does not count, the tie goes to the
    # arm labelled last.
    assert [(r.arm, round(r.reward, 3), r.n_annotations) for r in rounds] == [("random", 0.1, 2)]


def test_times_with_a_time_zone_compare_with_stored_utc_times() -> None:
    versions = [_version(1, 0, 0.7), _version(2, 10, 0.75)]
    paris = timezone(timedelta(hours=1))
    aware = Annotation(
        "night",
        "a",
        True,
        "ana",
        "borderline",
        (T0 + timedelta(minutes=5)).replace(tzinfo=UTC).astimezone(paris),
    )
    rounds = rounds_from_history(versions, [aware], reward="quality")
    assert [r.arm for r in rounds] == ["borderline"]


def test_the_mistakes_reward_is_the_share_the_model_before_got_wrong() -> None:
    versions = [_version(1, 0, 0.7), _version(2, 10, 0.7)]
    clicks = [
        _click("a", "borderline", 1, True),
        _click("b", "borderline", 2, False),
        _click("c", "borderline", 3, True),
        _click("d", "borderline", 4, False),
    ]
    assert shots_to_predict(versions, clicks) == {1: ["a", "b", "c", "d"]}
    predictions = {1: {"a": 0.9, "b": 0.6, "c": 0.4, "d": 0.1}}
    rounds = rounds_from_history(versions, clicks, reward="mistakes", predictions=predictions)
    assert [(r.arm, r.reward) for r in rounds] == [("borderline", 0.5)]
    assert mistake_share(clicks, {}) is None
    advice = recommend(versions, clicks, reward="mistakes", predictions=predictions)
    assert advice.source == "borderline" and advice.rounds == 1
    assert advice.reason == "borderline found the most model mistakes last round (50% of its shots)"
    # Without the model's predictions no batch has a reward: the prior alone speaks.
    assert recommend(versions, clicks).rounds == 0


# -- the prior (mistakes, the default) -------------------------------------------------------
def test_the_first_advice_after_a_build_rests_on_the_prior_borderline_first() -> None:
    advice = recommend([_version(1, 0, 0.7)], [_click("s1", "search", -5)])
    assert advice.reward == "mistakes" and advice.source == "borderline"
    assert advice.reason == (
        "no batch from borderline yet; the shots the model is least sure "
        "of are where a young model is wrong most often"
    )
    # one pseudo-round per arm: prior + c·sqrt(ln 5 / 1), c = 0.1
    bonus = 0.1 * math.sqrt(math.log(5))
    assert advice.scores_per_arm == pytest.approx(
        {arm: DEFAULT_PRIOR["mistakes"][arm] + bonus for arm in ARMS}
    )


def test_a_feed_whose_batches_stop_finding_mistakes_gives_way() -> None:
    rounds = [Round("borderline", 0.5)]
    assert recommend_from_rounds(rounds).source == "borderline"
    rounds += [Round("borderline", 0.05)] * 3  # the model got this part of the corpus right
    advice = recommend_from_rounds(rounds)
    assert advice.source == "random"
    assert advice.reason == (
        "no batch from random yet; random shots show how the model does on the corpus as a whole"
    )
    rounds += [Round("random", 0.3)]
    advice = recommend_from_rounds(rounds)
    assert advice.source == "random"
    assert advice.reason == "random found the most model mistakes last round (30% of its shots)"


def test_an_empty_prior_tries_every_arm_once_first() -> None:
    advice = recommend_from_rounds([Round("borderline", 0.5)], prior={})
    assert advice.source == "positive" and advice.scores_per_arm["positive"] is None
    assert advice.reason.startswith("positive has not been tried yet")


def test_a_prior_for_an_unknown_arm_or_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown arms"):
        recommend_from_rounds([], prior={"review": 0.1})
    with pytest.raises(ValueError, match="finite"):
        recommend_from_rounds([], prior={"random": float("inf")})
