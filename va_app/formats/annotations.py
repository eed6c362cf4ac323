"""Annotation files in and out: CSV / Parquet / JSON, and the Netflix VA per-label file.

Files only: reading gives :class:`~va_app.domain.Annotation` values, writing takes them; the
service layer stores what is read (``va_app.services.labelling``).

Columns: ``label, shot_id, value, annotator`` and optionally ``source, created_at``. Values:
``1/0``, ``pos/neg``, ``positive/negative``, ``true/false``, ``yes/no``; an empty value in an
exported history means "cleared". Import is all-or-nothing: one bad row and nothing is saved,
with a message naming the row.

The Netflix Video Annotator's per-label file (``agg/<label>.json``, see
:func:`export_netflix_agg`) holds each annotator's current word per shot and the aggregate;
it cannot hold the history (earlier words, clears), times, sources or the label's
description — use CSV or Parquet for a lossless copy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from va_app.domain import Annotation, Label, Source
from va_app.errors import ValidationError
from va_app.formats.netflix_agg import AGG_ONLY_ANNOTATOR, aggregate, read_agg, write_agg

REQUIRED = ("label", "shot_id", "value", "annotator")
COLUMNS = (*REQUIRED, "source", "created_at")
_TRUE = {"1", "pos", "positive", "true", "yes", "y", "t"}
_FALSE = {"0", "neg", "negative", "false", "no", "n", "f"}
_CLEARED = {"", "none", "null", "clear", "cleared", "nan"}
FORMATS = ("csv", "parquet", "json")


def parse_value(raw: object) -> bool | None:
    """``True``/``False`` for a positive/negative word, ``None`` for an empty (cleared) one."""
    if isinstance(raw, bool):
        return raw
    text = "" if raw is None or (isinstance(raw, float) and pd.isna(raw)) else str(raw)
    text = text.strip().lower()
    if text.endswith(".0"):
        text = text[:-2]
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text in _CLEARED:
        return None
    raise ValidationError(f"value {str(raw)[:30]!r} is not one of 1/0, pos/neg, true/false")


def read_annotations(path: str | Path) -> list[Annotation]:
    """Parse a CSV, Parquet or JSON (records) file into annotations; raises on any bad row."""
    frame = _read_frame(Path(path))
    if frame.shape == (0, 0):  # e.g. "[]": an export of an empty history holds no columns
        return []
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValidationError(
            f"{Path(path).name}: missing column(s) {', '.join(missing)}; "
            f"expected {', '.join(REQUIRED)}[, source]"
        )
    return [_row_to_annotation(i, row) for i, row in enumerate(frame.to_dict("records"), 2)]


def write_annotations(
    annotations: Sequence[Annotation], out: str | Path, *, fmt: str | None = None
) -> int:
    """Write annotations (a history: every click) as CSV, Parquet or JSON — the lossless
    form; returns the number of rows written."""
    out = Path(out)
    fmt = (fmt or out.suffix.lstrip(".") or "csv").lower()
    if fmt not in FORMATS:
        raise ValidationError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    frame = pd.DataFrame([_annotation_to_row(a) for a in annotations], columns=list(COLUMNS))
    # 1 / 0 / empty (cleared): a nullable integer column, which Parquet can store too.
    frame["value"] = frame["value"].astype("Int64")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        frame.to_csv(out, index=False)
    elif fmt == "parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_json(out, orient="records", indent=1, force_ascii=False)
    return len(frame)


def _read_frame(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ValidationError(f"{path} does not exist or is not a file")
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        if path.suffix.lower() == ".json":
            return pd.read_json(path, orient="records", dtype=False)
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{path.name} is not UTF-8 text; save it as UTF-8 CSV") from None
    except (ValueError, pd.errors.ParserError, OSError) as exc:
        raise ValidationError(f"{path.name} could not be read: {exc}") from exc


def _row_to_annotation(line: int, row: dict) -> Annotation:
    try:
        created = row.get("created_at")
        return Annotation(
            label=str(row["label"]).strip(),
            shot_id=str(row["shot_id"]).strip(),
            value=parse_value(row["value"]),
            annotator=str(row["annotator"]).strip(),
            source=str(row.get("source") or Source.IMPORT).strip() or Source.IMPORT,
            created_at=_parse_time(created) if created not in (None, "") else None,
        )
    except ValidationError as exc:
        raise ValidationError(f"row {line}: {exc}; nothing was imported") from None


def _parse_time(raw: object) -> datetime | None:
    if isinstance(raw, datetime):
        return raw.replace(tzinfo=None)
    try:
        stamp = pd.Timestamp(str(raw))
    except ValueError:
        raise ValidationError(f"created_at {str(raw)[:30]!r} is not a date/time") from None
    if pd.isna(stamp):
        return None
    return stamp.tz_convert(None).to_pydatetime() if stamp.tzinfo else stamp.to_pydatetime()


def _annotation_to_row(a: Annotation) -> dict:
    value = None if a.value is None else int(a.value)
    created = a.created_at.isoformat() if a.created_at else ""
    return {
        "label": a.label,
        "shot_id": a.shot_id,
        "value": value,
        "annotator": a.annotator,
        "source": a.source,
        "created_at": created,
    }


# -- Netflix VA per-label JSON ("agg" format, read and written by the Netflix codec) ------------
#: Items whose annotators' words are absent but ``agg`` is given are stored under this name.
NETFLIX_AGG_ANNOTATOR = AGG_ONLY_ANNOTATOR


def write_netflix_agg(
    label: Label,
    votes: Mapping[str, Mapping[str, bool]],
    out: str | Path,
    *,
    roles: tuple[str | None, Sequence[str]] | None = None,
) -> int:
    """Write a label's current words (``votes``: shot id -> annotator -> value) as a Netflix
    VA ``agg/<label>.json``; returns the number of shots written.

    One item per shot, sorted by shot id: ``primary`` and ``secondaries`` are ``roles`` (an
    imported Netflix label's), else the label's creator when they annotated it (else whoever
    annotated most) and everyone else; ``agg`` and ``pos_cnt`` as
    :func:`va_app.formats.netflix_agg.aggregate` makes them (``null`` on a tie). Where an
    annotator has no word on a shot, ``primary`` is ``null`` / the name is left out of
    ``secondaries``.
    """
    plain = {shot: dict(words) for shot, words in votes.items()}
    if roles is not None:
        agg = aggregate(label.name, plain, primary=roles[0], secondaries=tuple(roles[1]))
    else:
        agg = aggregate(label.name, plain, primary=_primary_annotator(label, plain))
    write_agg(agg, out)
    return len(agg.items)


@dataclass(frozen=True)
class NetflixLabelFile:
    """A Netflix VA per-label file as read: the label it names, its primary annotator and
    every annotator's word as one annotation each."""

    label: str
    primary: str | None
    annotations: list[Annotation]


def read_netflix_agg(path: str | Path, *, label: str | None = None) -> NetflixLabelFile:
    """Read a Netflix VA ``agg/<label>.json`` for ``label`` (default: the file's name).

    Each annotator's word becomes one annotation under their name; an item with no words but
    an ``agg`` is stored under :data:`NETFLIX_AGG_ANNOTATOR`. An ``agg`` or ``pos_cnt`` that
    contradicts the words is refused, so our majority always equals the file's ``agg``.
    """
    path = Path(path)
    try:
        agg = read_agg(path)
        for number, item in enumerate(agg.items, 1):
            try:
                item.check_aggregate()
            except ValidationError as exc:
                raise ValidationError(f"{path.name}, item {number}: {exc}") from None
    except ValidationError as exc:
        raise ValidationError(f"{exc}; nothing was imported") from None
    name = label or agg.label
    return NetflixLabelFile(name, agg.primary, agg.annotations(label=name))


def _primary_annotator(meta: Label, votes: dict[str, dict[str, bool]]) -> str | None:
    counts = Counter(annotator for words in votes.values() for annotator in words)
    if meta.created_by in counts:
        return meta.created_by
    return min(counts, key=lambda a: (-counts[a], a)) if counts else None
