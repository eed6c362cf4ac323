"""The Netflix Video Annotator's per-label annotation file, ``agg/<label>.json``: its codec.

``{"primary": "B", "secondaries": ["A", "C"], "data": [{"key": shot id, "primary": bool,
"secondaries": {"A": bool, "C": bool}, "agg": bool, "pos_cnt": int}, ...]}`` — every
annotator's current word per shot and the aggregate. Read and written here, used by the
release importer (:mod:`va_app.datasets.netflix`) and as an annotation file format
(:mod:`va_app.formats.annotations`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from va_app.domain import Annotation, ShotVerdict, Source, majority
from va_app.errors import ValidationError

#: Who an agg item's aggregate is stored under when it has no annotator's word, only ``agg``.
AGG_ONLY_ANNOTATOR = "agg"


@dataclass(frozen=True)
class AggItem:
    """One shot of an agg file: every annotator's word on it (nulls left out), the file's
    aggregate (when the item has no ``agg``: the words' majority) and its positive count
    (None when absent)."""

    key: str
    words: Mapping[str, bool]
    agg: bool | None
    pos_cnt: int | None = None

    def check_aggregate(self) -> None:
        """Raise ValidationError when ``agg`` or ``pos_cnt`` contradict the words (the majority
        of :func:`va_app.domain.majority`, the fold every label uses)."""
        if not self.words:
            return
        verdict = ShotVerdict.of(self.key, self.words)
        if self.agg != verdict.value:
            raise ValidationError(
                f'"agg" is {json.dumps(self.agg)} but the annotators\' '
                f"majority is {json.dumps(verdict.value)}"
            )
        if self.pos_cnt is not None and self.pos_cnt != verdict.positive_votes:
            raise ValidationError(
                f'"pos_cnt" is {self.pos_cnt!r} but '
                f"{verdict.positive_votes} annotators said positive"
            )


@dataclass(frozen=True)
class AggregatedLabel:
    """One agg file: its label (the file's name), who the primary and the secondaries are,
    and its items."""

    label: str
    primary: str | None
    secondaries: tuple[str, ...]
    items: tuple[AggItem, ...]

    @property
    def annotators(self) -> tuple[str, ...]:
        return (*([self.primary] if self.primary is not None else []), *self.secondaries)

    def annotations(
        self, *, label: str | None = None, keep: set[str] | None = None, source: str = Source.IMPORT
    ) -> list[Annotation]:
        """Each word as one annotation under its annotator (primary first, then by name); an
        item with no word but an ``agg`` under :data:`AGG_ONLY_ANNOTATOR`. ``keep``: only
        these shot ids."""
        name = label or self.label
        out = []
        for item in self.items:
            if keep is not None and item.key not in keep:
                continue
            words = dict(item.words) or (
                {AGG_ONLY_ANNOTATOR: item.agg} if item.agg is not None else {}
            )
            ordered = sorted(words.items(), key=lambda w: (w[0] != self.primary, w[0]))
            out += [Annotation(name, item.key, value, who, source=source) for who, value in ordered]
        return out


def read_agg(path: str | Path) -> AggregatedLabel:
    """Parse ``agg/<label>.json``; raises ValidationError naming the file (and the item) when
    it is malformed. The aggregate is read as given: :meth:`AggItem.check_aggregate` checks it."""
    path = Path(path)
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ValidationError(
            f"{path.name}: expected a Netflix VA label file, an object with "
            f'"primary", "secondaries" and a "data" list'
        )
    primary, secondaries = _agg_annotators(path, doc)
    items, seen = [], set()
    for number, raw in enumerate(doc["data"], 1):
        try:
            item = _agg_item(raw, primary, secondaries)
            if item.key in seen:
                raise ValidationError(f"shot {item.key!r} appears twice")
        except ValidationError as exc:
            raise ValidationError(f"{path.name}, item {number}: {exc}") from None
        seen.add(item.key)
        items.append(item)
    return AggregatedLabel(path.stem, primary, tuple(secondaries), tuple(items))


def _agg_annotators(path: Path, doc: dict) -> tuple[str | None, list[str]]:
    primary, secondaries = doc.get("primary"), doc.get("secondaries") or []
    names = ([primary] if primary is not None else []) + list(secondaries)
    if not isinstance(secondaries, list) or not all(
        isinstance(n, str) and n.strip() for n in names
    ):
        raise ValidationError(
            f'{path.name}: "primary" must be a name and "secondaries" a list of names'
        )
    if len(set(names)) != len(names):
        raise ValidationError(f"{path.name}: an annotator is named twice")
    return primary, list(secondaries)


def _agg_item(raw: object, primary: str | None, secondaries: list[str]) -> AggItem:
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str) or not raw["key"]:
        raise ValidationError('each item needs a "key" (a shot id)')
    given = raw.get("secondaries") or {}
    if not isinstance(given, dict) or set(given) - set(secondaries):
        raise ValidationError(
            '"secondaries" must map the declared secondary annotators to true/false'
        )
    if raw.get("primary") is not None and primary is None:
        raise ValidationError('a "primary" word but no primary annotator named')
    words = {**({primary: raw.get("primary")} if primary else {}), **given}
    pos_cnt = raw.get("pos_cnt")
    if pos_cnt is not None and (isinstance(pos_cnt, bool) or not isinstance(pos_cnt, int)):
        raise ValidationError(f'"pos_cnt" must be a whole number, not {str(pos_cnt)[:20]!r}')
    words = {who: _word(value, who) for who, value in words.items() if value is not None}
    agg = _word(raw["agg"], "agg") if "agg" in raw else majority(words) if words else None
    return AggItem(raw["key"], words, agg, pos_cnt)


def _word(value: object, field: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ValidationError(f"{field!r} must be true, false or null, not {str(value)[:20]!r}")


def aggregate(
    label: str,
    votes: Mapping[str, Mapping[str, bool]],
    *,
    primary: str | None,
    secondaries: Sequence[str] = (),
) -> AggregatedLabel:
    """The agg file of ``votes`` (shot id → annotator → current word), shots sorted by key:
    ``agg`` is their majority (None on a tie: Netflix's loader then counts the shot neither
    positive nor negative, as our builds do) and ``pos_cnt`` the positive words. Annotators
    with a word but neither ``primary`` nor in ``secondaries`` are added as secondaries."""
    voters = {who for words in votes.values() for who in words}
    extra = sorted(voters - {primary} - set(secondaries))
    items = tuple(
        AggItem(key, dict(votes[key]), verdict.value, verdict.positive_votes)
        for key in sorted(votes)
        for verdict in (ShotVerdict.of(key, votes[key]),)
        if votes[key]
    )
    return AggregatedLabel(label, primary, (*secondaries, *extra), items)


def agg_document(agg: AggregatedLabel) -> dict:
    """The JSON object of an agg file (the inverse of :func:`read_agg`)."""
    return {
        "primary": agg.primary,
        "secondaries": list(agg.secondaries),
        "data": [
            {
                "key": item.key,
                "primary": item.words.get(agg.primary) if agg.primary else None,
                "secondaries": {a: item.words[a] for a in agg.secondaries if a in item.words},
                "agg": item.agg,
                "pos_cnt": item.pos_cnt,
            }
            for item in agg.items
        ],
    }


def write_agg(agg: AggregatedLabel, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(agg_document(agg), ensure_ascii=False), encoding="utf-8")
    return out


def read_json(path: Path):
    """A JSON file's document; a missing, non-UTF-8 or malformed file raises ValidationError
    naming it."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (FileNotFoundError, IsADirectoryError):
        raise ValidationError(f"{path} does not exist or is not a file") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{path} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path} is not valid JSON ({exc})") from exc
