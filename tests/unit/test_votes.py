"""The one vote fold (clicks → each annotator's current word → the label's value), the names
of annotation sources, and the Netflix agg codec built on the fold."""

from __future__ import annotations

import json

import pytest

from va_app.domain import (
    FEED_SOURCES,
    Annotation,
    ShotVerdict,
    Source,
    current_words,
    fold_votes,
    majority,
    shot_verdicts,
)
from va_app.encoders.base import same_encoder
from va_app.errors import ValidationError
from va_app.formats.netflix_agg import AggItem, agg_document, aggregate, read_agg, write_agg
from va_app.learn.feeds import FEEDS
from va_app.learn.recommender import ARM_OF_SOURCE, ARMS


def click(shot: str, who: str, value: bool | None) -> Annotation:
    return Annotation("night", shot, value, who)


def test_the_latest_word_counts_and_a_clear_withdraws_it():
    history = [
        click("a", "ana", True),
        click("a", "bo", False),
        click("a", "ana", False),
        click("b", "bo", True),
        click("b", "bo", None),
        click("c", "ana", None),
        click("d", "cy", False),
        click("d", "cy", None),
        click("d", "cy", True),
    ]
    assert fold_votes(history) == {"a": {"ana": False, "bo": False}, "d": {"cy": True}}
    assert [(a.shot_id, a.annotator) for a in current_words(history)] == [
        ("a", "ana"),
        ("a", "bo"),
        ("d", "cy"),
    ]


@pytest.mark.parametrize(
    ("votes", "value"),
    [
        ({"ana": True, "bo": True, "cy": False}, True),
        ({"ana": False}, False),
        ({"ana": True, "bo": False}, None),
        ({}, None),
    ],
)
def test_the_majority_decides_and_a_tie_decides_nothing(votes, value):
    assert majority(votes) is value


def test_a_verdict_counts_its_votes_and_knows_a_conflict():
    verdict = shot_verdicts(
        [click("a", "ana", True), click("a", "bo", False), click("a", "cy", True)]
    )[0]
    assert verdict == ShotVerdict("a", {"ana": True, "bo": False, "cy": True}, True)
    assert (verdict.positive_votes, verdict.negative_votes, verdict.conflict) == (2, 1, True)
    assert not ShotVerdict.of("b", {"ana": True}).conflict


def test_source_names_are_the_stored_strings_and_the_feeds_are_four_of_them():
    assert [str(s) for s in FEED_SOURCES] == ["positive", "negative", "borderline", "random"]
    assert tuple(FEEDS) == FEED_SOURCES and json.dumps({Source.SEARCH: 1}) == '{"search": 1}'
    assert set(ARMS) == {*FEED_SOURCES, Source.SEARCH} and set(ARM_OF_SOURCE) <= set(Source)


def test_an_unknown_encoder_id_is_compatible_with_any_other_but_two_known_ones_must_match():
    assert same_encoder("", "clip:x") and same_encoder("clip:x", "clip:x")
    assert not same_encoder("clip:x", "descriptor:v1")


def test_an_agg_file_written_from_votes_reads_back_the_same(tmp_path):
    votes = {
        "s2": {"B": True, "A": True, "C": False},
        "s1": {"A": False, "B": True},
        "s3": {"C": True},
    }
    agg = aggregate("night", votes, primary="B", secondaries=["A"])
    assert agg.secondaries == ("A", "C")  # C has words but was not declared: added
    doc = agg_document(agg)
    assert [item["key"] for item in doc["data"]] == ["s1", "s2", "s3"]
    assert doc["data"][0] == {
        "key": "s1",
        "primary": True,
        "secondaries": {"A": False},
        "agg": None,
        "pos_cnt": 1,
    }
    assert doc["data"][2] == {
        "key": "s3",
        "primary": None,
        "secondaries": {"C": True},
        "agg": True,
        "pos_cnt": 1,
    }
    back = read_agg(write_agg(agg, tmp_path / "agg" / "night.json"))
    assert back == agg
    assert [(a.shot_id, a.annotator, a.value) for a in back.annotations()][:3] == [
        ("s1", "B", True),
        ("s1", "A", False),
        ("s2", "B", True),
    ]


def test_an_aggregate_that_contradicts_the_words_is_named():
    AggItem("s", {"A": True, "B": True}, True, 2).check_aggregate()
    with pytest.raises(ValidationError, match='"agg" is false but .* majority is true'):
        AggItem("s", {"A": True, "B": True}, False, 2).check_aggregate()
    with pytest.raises(ValidationError, match='"pos_cnt" is 1 but 2 annotators'):
        AggItem("s", {"A": True, "B": True}, True, 1).check_aggregate()


def test_an_item_without_agg_reads_as_its_majority(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(
        json.dumps(
            {
                "primary": "A",
                "secondaries": ["B", "C"],
                "data": [{"key": "s", "primary": True, "secondaries": {"B": True, "C": False}}],
            }
        )
    )
    assert read_agg(path).items[0].agg is True
