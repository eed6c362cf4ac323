"""Label decisions as the card grid sends them: parsing, and the session's undo list.

A browser sends decisions in batches (``{"items": [{"seq": 7, "id": "6f1c…", "shot_id":
"...", "value": true, "before": null, "group": 7, "undo_of": null}, ...]}``); everything in a
batch is untrusted input, checked here before :meth:`va_app.services.labelling.Labelling.record`
writes it. ``seq`` is the page's running number of a decision (what the undo list and the
confirmations name); ``id`` is the decision's own identity, made by the browser and stored with
its row: a decision sent again — a lost confirmation, a reload, a restarted server — is written
once. The undo list (:class:`RecentDecisions`) is plain data so the app can keep it in its
session state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from va_app.errors import ValidationError
from va_app.store.schema import DECISION_ID_MAX

#: A browser batches what the expert decided while the previous batch was in flight; a
#: person cannot make more than this many decisions in one round trip (bulk included).
MAX_BATCH = 500
#: How many of the session's decisions stay listed (and revertible).
RECENT_KEPT = 10
#: How many decision numbers are remembered to drop a batch that arrives twice.
SEEN_KEPT = 2000
# A UUID, or any other token of URL-safe characters that fits the column.
_DECISION_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{DECISION_ID_MAX}}}")


class TooManyDecisionsError(ValidationError):
    """A batch holds more decisions than one round trip of a person can make."""


@dataclass(frozen=True)
class Decision:
    """One decision on one shot: ``value`` True positive, False negative, None cleared.

    ``before`` is what the card showed before (what an undo restores); ``group`` ties the
    decisions of one bulk action together; ``undo_of`` names the group an undo reverts; ``id``
    is the browser's id of the decision (stored once; None from older clients).
    """

    seq: int
    shot_id: str
    value: bool | None
    before: bool | None = None
    group: int = 0
    undo_of: int | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        if not self.shot_id or len(self.shot_id) > 1000:
            raise ValidationError("a decision needs a shot id (at most 1000 characters)")


def parse_decisions(payload: object) -> list[Decision]:
    """The decisions in a grid event, validated; a malformed event raises ValidationError."""
    items = payload.get("items") if isinstance(payload, Mapping) else None
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)):
        raise ValidationError("a decision event needs a list of items")
    if len(items) > MAX_BATCH:
        raise TooManyDecisionsError(
            f"at most {MAX_BATCH} decisions per event, got {len(items)}: nothing saved"
        )
    decisions = [_decision(item) for item in items]
    ids = [d.id for d in decisions if d.id is not None]
    if len(ids) != len(set(ids)):
        raise ValidationError("a decision id appears twice in one batch")
    return decisions


def _decision(item: object) -> Decision:
    if not isinstance(item, Mapping):
        raise ValidationError("each decision must be an object")
    seq = item.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValidationError("each decision needs a non-negative integer seq")
    shot_id = item.get("shot_id")
    value, before = _value(item.get("value")), _value(item.get("before"))
    group = item.get("group", seq)
    undo_of = item.get("undo_of")
    if not isinstance(shot_id, str):
        raise ValidationError("each decision needs a shot_id string")
    if not isinstance(group, int) or (undo_of is not None and not isinstance(undo_of, int)):
        raise ValidationError("group and undo_of must be integers")
    return Decision(seq, shot_id, value, before, group, undo_of, _decision_id(item.get("id")))


def _decision_id(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not _DECISION_ID.fullmatch(raw):
        raise ValidationError(
            f"a decision id must be 1 to {DECISION_ID_MAX} letters, digits, - or _"
        )
    return raw


def _value(raw: object) -> bool | None:
    if raw is None or isinstance(raw, bool):
        return raw
    raise ValidationError(f"a decision's value must be true, false or null, not {raw!r}")


@dataclass
class RecentDecisions:
    """The session's last decisions (newest last), grouped by bulk action, and the decision
    numbers already written (so a batch sent twice is written once)."""

    entries: list[dict] = field(default_factory=list)
    seen: list[int] = field(default_factory=list)

    def fresh(self, decisions: Sequence[Decision]) -> list[Decision]:
        """The decisions not written before (by ``seq``)."""
        seen = set(self.seen)
        return [d for d in decisions if d.seq not in seen]

    def record(
        self, label: str, decisions: Sequence[Decision], *, titles: Mapping[str, str]
    ) -> None:
        """Remember written decisions: an undo removes its group, others are listed."""
        undone = {d.undo_of for d in decisions if d.undo_of is not None}
        self.entries = [e for e in self.entries if e["group"] not in undone]
        self.entries += [
            {
                "seq": d.seq,
                "group": d.group,
                "label": label,
                "shot_id": d.shot_id,
                "title": titles.get(d.shot_id, d.shot_id),
                "before": d.before,
                "after": d.value,
            }
            for d in decisions
            if d.undo_of is None
        ]
        groups = list(dict.fromkeys(e["group"] for e in self.entries))[-RECENT_KEPT:]
        self.entries = [e for e in self.entries if e["group"] in set(groups)]
        self.seen = (self.seen + [d.seq for d in decisions])[-SEEN_KEPT:]

    def for_label(self, label: str) -> list[dict]:
        return [e for e in self.entries if e["label"] == label]
