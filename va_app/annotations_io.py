"""Annotation files: CSV / Parquet / JSON import and export.

Columns: ``label, shot_id, value, annotator`` and optionally ``source, created_at``. Values:
``1/0``, ``pos/neg``, ``positive/negative``, ``true/false``, ``yes/no``; an empty value in an
exported history means "cleared". Import is all-or-nothing: one bad row and nothing is saved,
with a message naming the row.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from va_app.domain import Annotation
from va_app.errors import ValidationError
from va_app.store.labels import LabelStore

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
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValidationError(f"{Path(path).name}: missing column(s) {', '.join(missing)}; "
                              f"expected {', '.join(REQUIRED)}[, source]")
    return [_row_to_annotation(i, row) for i, row in enumerate(frame.to_dict("records"), 2)]


def import_annotations(store: LabelStore, path: str | Path, *,
                       create_labels: bool = False) -> int:
    annotations = read_annotations(path)
    if create_labels:
        existing = {label.name.casefold() for label in store.labels()}
        for name in sorted({a.label for a in annotations}):
            if name.casefold() not in existing:
                store.create_label(name, created_by="import")
                existing.add(name.casefold())
    return store.import_annotations(annotations)


def export_annotations(store: LabelStore, out: str | Path, *, fmt: str | None = None,
                       label: str | None = None) -> int:
    """Write the full annotation history (every click) — the lossless form."""
    out = Path(out)
    fmt = (fmt or out.suffix.lstrip(".") or "csv").lower()
    if fmt not in FORMATS:
        raise ValidationError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    rows = store.history(label) if label else store.all_history()
    frame = pd.DataFrame([_annotation_to_row(a) for a in rows], columns=list(COLUMNS))
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
            label=str(row["label"]).strip(), shot_id=str(row["shot_id"]).strip(),
            value=parse_value(row["value"]), annotator=str(row["annotator"]).strip(),
            source=str(row.get("source") or "import").strip() or "import",
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
    value = "" if a.value is None else int(a.value)
    created = a.created_at.isoformat() if a.created_at else ""
    return {"label": a.label, "shot_id": a.shot_id, "value": value, "annotator": a.annotator,
            "source": a.source, "created_at": created}
