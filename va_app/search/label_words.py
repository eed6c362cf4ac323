"""A label's own words as search queries: its search hints one by one, and the texts a
zero-shot search of the label reads (its name, description and each hint, ensembled)."""

from __future__ import annotations

from va_app.search.shots import MAX_QUERY_CHARS


def search_hints(hints: str) -> list[str]:
    """A label's search hints as separate queries ("sunset, warm light" -> two)."""
    parts = (part.strip() for part in hints.replace(";", ",").replace("\n", ",").split(","))
    return list(dict.fromkeys(part for part in parts if part))


def zero_shot_texts(name: str, description: str = "", hints: str = "") -> tuple[str, ...]:
    """What a zero-shot search of a label reads: its name, description and each hint."""
    texts = [name, " ".join(description.split())[:MAX_QUERY_CHARS], *search_hints(hints)]
    return tuple(dict.fromkeys(text for text in texts if text))
