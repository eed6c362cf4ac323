"""A label's own words as search queries: its search hints one by one, the words its hints
push away ("car chase, −police": :mod:`va_app.search.negatives`), and the texts a zero-shot
search of the label reads (its name, description and each hint, ensembled, minus the words
pushed away)."""

from __future__ import annotations

from va_app.search.negatives import negated, split_negatives
from va_app.search.shots import MAX_QUERY_CHARS


def _hint_parts(hints: str) -> list[str]:
    parts = (part.strip() for part in hints.replace(";", ",").replace("\n", ",").split(","))
    return [part for part in parts if part]


def search_hints(hints: str) -> list[str]:
    """A label's search hints as separate queries ("sunset, warm light" -> two); the words a
    hint pushes away ("−police") are not queries of their own (see :func:`negative_hints`)."""
    found = (split_negatives(part)[0] for part in _hint_parts(hints))
    return list(dict.fromkeys(part for part in found if part))


def negative_hints(hints: str) -> list[str]:
    """The words a label's hints push away: "car chase, −police" -> ["police"]."""
    pushed = (word for part in _hint_parts(hints) for word in split_negatives(part)[1])
    return list(dict.fromkeys(pushed))


def zero_shot_texts(name: str, description: str = "", hints: str = "") -> tuple[str, ...]:
    """What a zero-shot search of a label reads: its name, description and each hint, then
    each word pushed away as a negative ("−police"), which the search subtracts."""
    texts = [name, " ".join(description.split())[:MAX_QUERY_CHARS], *search_hints(hints)]
    texts += [negated(word) for word in negative_hints(hints)]
    return tuple(dict.fromkeys(text for text in texts if text))
