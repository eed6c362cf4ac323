"""Labels and multi-annotator annotations on a real catalog (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from va_app.errors import NotFoundError, ValidationError
from va_app.store.catalog import Catalog
from va_app.store.labels import LabelStore, normalise_label_name
from va_app.store.schema import ShotRow, VideoRow

pytestmark = pytest.mark.both_backends


@pytest.fixture
def store(settings) -> LabelStore:
    catalog = Catalog(settings.sql_url)
    shots = [
        ShotRow(id=f"v|{i}", idx=i, start_frame=i, end_frame=i + 1, start_s=0, end_s=1, fps=24.0)
        for i in range(10)
    ]
    catalog.mark_video_ready(catalog.begin_video(VideoRow(key="v", path="/v.mp4"), shots))
    yield LabelStore(catalog)
    catalog.close()


def test_label_names_are_unique_ignoring_case_and_spacing(store):
    store.create_label("Car  Chase", description="cars pursuing each other")
    with pytest.raises(ValidationError, match="already exists"):
        store.create_label(" car chase ")
    assert store.get_label("CAR CHASE").name == "Car Chase"


@pytest.mark.parametrize(
    "bad", ["", "   ", "../etc", "a/b", "x\x00y", "<script>", "." * 3, "x" * 81]
)
def test_unusable_label_names_are_refused_with_a_reason(bad):
    with pytest.raises(ValidationError):
        normalise_label_name(bad)


def test_a_name_that_grows_past_its_key_column_when_case_folded_is_refused(store):
    # 76 visible characters (under the 80 allowed), 126 once folded (ß → ss): the key column
    # holds 100, and PostgreSQL would refuse the insert with an opaque error.
    with pytest.raises(ValidationError, match="ß → ss"):
        store.create_label("ß" * 45 + " " + "Straße" * 5)
    store.create_label("Große Straße")  # a short name with ß is fine
    assert store.get_label("GROSSE STRASSE").name == "Große Straße"


def test_latest_word_per_annotator_counts_and_majority_decides(store):
    store.create_label("night")
    store.annotate("night", "v|1", True, annotator="ana")
    store.annotate("night", "v|1", False, annotator="ana")  # ana changed her mind
    store.annotate("night", "v|1", False, annotator="bo")
    store.annotate("night", "v|2", True, annotator="ana")
    store.annotate("night", "v|2", False, annotator="bo")  # a tie
    store.annotate("night", "v|3", True, annotator="bo")
    store.annotate("night", "v|3", None, annotator="bo")  # cleared
    labelled = store.labelled_set("night")
    assert labelled.negatives == ["v|1"]
    assert labelled.positives == []
    assert labelled.ties == ["v|2"]
    assert [c.shot_id for c in labelled.conflicts] == ["v|2"]
    assert labelled.annotators == ["ana", "bo"]
    assert len(store.history("night")) == 7


def test_unknown_shot_or_label_saves_nothing(store):
    store.create_label("night")
    with pytest.raises(ValidationError, match="unknown shot"):
        store.annotate_many("night", [("v|1", True), ("nope|0", True)], annotator="ana")
    with pytest.raises(NotFoundError, match="create it first"):
        store.annotate("day", "v|1", True, annotator="ana")
    assert store.count_annotations() == 0


def test_annotation_needs_an_annotator(store):
    store.create_label("night")
    with pytest.raises(ValidationError, match="annotator"):
        store.annotate("night", "v|1", True, annotator="  ")


def test_a_decision_sent_again_is_stored_once_by_its_id(store):
    store.create_label("night")
    first = store.annotate_many(
        "night", [("v|1", True), ("v|2", False)], annotator="ana", decision_ids=["d-1", "d-2"]
    )
    assert [(a.shot_id, a.value) for a in first] == [("v|1", True), ("v|2", False)]
    # The browser re-sends both after a reload, with one new decision (and its own duplicate).
    again = store.annotate_many(
        "night",
        [("v|1", True), ("v|2", False), ("v|3", True), ("v|3", True)],
        annotator="ana",
        decision_ids=["d-1", "d-2", "d-3", "d-3"],
    )
    assert [(a.shot_id, a.id is not None) for a in again] == [("v|3", True)]
    assert [(a.shot_id, a.value) for a in store.history("night")] == [
        ("v|1", True),
        ("v|2", False),
        ("v|3", True),
    ]
    # Rows without ids (imports, older clients) are never deduplicated.
    store.annotate_many("night", [("v|4", True), ("v|4", True)], annotator="ana")
    assert store.count_annotations("night") == 5


def test_two_requests_racing_with_the_same_decisions_write_each_once(store, settings):
    """Two servers (own engines) write the same 40 decisions at once: each row once, no error."""
    import threading

    store.create_label("night")
    items = [(f"v|{i % 10}", i % 2 == 0) for i in range(40)]
    ids = [f"race-{i}" for i in range(40)]
    start, errors, written = threading.Barrier(2), [], []

    def writer() -> None:
        other = LabelStore(Catalog(settings.sql_url))
        try:
            start.wait()
            for k in range(0, 40, 4):
                written.extend(
                    other.annotate_many(
                        "night", items[k : k + 4], annotator="ana", decision_ids=ids[k : k + 4]
                    )
                )
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
        finally:
            other.catalog.close()

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert len(written) == 40  # between them, each decision written by exactly one
    assert store.count_annotations("night") == 40


def test_verdict_counts_agree_with_the_training_set_over_a_long_history(store):
    """The grid's counts come from each annotator's latest row only; they must equal what a
    build trains on, after many re-clicks, clears and ties."""
    import random

    store.create_label("night")
    rng = random.Random(3)
    for _ in range(30):
        items = [(f"v|{rng.randrange(10)}", rng.choice([True, False, None])) for _ in range(7)]
        store.annotate_many("night", items, annotator=rng.choice(["ana", "bo", "cy", "di"]))
    labelled = store.labelled_set("night")
    assert store.verdict_counts("night") == (
        len(labelled.positives),
        len(labelled.negatives),
        len(labelled.ties),
    )
    assert sum(store.verdict_counts("night")) > 0 and labelled.ties  # a test with ties in it
