"""Annotation files: CSV / Parquet / JSON import and export.

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
from datetime import datetime
from pathlib import Path

import pandas as pd

from va_app.datasets.netflix.format import AGG_ONLY_ANNOTATOR, aggregate, read_agg, write_agg
from va_app.datasets.netflix.lookups import annotator_roles
from va_app.domain import Annotation, Source
from va_app.errors import NotFoundError, ValidationError
from va_app.store.labels import Label, LabelStore

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


def import_annotations(store: LabelStore, path: str | Path, *, create_labels: bool = False) -> int:
    annotations = read_annotations(path)
    if create_labels:
        existing = {label.name.casefold() for label in store.labels()}
        for name in sorted({a.label for a in annotations}):
            if name.casefold() not in existing:
                store.create_label(name, created_by=Source.IMPORT)
                existing.add(name.casefold())
    return store.import_annotations(annotations)


def export_annotations(
    store: LabelStore, out: str | Path, *, fmt: str | None = None, label: str | None = None
) -> int:
    """Write the full annotation history (every click) — the lossless form."""
    out = Path(out)
    fmt = (fmt or out.suffix.lstrip(".") or "csv").lower()
    if fmt not in FORMATS:
        raise ValidationError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    rows = store.history(label) if label else store.all_history()
    frame = pd.DataFrame([_annotation_to_row(a) for a in rows], columns=list(COLUMNS))
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


def export_netflix_agg(store: LabelStore, label: str, out: str | Path) -> int:
    """Write ``label``'s current annotations as a Netflix VA ``agg/<label>.json``; returns the
    number of shots written.

    One item per shot anyone has a current word on, sorted by shot id: ``primary`` and
    ``secondaries`` are the annotator roles of an imported Netflix label, else the label's
    creator when they annotated it (else whoever annotated most) and everyone else; ``agg`` and
    ``pos_cnt`` as :func:`va_app.datasets.netflix.format.aggregate`
    makes them (``null`` on a tie). Where an annotator has no word on a shot, ``primary`` is
    ``null`` / the name is left out of ``secondaries``.
    """
    meta = store.get_label(label)
    votes = {v.shot_id: v.votes for v in store.verdicts(meta.name)}
    roles = annotator_roles(store.catalog).get(meta.name)
    agg = (
        aggregate(meta.name, votes, primary=roles.primary, secondaries=roles.secondaries)
        if roles
        else aggregate(meta.name, votes, primary=_primary_annotator(meta, votes))
    )
    write_agg(agg, out)
    return len(agg.items)


def import_netflix_agg(
    store: LabelStore, path: str | Path, *, label: str | None = None, create_label: bool = True
) -> int:
    """Read a Netflix VA ``agg/<label>.json`` into ``label`` (default: the file's name);
    returns the number of annotations stored. All or nothing.

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
    created = _ensure_label(
        store, name, create=create_label, created_by=agg.primary or Source.IMPORT
    )
    try:
        return store.import_annotations(agg.annotations(label=name))
    except Exception:
        if created:
            store.delete_label(name)
        raise


def _primary_annotator(meta: Label, votes: dict[str, dict[str, bool]]) -> str | None:
    counts = Counter(annotator for words in votes.values() for annotator in words)
    if meta.created_by in counts:
        return meta.created_by
    return min(counts, key=lambda a: (-counts[a], a)) if counts else None


def _ensure_label(store: LabelStore, name: str, *, create: bool, created_by: str) -> bool:
    """True when the label had to be created."""
    try:
        store.get_label(name)
        return False
    except NotFoundError:
        if not create:
            raise
    store.create_label(name, created_by=created_by)
    return True
