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

import json
from datetime import datetime
from pathlib import Path

import pandas as pd

from va_app.domain import Annotation
from va_app.errors import NotFoundError, ValidationError
from va_app.store.labels import Label, LabelStore, ShotVerdict

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
    value = None if a.value is None else int(a.value)
    created = a.created_at.isoformat() if a.created_at else ""
    return {"label": a.label, "shot_id": a.shot_id, "value": value, "annotator": a.annotator,
            "source": a.source, "created_at": created}


# -- Netflix VA per-label JSON ("agg" format) -------------------------------------------------
# {"primary": "B", "secondaries": ["A", "C"], "data": [{"key": shot id, "primary": bool,
#  "secondaries": {"A": bool, "C": bool}, "agg": bool, "pos_cnt": int}, ...]}
# Items whose annotators' words are absent but "agg" is given are stored under this name.
NETFLIX_AGG_ANNOTATOR = "agg"


def export_netflix_agg(store: LabelStore, label: str, out: str | Path) -> int:
    """Write ``label``'s current annotations as a Netflix VA ``agg/<label>.json``; returns the
    number of shots written.

    One item per shot anyone has a current word on: ``primary`` is the label's creator when
    they annotated it (else whoever annotated most), ``secondaries`` everyone else; ``agg`` is
    our majority (``null`` on a tie: Netflix's loader then counts the shot neither positive nor
    negative, as our builds do), ``pos_cnt`` the number of positive words. Where an annotator
    has no word on a shot, ``primary`` is ``null`` / the name is left out of ``secondaries``.
    """
    meta = store.get_label(label)
    verdicts = store.verdicts(meta.name)
    primary = _primary_annotator(meta, verdicts)
    doc = {
        "primary": primary,
        "secondaries": sorted({a for v in verdicts for a in v.votes} - {primary}),
        "data": [_agg_item(v, primary) for v in verdicts],
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return len(doc["data"])


def import_netflix_agg(store: LabelStore, path: str | Path, *, label: str | None = None,
                       create_label: bool = True) -> int:
    """Read a Netflix VA ``agg/<label>.json`` into ``label`` (default: the file's name);
    returns the number of annotations stored. All or nothing.

    Each annotator's word becomes one annotation under their name; an item with no words but
    an ``agg`` is stored under :data:`NETFLIX_AGG_ANNOTATOR`. An ``agg`` or ``pos_cnt`` that
    contradicts the words is refused, so our majority always equals the file's ``agg``.
    """
    path = Path(path)
    doc = _read_agg_json(path)
    name = label or path.stem
    primary, secondaries = _agg_annotators(path, doc)
    annotations = _agg_annotations(path, doc["data"], name, primary, secondaries)
    created = _ensure_label(store, name, create=create_label, created_by=primary or "import")
    try:
        return store.import_annotations(annotations)
    except Exception:
        if created:
            store.delete_label(name)
        raise


def _primary_annotator(meta: Label, verdicts: list[ShotVerdict]) -> str | None:
    counts: dict[str, int] = {}
    for verdict in verdicts:
        for annotator in verdict.votes:
            counts[annotator] = counts.get(annotator, 0) + 1
    if meta.created_by in counts:
        return meta.created_by
    return min(counts, key=lambda a: (-counts[a], a)) if counts else None


def _agg_item(verdict: ShotVerdict, primary: str | None) -> dict:
    votes = verdict.votes
    return {
        "key": verdict.shot_id,
        "primary": votes.get(primary) if primary else None,
        "secondaries": {a: votes[a] for a in sorted(votes) if a != primary},
        "agg": verdict.value,
        "pos_cnt": sum(votes.values()),
    }


def _read_agg_json(path: Path) -> dict:
    if not path.is_file():
        raise ValidationError(f"{path} does not exist or is not a file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValidationError(f"{path.name} is not UTF-8 text") from None
    except ValueError as exc:
        raise ValidationError(f"{path.name} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ValidationError(f'{path.name}: expected a Netflix VA label file, an object with '
                              f'"primary", "secondaries" and a "data" list')
    return doc


def _agg_annotators(path: Path, doc: dict) -> tuple[str | None, list[str]]:
    primary, secondaries = doc.get("primary"), doc.get("secondaries") or []
    names = ([primary] if primary is not None else []) + list(secondaries)
    if (not isinstance(secondaries, list)
            or not all(isinstance(n, str) and n.strip() for n in names)):
        raise ValidationError(f'{path.name}: "primary" must be a name and "secondaries" a list '
                              "of names; nothing was imported")
    if len(set(names)) != len(names):
        raise ValidationError(f"{path.name}: an annotator is named twice; nothing was imported")
    return primary, list(secondaries)


def _agg_annotations(path: Path, data: list, label: str, primary: str | None,
                     secondaries: list[str]) -> list[Annotation]:
    annotations: list[Annotation] = []
    seen: set[str] = set()
    for number, item in enumerate(data, 1):
        try:
            key, votes = _agg_votes(item, primary, secondaries)
            if key in seen:
                raise ValidationError(f"shot {key!r} appears twice")
            seen.add(key)
        except ValidationError as exc:
            raise ValidationError(f"{path.name}, item {number}: {exc}; nothing was imported") \
                from None
        annotations += [Annotation(label=label, shot_id=key, value=value, annotator=who,
                                   source="import") for who, value in votes.items()]
    return annotations


def _agg_votes(item: object, primary: str | None,
               secondaries: list[str]) -> tuple[str, dict[str, bool]]:
    """The item's shot id and its words by annotator, checked against ``agg``/``pos_cnt``."""
    if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"]:
        raise ValidationError('each item needs a "key" (a shot id)')
    given = item.get("secondaries") or {}
    if not isinstance(given, dict) or set(given) - set(secondaries):
        raise ValidationError('"secondaries" must map the declared secondary annotators '
                              "to true/false")
    words = {**({primary: item.get("primary")} if primary else {}), **given}
    if item.get("primary") is not None and primary is None:
        raise ValidationError('a "primary" word but no primary annotator named')
    votes = {who: _agg_bool(value, who) for who, value in words.items() if value is not None}
    agg = _agg_bool(item.get("agg"), "agg")
    if not votes:
        return item["key"], {} if agg is None else {NETFLIX_AGG_ANNOTATOR: agg}
    _check_aggregate(votes, agg if "agg" in item else ..., item.get("pos_cnt"))
    return item["key"], votes


def _agg_bool(value: object, field: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ValidationError(f"{field!r} must be true, false or null, not {str(value)[:20]!r}")


def _check_aggregate(votes: dict[str, bool], agg: object, pos_cnt: object) -> None:
    positives = sum(votes.values())
    majority = None if 2 * positives == len(votes) else 2 * positives > len(votes)
    if agg is not ... and agg != majority:
        raise ValidationError(f'"agg" is {json.dumps(agg)} but the annotators\' majority is '
                              f"{json.dumps(majority)}")
    if pos_cnt is not None and pos_cnt != positives:
        raise ValidationError(f'"pos_cnt" is {pos_cnt!r} but {positives} annotators said '
                              "positive")


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
