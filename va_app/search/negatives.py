"""Words to push away: "car chase, −police" finds car chases that are not police cars.

Owns the one rule by which a query or a label's search hints say what *not* to find (users of
Agile Deliberation state such negative queries: "not police cars"). A part of a text that
starts with a minus sign — ``-`` or ``−`` (U+2212) or ``–`` (an en dash, as autocorrect writes
a typed minus) — at the start of the text, after a space or after a comma, is a negative: it
runs to the next comma or the next negative. Everything else is what to find. A minus inside
a word ("close-up", "two-shot") or followed by a space ("night - day") is an ordinary
character.

    >>> split_negatives("car chase, −police")
    ('car chase', ('police',))
    >>> split_negatives("car chase -police car -ambulance, at night")
    ('car chase, at night', ('police car', 'ambulance'))
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: The signs that mark a negative part; the first is how the app writes them.
MINUS_SIGNS = ("−", "-", "–")
#: A negative part: a minus sign at the start or after a space or comma, directly before a
#: word, up to the next comma or the next negative part.
_NEGATIVE = re.compile(r"(?:^|(?<=[\s,]))[−\-–](?=[^\W_])([^,]*?)(?=\s+[−\-–][^\W_]|,|$)")


def split_negatives(text: str) -> tuple[str, tuple[str, ...]]:
    """``text`` without its negative parts (commas tidied) and the negative parts' words."""
    negatives = tuple(part.strip() for part in _NEGATIVE.findall(text) if part.strip())
    rest = _NEGATIVE.sub("", text)
    parts = (" ".join(part.split()) for part in rest.split(","))
    return ", ".join(part for part in parts if part), negatives


def is_negative(text: str) -> bool:
    """Whether ``text`` is one negative part alone ("−police")."""
    found, negatives = split_negatives(text.strip())
    return not found and len(negatives) == 1


def negated(words: str) -> str:
    """``words`` as a negative part: "police" → "−police"."""
    return f"{MINUS_SIGNS[0]}{words.strip()}"


def positives_and_negatives(texts: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every text's words to find (each text's remainder, when it has one) and every
    negative part, each once, in order."""
    found: dict[str, None] = {}
    pushed: dict[str, None] = {}
    for text in texts:
        rest, negatives = split_negatives(text)
        if rest:
            found.setdefault(rest)
        for negative in negatives:
            pushed.setdefault(negative)
    return tuple(found), tuple(pushed)
