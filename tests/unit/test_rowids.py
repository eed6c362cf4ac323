"""Shot ids over fixed-width bytes: a sequence and a lookup that behave like list and dict."""

import numpy as np
import pytest

from va_app.store.rowids import SCAN_MAX, RowLookup, ShotIds

IDS = ["b|24", "a|0", "café-été|48", "a|0", "z|9"]  # a repeat, a non-ASCII key


def _raw():
    return np.array([i.encode() for i in IDS], dtype="S16")


def test_shot_ids_read_like_a_list():
    ids = ShotIds(_raw())
    assert len(ids) == 5 and ids[2] == "café-été|48" and ids[1:3] == ["a|0", "café-été|48"]
    assert list(ids) == IDS and ids == IDS and "z|9" in ids and "nope" not in ids
    assert ids.index("a|0") == 1 and ids.take([4, 0]) == ["z|9", "b|24"]
    assert np.asarray(ids).tolist() == IDS  # non-ASCII: decoded one by one
    assert ids.series().tolist() == IDS


@pytest.mark.parametrize("with_order", [False, True])
@pytest.mark.parametrize("many", [False, True])
def test_row_lookup_finds_rows_like_a_dict(with_order, many):
    raw = _raw()
    lookup = RowLookup(raw, np.argsort(raw, kind="stable") if with_order else None)
    wanted = ["z|9", "missing", "a|0", "a-much-longer-id-than-the-width|0"]
    if many:
        wanted = wanted * (SCAN_MAX + 1)
    expected = [4, -1, 1, -1] * (len(wanted) // 4)
    assert lookup.positions(wanted).tolist() == expected
    assert lookup.rows(wanted).tolist() == [r for r in expected if r >= 0]
    assert lookup["café-été|48"] == 2 and lookup.get("missing", -1) == -1
    assert "b|24" in lookup and "missing" not in lookup and len(lookup) == 5
    with pytest.raises(KeyError):
        lookup["missing"]


def test_rows_appended_after_the_sorted_ones_are_found_too():
    raw = _raw()
    order = np.argsort(raw[:3], kind="stable")  # what the file stores: its first rows only
    lookup = RowLookup(raw, order, ordered=3)
    wanted = ["z|9", "a|0", "b|24", "missing", "café-été|48"] * (SCAN_MAX + 1)
    assert lookup.positions(wanted).tolist()[:5] == [4, 1, 0, -1, 2]
