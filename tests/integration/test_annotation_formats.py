"""Annotation files round-trip: CSV and Parquet keep the whole history; the Netflix VA
per-label JSON keeps every annotator's current word and the majority (= its ``agg``)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TESTER
from va_app.errors import ValidationError
from va_app.formats.annotations import NETFLIX_AGG_ANNOTATOR
from va_app.services.access import AccessPolicy
from va_app.services.labelling import Labelling
from va_app.services.unit_of_work import SqlUnitOfWork
from va_app.store.catalog import Catalog
from va_app.store.labels import LabelStore
from va_app.store.schema import ShotRow, VideoRow

LABEL = "golden hour"
SHOTS = [f"clip{v}|{i * 10}" for v in range(2) for i in range(8)]


def fresh_store(path) -> LabelStore:
    """A catalog with the same 16 shots every time (annotations need known shot ids)."""
    catalog = Catalog(f"sqlite:///{path}")
    for v in range(2):
        rows = [
            ShotRow(
                id=f"clip{v}|{i * 10}",
                idx=i,
                start_frame=i * 10,
                end_frame=i * 10 + 10,
                start_s=i / 2,
                end_s=(i + 1) / 2,
                fps=20.0,
            )
            for i in range(8)
        ]
        catalog.mark_video_ready(
            catalog.begin_video(VideoRow(key=f"clip{v}", path=f"/videos/clip{v}.mp4"), rows)
        )
    return LabelStore(catalog)


def _labelling(store: LabelStore) -> Labelling:
    return Labelling(lambda: SqlUnitOfWork(store.catalog), AccessPolicy.local())


def export_annotations(store: LabelStore, out, **options) -> int:
    return _labelling(store).export_file(TESTER, out, **options)


def import_annotations(store: LabelStore, path, *, create_labels: bool = False) -> int:
    return _labelling(store).import_file(TESTER, path, create_labels=create_labels)


def export_netflix_agg(store: LabelStore, label: str, out) -> int:
    return _labelling(store).export_file(TESTER, out, fmt="netflix", label=label)


def import_netflix_agg(store: LabelStore, path, *, label: str | None = None) -> int:
    return _labelling(store).import_file(TESTER, path, fmt="netflix", label=label)


@pytest.fixture
def original(tmp_path) -> LabelStore:
    """Three annotators: agreement, conflicts, a tie, a flip, a clear, single words."""
    store = fresh_store(tmp_path / "original.sqlite")
    store.create_label(LABEL, description="warm low sun", created_by="alice")
    store.create_label("night", created_by="bob")
    s = SHOTS
    store.annotate_many(
        LABEL,
        [(s[0], True), (s[1], True), (s[2], False), (s[3], True), (s[4], False), (s[5], True)],
        annotator="alice",
        source="search",
    )
    store.annotate_many(
        LABEL,
        [(s[0], True), (s[1], False), (s[2], False), (s[3], False), (s[6], True)],
        annotator="bob",
        source="random",
    )
    store.annotate_many(
        LABEL,
        [(s[0], True), (s[1], True), (s[2], True), (s[7], False)],
        annotator="carol",
        source="borderline",
    )
    store.annotate(LABEL, s[5], False, annotator="alice", source="review")  # a flip
    store.annotate(LABEL, s[6], None, annotator="bob", source="review")  # a clear
    store.annotate(LABEL, s[9], True, annotator="bob", source="similar")
    store.annotate("night", s[8], True, annotator="bob", source="search")
    return store


def current_words(store: LabelStore, label: str = LABEL) -> set[tuple]:
    return {(a.shot_id, a.annotator, a.value) for a in store.current(label)}


def without_ids(history) -> list[tuple]:
    return [(a.label, a.shot_id, a.value, a.annotator, a.source, a.created_at) for a in history]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_csv_and_parquet_round_trip_the_whole_history(tmp_path, original, suffix):
    out = tmp_path / f"annotations.{suffix}"
    assert export_annotations(original, out) == 19
    copy = fresh_store(tmp_path / "copy.sqlite")
    assert import_annotations(copy, out, create_labels=True) == 19
    assert without_ids(copy.all_history()) == without_ids(original.all_history())
    for label in (LABEL, "night"):
        assert current_words(copy, label) == current_words(original, label)
        assert copy.labelled_set(label) == original.labelled_set(label)


def test_netflix_agg_round_trips_every_current_word_and_the_majority(tmp_path, original):
    out = tmp_path / "agg" / "golden hour.json"
    assert export_netflix_agg(original, LABEL, out) == 8
    copy = fresh_store(tmp_path / "copy.sqlite")
    assert import_netflix_agg(copy, out) == len(current_words(original))
    assert copy.get_label(LABEL).created_by == "alice"
    assert current_words(copy) == current_words(original)
    assert copy.labelled_set(LABEL) == original.labelled_set(LABEL)
    again = tmp_path / "again.json"
    export_netflix_agg(copy, LABEL, again)
    assert json.loads(again.read_text()) == json.loads(out.read_text())


def test_netflix_agg_file_reads_like_netflix_data(tmp_path, original):
    out = tmp_path / "golden hour.json"
    export_netflix_agg(original, LABEL, out)
    doc = json.loads(out.read_text())
    assert doc["primary"] == "alice" and doc["secondaries"] == ["bob", "carol"]
    items = {item["key"]: item for item in doc["data"]}
    assert items[SHOTS[0]] == {
        "key": SHOTS[0],
        "primary": True,
        "secondaries": {"bob": True, "carol": True},
        "agg": True,
        "pos_cnt": 3,
    }
    assert items[SHOTS[1]]["agg"] is True and items[SHOTS[1]]["pos_cnt"] == 2
    assert items[SHOTS[3]]["agg"] is None  # alice yes, bob no: a tie
    assert items[SHOTS[5]] == {
        "key": SHOTS[5],
        "primary": False,
        "secondaries": {},
        "agg": False,
        "pos_cnt": 0,
    }  # alice's latest word only
    assert items[SHOTS[9]]["primary"] is None and items[SHOTS[9]]["secondaries"] == {"bob": True}
    assert SHOTS[6] not in items  # bob cleared his only word
    # What Netflix's loader makes of it: pos = agg true, neg = agg false, ties in neither.
    labelled = original.labelled_set(LABEL)
    assert sorted(k for k, i in items.items() if i["agg"] is True) == labelled.positives
    assert sorted(k for k, i in items.items() if i["agg"] is False) == labelled.negatives


def write_json(path, doc) -> str:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def test_a_netflix_style_file_imports_into_its_own_label(tmp_path):
    store = fresh_store(tmp_path / "s.sqlite")
    path = write_json(
        tmp_path / "closeup.json",
        {
            "primary": "B",
            "secondaries": ["A", "C"],
            "data": [
                {
                    "key": SHOTS[0],
                    "primary": True,
                    "secondaries": {"A": True, "C": True},
                    "agg": True,
                    "pos_cnt": 3,
                },
                {
                    "key": SHOTS[1],
                    "primary": False,
                    "secondaries": {"A": True, "C": False},
                    "agg": False,
                    "pos_cnt": 1,
                },
                {"key": SHOTS[2], "agg": True},
            ],
        },
    )
    assert import_netflix_agg(store, path) == 7
    labelled = store.labelled_set("closeup")
    assert labelled.positives == [SHOTS[0], SHOTS[2]] and labelled.negatives == [SHOTS[1]]
    assert labelled.annotators == sorted(["A", "B", "C", NETFLIX_AGG_ANNOTATOR])


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            {"key": SHOTS[0], "primary": True, "secondaries": {"A": False}, "agg": False},
            '"agg" is false but the annotators\' majority is null',
        ),
        (
            {
                "key": SHOTS[0],
                "primary": True,
                "secondaries": {"A": True},
                "agg": True,
                "pos_cnt": 1,
            },
            '"pos_cnt" is 1 but 2 annotators said positive',
        ),
        ({"key": SHOTS[0], "primary": "yes", "agg": True}, "'B' must be true, false or null"),
        ({"key": SHOTS[0], "secondaries": {"Z": True}}, "declared secondary annotators"),
        ({"primary": True}, 'each item needs a "key"'),
        ({"key": "nowhere|0", "primary": True, "agg": True}, "unknown shot id"),
    ],
)
def test_a_bad_netflix_item_imports_nothing(tmp_path, item, message):
    store = fresh_store(tmp_path / "s.sqlite")
    path = write_json(
        tmp_path / "closeup.json",
        {
            "primary": "B",
            "secondaries": ["A"],
            "data": [{"key": SHOTS[5], "primary": True, "agg": True}, item],
        },
    )
    with pytest.raises(ValidationError, match=message.replace("(", "\\(")):
        import_netflix_agg(store, path)
    assert store.labels() == []


def test_a_netflix_file_imports_into_an_existing_label_by_any_spelling(tmp_path):
    store = fresh_store(tmp_path / "s.sqlite")
    store.create_label(LABEL, created_by="alice")
    path = write_json(
        tmp_path / "x.json",
        {"primary": "B", "secondaries": [], "data": [{"key": SHOTS[0], "primary": True}]},
    )
    assert import_netflix_agg(store, path, label="Golden  Hour") == 1
    assert [label.name for label in store.labels()] == [LABEL]
    assert store.labelled_set(LABEL).positives == [SHOTS[0]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "expected a Netflix VA label file"),
        ("{not json", "is not valid JSON"),
        ('{"primary": "B", "secondaries": ["B"], "data": []}', "an annotator is named twice"),
        ('{"primary": 3, "data": []}', '"primary" must be a name'),
    ],
)
def test_a_malformed_netflix_file_says_what_is_wrong(tmp_path, content, message):
    store = fresh_store(tmp_path / "s.sqlite")
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValidationError, match=message):
        import_netflix_agg(store, path)
    assert store.labels() == []
