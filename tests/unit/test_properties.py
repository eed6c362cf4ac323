"""Property-based tests (hypothesis) for the parsers of user input: annotation values, annotation
files and label names. Whatever text arrives, the only failure is a ``ValidationError`` with a
message, and what is accepted comes back unchanged through export and import.
"""

from __future__ import annotations

import tempfile
import unicodedata
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from va_app.domain import Annotation
from va_app.errors import ValidationError
from va_app.formats.annotations import (
    _FALSE,
    _TRUE,
    parse_value,
    read_annotations,
    write_annotations,
)
from va_app.store.labels import label_key, normalise_label_name

FAST = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


# -- annotation values -----------------------------------------------------------------------
@FAST
@given(
    st.one_of(
        st.text(max_size=20),
        st.integers(),
        st.floats(allow_nan=True),
        st.none(),
        st.booleans(),
        st.binary(max_size=8),
    )
)
@example("1.0")
@example(float("nan"))
@example(" YES\t")
def test_parse_value_only_ever_raises_validation_error(raw):
    try:
        value = parse_value(raw)
    except ValidationError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert value in (True, False, None)


@FAST
@given(
    st.sampled_from(sorted(_TRUE | _FALSE)),
    st.sampled_from(["", " ", "\t"]),
    st.sampled_from([str.lower, str.upper, str.title]),
)
def test_accepted_words_parse_in_any_case_and_padding(word, pad, case):
    expected = word in _TRUE
    assert parse_value(f"{pad}{case(word)}{pad}") is expected
    assert parse_value(parse_value(word)) is expected  # a parsed value parses to itself
    assert parse_value(int(expected)) is expected  # and so does its exported 1/0


# -- annotation files ------------------------------------------------------------------------
# What people put in names: letters of any script, digits, punctuation, emoji, inner spaces.
_name_chars = st.characters(
    codec="utf-8", categories=("L", "N", "P", "S", "Zs"), exclude_characters="/\\<>"
)
_names = (
    st.text(_name_chars, min_size=1, max_size=20).map(lambda s: " ".join(s.split())).filter(bool)
)
_shot_ids = st.builds(
    lambda v, f: f"{v}|{f}",
    st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
    st.integers(0, 10_000),
)
_times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))
_annotations = st.builds(
    Annotation,
    label=_names,
    shot_id=_shot_ids,
    value=st.sampled_from([True, False, None]),
    annotator=_names,
    source=st.sampled_from(["search", "positive", "review", "import"]),
    created_at=_times,
)


@FAST
@given(st.lists(_annotations, max_size=15), st.sampled_from(["csv", "json", "parquet"]))
def test_export_then_import_gives_back_the_same_rows(rows, fmt):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"annotations.{fmt}"
        assert write_annotations(rows, path) == len(rows)
        back = read_annotations(path)
    assert [_key(a) for a in back] == [_key(a) for a in rows]


def _key(a: Annotation) -> tuple:
    return a.label, a.shot_id, a.value, a.annotator, a.source, a.created_at


_cells = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=12)


@FAST
@given(st.lists(st.tuples(_cells, _cells, _cells, _cells, _cells), max_size=6), st.booleans())
def test_any_csv_either_parses_or_is_refused_with_a_row_number(cells, with_created_at):
    header = "label,shot_id,value,annotator,source" + (",created_at" if with_created_at else "")
    lines = [header] + [
        ",".join(_csv_quote(c) for c in row[: 6 if with_created_at else 5]) for row in cells
    ]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        try:
            parsed = read_annotations(path)
        except ValidationError as exc:
            assert "row " in str(exc) or "could not be read" in str(exc), str(exc)
            return
    assert len(parsed) == len(cells)
    for annotation, row in zip(parsed, cells):
        assert annotation.shot_id == row[1].strip()
        assert annotation.value is parse_value(row[2])


def _csv_quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


# -- label names -----------------------------------------------------------------------------
_anything = st.text(max_size=100)


@FAST
@given(_anything)
@example("..\\x")
@example("\tnight\n")
@example("a\u202eb")
def test_label_names_are_refused_or_clean_and_stable(name):
    try:
        clean = normalise_label_name(name)
    except ValidationError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert normalise_label_name(clean) == clean  # idempotent
    assert not set(clean) & set("/\\<>")
    assert not any(unicodedata.category(c) == "Cc" or c in BIDI_CONTROLS for c in clean)
    assert clean == clean.strip() and "  " not in clean and not clean.startswith(".")
    assert 1 <= len(clean) <= 80


@FAST
@given(
    st.text(_name_chars, min_size=1, max_size=25),  # upper() may triple a letter
    st.lists(st.sampled_from([" ", "  ", "\t", "\u00a0", "\u3000"]), min_size=2, max_size=2),
)
@example("Car Chase", [" ", "  "])
@example("straße", ["", ""])
def test_case_and_space_variants_are_the_same_label(name, pads):
    try:
        key = label_key(name)
    except ValidationError:
        return
    # Only true case variants: "ı".upper() is "I", whose lower case is another letter, "i".
    recased = [
        v
        for v in (name.upper(), name.lower(), name.swapcase(), name.title())
        if v.casefold() == name.casefold()
    ]
    spaced = [f"{pads[0]}{name}{pads[1]}", name.replace(" ", pads[0] + pads[1])]
    for variant in [*recased, *spaced, name.casefold()]:
        assert label_key(variant) == key, variant
    assert label_key(key) == key


@pytest.mark.parametrize("name", ["a/b", "../x", "<b>", "x\x00", "x\x7f", "x\x85\x80"])
def test_forbidden_characters_are_named_in_the_refusal(name):
    with pytest.raises(ValidationError, match="control character"):
        normalise_label_name(name)
