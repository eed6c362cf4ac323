"""The actions of the service layer, fast: labels, the one write path, imports, exports, builds
and model files against the in-memory unit of work (tests/fakes.py). Each action is checked
once against the role table, leaves exactly one event, and writes all or nothing."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fakes import FakeData, FakeUnitOfWork
from va_app.errors import NotFoundError, ValidationError
from va_app.learn.classifier import NotEnoughLabelsError
from va_app.learn.matrix import CorpusMatrix
from va_app.learn.versions import load_model
from va_app.services.access import (
    AccessDeniedError,
    AccessPolicy,
    Role,
    RoleAssignments,
    User,
)
from va_app.services.labelling import Labelling
from va_app.services.modelling import BuildRules, Modelling

SHOTS = [f"v{i // 10}|{i % 10 * 24}" for i in range(60)]
POLICY = AccessPolicy(RoleAssignments(admins=frozenset({"ada"}), annotators=frozenset({"ann"})))
ADA = User("ada", role=Role.ADMIN)
ANN = User("ann", role=Role.ANNOTATOR)
VIC = User("vic", role=Role.VIEWER)


@pytest.fixture
def data() -> FakeData:
    return FakeData(shots=set(SHOTS))


@pytest.fixture
def labelling(data) -> Labelling:
    app = Labelling(lambda: FakeUnitOfWork(data), POLICY)
    app.create_label(ADA, "night", description="after dark")
    return app


def _events(data: FakeData) -> list[tuple[str, str]]:
    return [(e.kind, e.actor) for e in data.events]


# -- labels ----------------------------------------------------------------------------------
def test_creating_editing_and_deleting_a_label_leave_one_event_each(data, labelling):
    labelling.edit_label(ANN, "Night", hints="stars, street lights")
    labelling.delete_label(ADA, "NIGHT")
    assert _events(data) == [
        ("label_created", "ada"),
        ("label_edited", "ann"),
        ("label_deleted", "ada"),
    ]
    assert data.events[1].payload == {"label": "night", "changed": ["hints"]}
    assert data.labels == {}


def test_each_label_action_needs_its_role_and_a_refusal_changes_nothing(data, labelling):
    with pytest.raises(AccessDeniedError, match="viewers cannot create labels"):
        labelling.create_label(VIC, "rain")
    with pytest.raises(AccessDeniedError, match="viewers cannot edit labels"):
        labelling.edit_label(VIC, "night", hints="x")
    with pytest.raises(AccessDeniedError, match="annotators cannot delete labels"):
        labelling.delete_label(ANN, "night")
    assert [label.name for label in data.labels.values()] == ["night"]
    assert _events(data) == [("label_created", "ada")]


# -- the one write path ------------------------------------------------------------------------
def test_a_decision_is_one_annotation_and_one_event_naming_the_shot(data, labelling):
    [stored] = labelling.record(ANN, "night", [(SHOTS[0], True)], source="random")
    assert (stored.label, stored.shot_id, stored.value, stored.annotator, stored.source) == (
        "night",
        SHOTS[0],
        True,
        "ann",
        "random",
    )
    assert data.events[-1].kind == "annotate" and data.events[-1].actor == "ann"
    assert data.events[-1].payload == {
        "label": "night",
        "source": "random",
        "count": 1,
        "shot_id": SHOTS[0],
        "value": True,
    }


def test_a_bulk_decision_is_many_rows_and_still_one_event(data, labelling):
    batch = [(s, False) for s in SHOTS[:7]] + [(SHOTS[0], None)]  # an undo clears one again
    assert len(labelling.record(ANN, "night", batch, source="positive")) == 8
    assert data.events[-1].payload == {"label": "night", "source": "positive", "count": 8}
    assert len(data.events) == 2


def test_who_may_write_whose_words(data, labelling):
    with pytest.raises(AccessDeniedError, match="viewers cannot annotate"):
        labelling.record(VIC, "night", [(SHOTS[0], True)], source="search")
    with pytest.raises(AccessDeniedError, match=r"change other people's annotations \(bo's\)"):
        labelling.record(ANN, "night", [(SHOTS[0], True)], source="search", annotator="bo")
    labelling.record(ADA, "night", [(SHOTS[0], True)], source="search", annotator="bo")
    assert [(a.annotator, a.value) for a in data.annotations] == [("bo", True)]
    with pytest.raises(ValidationError, match="say who you are"):
        labelling.record(User("", role=Role.ADMIN), "night", [(SHOTS[1], True)], source="search")


def test_unknown_shots_or_labels_write_nothing(data, labelling):
    with pytest.raises(ValidationError, match="unknown shot"):
        labelling.record(ANN, "night", [(SHOTS[0], True), ("nowhere|0", True)], source="search")
    with pytest.raises(NotFoundError, match="no label named 'rain'"):
        labelling.record(ANN, "rain", [(SHOTS[0], True)], source="search")
    assert data.annotations == [] and len(data.events) == 1


def test_the_rows_and_their_event_commit_together_or_not_at_all(data, labelling, monkeypatch):
    def broken(*_args, **_kwargs):
        raise OSError("the event log is full")

    monkeypatch.setattr("tests.fakes.FakeEvents.add", broken)
    with pytest.raises(OSError):
        labelling.record(ANN, "night", [(SHOTS[0], True)], source="search")
    monkeypatch.undo()
    assert data.annotations == [] and _events(data) == [("label_created", "ada")]


# -- files -----------------------------------------------------------------------------------
def test_an_import_creates_its_labels_checks_every_owner_and_is_one_event(
    data, labelling, tmp_path
):
    path = tmp_path / "words.csv"
    path.write_text(
        f"label,shot_id,value,annotator\nrain,{SHOTS[0]},1,ann\nNight,{SHOTS[1]},0,bo\n"
    )
    with pytest.raises(AccessDeniedError, match=r"\(bo's\)"):
        labelling.import_file(ANN, path, create_labels=True)
    assert set(data.labels) == {"night"} and data.annotations == []
    assert labelling.import_file(ADA, path, create_labels=True) == 2
    assert sorted(data.labels) == ["night", "rain"]
    assert _events(data)[-2:] == [("label_created", "import"), ("annotations_imported", "ada")]
    assert data.events[-1].payload == {"file": "words.csv", "format": "table", "count": 2}


def test_an_export_writes_the_history_and_says_so(data, labelling, tmp_path):
    labelling.record(ANN, "night", [(SHOTS[0], True), (SHOTS[0], None)], source="search")
    assert labelling.export_file(VIC, tmp_path / "all.csv") == 2  # viewers may export
    assert data.events[-1].kind == "annotations_exported"
    assert data.events[-1].payload == {"label": None, "count": 2, "format": "csv"}
    with pytest.raises(ValidationError, match="add --label"):
        labelling.export_file(ANN, tmp_path / "n.json", fmt="netflix")


# -- builds and models -----------------------------------------------------------------------
@pytest.fixture
def matrix() -> CorpusMatrix:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(len(SHOTS), 16)).astype(np.float32)
    X[:30, 0] += 3.0  # the first 30 shots are "night"
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    clusters = np.arange(len(SHOTS), dtype=np.int32) % 10
    return CorpusMatrix(SHOTS, X, clusters, "fake:v1", {s: i for i, s in enumerate(SHOTS)})


@pytest.fixture
def modelling(data, matrix) -> tuple[Modelling, list]:
    built: list = []
    app = Modelling(
        lambda: FakeUnitOfWork(data),
        POLICY,
        lambda: matrix,
        rules=BuildRules(),
        on_built=lambda outcome, n, hide: built.append((outcome, n, hide)),
    )
    return app, built


def _label_enough(labelling: Labelling) -> None:
    words = [(s, True) for s in SHOTS[:12]] + [(s, False) for s in SHOTS[40:52]]
    labelling.record(ANN, "night", words, source="search")


def test_builds_number_the_versions_log_one_event_and_hand_the_feeds_on(data, labelling, modelling):
    app, built = modelling
    _label_enough(labelling)
    first = app.build(ANN, "night", n=5)
    second = app.build(ANN, "night", n=5, hide_labelled=True)
    assert (first.version.version, second.version.version) == (1, 2)
    assert second.previous == first.version
    assert _events(data)[-2:] == [("build", "ann"), ("build", "ann")]
    assert data.events[-1].payload == {"label": "night", "version": 2}
    assert [(o.version.version, n, hide) for o, n, hide in built] == [(1, 5, False), (2, 5, True)]
    assert set(first.feeds["positive"]) <= set(SHOTS[:30]) | set(SHOTS[:12])
    labelled = set(SHOTS[:12]) | set(SHOTS[40:52])
    assert not labelled & {s for feed in second.feeds.values() for s in feed}


def test_a_build_below_ten_and_ten_or_by_a_viewer_stores_nothing(data, labelling, modelling):
    app, built = modelling
    labelling.record(ANN, "night", [(s, True) for s in SHOTS[:4]], source="search")
    with pytest.raises(NotEnoughLabelsError, match="6 more positives"):
        app.build(ANN, "night")
    with pytest.raises(AccessDeniedError, match="viewers cannot build"):
        app.build(VIC, "night")
    assert data.versions == [] and built == [] and _events(data)[-1][0] == "annotate"


def test_an_exported_model_scores_as_the_build_did(data, labelling, modelling, matrix, tmp_path):
    app, _ = modelling
    _label_enough(labelling)
    outcome = app.build(ANN, "night")
    path = app.export_model(VIC, "night", tmp_path / "night.vamodel.json")
    np.testing.assert_allclose(
        load_model(path).predict_proba(matrix.X), outcome.result.probabilities, rtol=1e-5
    )
    scored = app.score(VIC, "night")
    assert list(scored.shot_id) == SHOTS
    np.testing.assert_allclose(scored.probability, outcome.result.probabilities, rtol=1e-5)
    assert _events(data)[-2:] == [("model_exported", "vic"), ("scored", "vic")]
    with pytest.raises(NotFoundError, match="has no model"):
        app.score(VIC, "night", version=7)
