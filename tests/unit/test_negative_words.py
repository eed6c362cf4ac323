"""Words to push away: how a query or a label's hints say what not to find."""

from __future__ import annotations

import pytest

from va_app.errors import ValidationError
from va_app.search.label_words import negative_hints, search_hints, zero_shot_texts
from va_app.search.negatives import split_negatives
from va_app.search.shots import SearchQuery


@pytest.mark.parametrize(
    ("text", "found", "pushed"),
    [
        ("car chase, −police", "car chase", ("police",)),
        (
            "car chase -police car -ambulance, at night",
            "car chase, at night",
            ("police car", "ambulance"),
        ),
        ("–rain, street", "street", ("rain",)),  # an en dash, as autocorrect types a minus
        ("close-up -two-shot", "close-up", ("two-shot",)),  # hyphens inside words stay words
        ("night - day", "night - day", ()),  # a lone dash is punctuation
        ("−police", "", ("police",)),
    ],
)
def test_a_minus_before_a_word_marks_what_to_push_away(text, found, pushed) -> None:
    assert split_negatives(text) == (found, pushed)


def test_a_labels_hints_suggest_searches_and_push_words_away() -> None:
    hints = "pursuit; −police\nspeeding cars -ambulance"
    assert search_hints(hints) == ["pursuit", "speeding cars"]
    assert negative_hints(hints) == ["police", "ambulance"]
    assert zero_shot_texts("car chase", "two cars racing", hints) == (
        "car chase",
        "two cars racing",
        "pursuit",
        "speeding cars",
        "−police",
        "−ambulance",
    )


def test_a_query_keeps_its_texts_and_knows_what_to_find_and_what_not() -> None:
    query = SearchQuery(texts=("car chase", "−police", "at night -rain"))
    assert query.texts == ("car chase", "−police", "at night -rain")  # as the user wrote them
    assert query.words == ("car chase", "at night")
    assert query.negatives == ("police", "rain")
    assert query.has_words


def test_a_query_of_only_words_to_push_away_says_what_to_add() -> None:
    with pytest.raises(ValidationError, match="add words to look for"):
        SearchQuery(texts=("−police",))
    assert SearchQuery(texts=("−police",), like="v|0").negatives == ("police",)
