"""Grid events are untrusted input: parsed strictly; the undo list groups bulk actions."""

from __future__ import annotations

import pytest

from va_app.errors import ValidationError
from va_app.services.decisions import RECENT_KEPT, Decision, RecentDecisions, parse_decisions


def test_a_batch_parses_into_decisions():
    got = parse_decisions(
        {
            "items": [
                {"seq": 3, "shot_id": "a|0", "value": True, "before": None, "group": 3},
                {"seq": 4, "shot_id": "b|0", "value": None},
            ]
        }
    )
    assert got == [Decision(3, "a|0", True, None, 3), Decision(4, "b|0", None, None, 4)]


@pytest.mark.parametrize(
    "payload, message",
    [
        (None, "list of items"),
        ({"items": "x"}, "list of items"),
        ({"items": [{"seq": "1", "shot_id": "a", "value": True}]}, "integer seq"),
        ({"items": [{"seq": 1, "shot_id": 5, "value": True}]}, "shot_id"),
        ({"items": [{"seq": 1, "shot_id": "a", "value": 1}]}, "true, false or null"),
        ({"items": [{"seq": 1, "shot_id": "", "value": True}]}, "needs a shot id"),
        ({"items": [{"seq": i, "shot_id": "a", "value": True} for i in range(501)]}, "at most"),
    ],
)
def test_malformed_events_are_refused_with_a_reason(payload, message):
    with pytest.raises(ValidationError, match=message):
        parse_decisions(payload)


def test_a_batch_sent_twice_is_fresh_once():
    recent = RecentDecisions()
    batch = [Decision(1, "a", True), Decision(2, "b", False)]
    recent.record("night", recent.fresh(batch), titles={})
    assert recent.fresh(batch) == []
    assert recent.fresh(batch + [Decision(3, "c", True)]) == [Decision(3, "c", True)]


def test_an_undo_removes_its_whole_group_and_only_the_newest_groups_stay():
    recent = RecentDecisions()
    recent.record(
        "night",
        [Decision(1, "a", True, None, 1), Decision(2, "b", True, None, 1)],
        titles={"a": "A"},
    )
    recent.record("night", [Decision(3, "c", False, None, 3)], titles={})
    assert [e["title"] for e in recent.for_label("night")] == ["A", "b", "c"]
    recent.record(
        "night",
        [Decision(4, "a", None, True, 4, undo_of=1), Decision(5, "b", None, True, 5, undo_of=1)],
        titles={},
    )
    assert [e["shot_id"] for e in recent.for_label("night")] == ["c"]
    for seq in range(10, 10 + RECENT_KEPT + 3):
        recent.record("night", [Decision(seq, f"s{seq}", True, None, seq)], titles={})
    assert len(recent.for_label("night")) == RECENT_KEPT
    assert recent.for_label("other") == []
