"""Every user action through the services: access-checked, one event each, one transaction.

Real SQL (SQLite, and PostgreSQL where it is installed) and h5 in ``tmp_path``; the roles are
a real :class:`AccessPolicy`.
"""

from __future__ import annotations

import getpass
import threading

import pytest

from tests.conftest import TESTER, open_services
from tests.corpusfactory import make_synthetic_corpus
from va_app.cli import main
from va_app.errors import StoreError
from va_app.services import dashboard, feed_reads, reads
from va_app.services.access import AccessDeniedError, AccessPolicy, Role, RoleAssignments, User
from va_app.services.bootstrap import Services

pytestmark = pytest.mark.both_backends
LABEL = "bright"
POLICY = AccessPolicy(
    RoleAssignments(admins=frozenset({"ada"}), annotators=frozenset({"ann", "bo"}))
)
ADA = User("ada", role=Role.ADMIN)
ANN = User("ann", role=Role.ANNOTATOR)
VIC = User("vic", role=Role.VIEWER)


TRUTH: dict[str, dict[str, bool]] = {}  # data dir -> the synthetic concept's ground truth


@pytest.fixture
def corpus(settings):
    TRUTH[str(settings.data_dir)] = make_synthetic_corpus(settings)
    return settings


@pytest.fixture
def ws(corpus):
    app = open_services(corpus, policy=POLICY)
    app.labelling.create_label(ADA, LABEL, description="well lit")
    yield app
    app.close()


def _shots(settings, value: bool, n: int) -> list[str]:
    truth = TRUTH[str(settings.data_dir)]
    return [s for s, v in sorted(truth.items()) if v is value][:n]


def _label_enough(ws: Services) -> None:
    items = [(s, True) for s in _shots(ws.settings, True, 12)] + [
        (s, False) for s in _shots(ws.settings, False, 12)
    ]
    ws.labelling.record(ANN, LABEL, items, source="search")


def test_a_label_click_leaves_one_annotation_and_exactly_one_event(ws):
    before = reads.events(ws)
    shot = _shots(ws.settings, True, 1)[0]
    [stored] = ws.labelling.record(ANN, LABEL, [(shot, True)], source="random")
    new = reads.events(ws)[len(before) :]
    assert [(e.kind, e.actor) for e in new] == [("annotate", "ann")]
    assert new[0].payload == {
        "label": LABEL,
        "source": "random",
        "count": 1,
        "shot_id": shot,
        "value": True,
    }
    assert [(a.shot_id, a.value, a.annotator) for a in ws.uow().labels.history(LABEL)] == [
        (stored.shot_id, True, "ann")
    ]


def test_a_build_leaves_exactly_one_event(ws):
    _label_enough(ws)
    before = len(reads.events(ws))
    outcome = ws.modelling.build(ANN, LABEL)
    new = reads.events(ws)[before:]
    assert [(e.kind, e.actor, e.payload) for e in new] == [
        ("build", "ann", {"label": LABEL, "version": outcome.version.version})
    ]


def test_the_annotation_and_its_event_commit_together_or_not_at_all(ws, monkeypatch):
    def broken_log(*_args, **_kwargs):
        raise StoreError("the event log is unavailable")

    monkeypatch.setattr(ws.corpus.catalog, "log_event", broken_log)
    with pytest.raises(StoreError):
        ws.labelling.record(ANN, LABEL, [(_shots(ws.settings, True, 1)[0], True)], source="search")
    monkeypatch.undo()
    assert ws.uow().labels.history(LABEL) == []
    assert [e.kind for e in reads.events(ws)] == ["label_created"]


def test_each_action_is_checked_against_the_role_table(ws):
    shot = _shots(ws.settings, True, 1)[0]
    with pytest.raises(AccessDeniedError, match="viewers cannot annotate"):
        ws.labelling.record(VIC, LABEL, [(shot, True)], source="search")
    with pytest.raises(AccessDeniedError, match="change other people's annotations"):
        ws.labelling.record(ANN, LABEL, [(shot, True)], source="search", annotator="bo")
    with pytest.raises(AccessDeniedError, match="viewers cannot edit labels"):
        ws.labelling.edit_label(VIC, LABEL, hints="sun")
    with pytest.raises(AccessDeniedError, match="annotators cannot delete labels"):
        ws.labelling.delete_label(ANN, LABEL)
    with pytest.raises(AccessDeniedError, match="viewers cannot build"):
        ws.modelling.build(VIC, LABEL)
    assert ws.uow().labels.history(LABEL) == []
    assert [e.kind for e in reads.events(ws)] == ["label_created"]


def test_an_annotator_edits_a_labels_guidelines_and_hints_and_the_log_says_so(ws):
    label = ws.labelling.edit_label(
        ANN, LABEL, description="  lit by the sun or lamps ", hints="noon, lamp"
    )
    assert (label.description, label.hints) == ("lit by the sun or lamps", "noon, lamp")
    assert reads.label(ws, LABEL).hints == "noon, lamp"
    edited = reads.events(ws, "label_edited")
    assert [(e.actor, e.payload) for e in edited] == [
        ("ann", {"label": LABEL, "changed": ["description", "hints"]})
    ]


def test_an_import_naming_other_annotators_needs_an_admin(ws, tmp_path):
    path = tmp_path / "ann.csv"
    shot = _shots(ws.settings, True, 1)[0]
    path.write_text(f"label,shot_id,value,annotator\n{LABEL},{shot},1,ann\n{LABEL},{shot},0,bo\n")
    with pytest.raises(AccessDeniedError, match=r"\(bo's\)"):
        ws.labelling.import_file(ANN, path)
    assert ws.uow().labels.history(LABEL) == []
    assert ws.labelling.import_file(ADA, path) == 2
    assert [e.kind for e in reads.events(ws)][-1] == "annotations_imported"


def test_concurrent_builds_get_two_numbers_and_each_keeps_its_own_feeds(corpus):
    setup = open_services(corpus)
    setup.labelling.create_label(TESTER, LABEL)
    _label_enough(setup)
    setup.close()
    workspaces = [open_services(corpus) for _ in range(2)]
    for w in workspaces:
        _ = w.view.matrix  # loaded before the race, so both builds start together
    start = threading.Barrier(2)
    outcomes, errors = [], []

    def build(w: Services) -> None:
        start.wait()
        try:
            outcomes.append(w.modelling.build(TESTER, LABEL, n=10))
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(w,)) for w in workspaces]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(o.version.version for o in outcomes) == [1, 2]
    fresh = open_services(corpus)  # another process: recomputes every version's feeds
    for outcome in outcomes:
        again = feed_reads.feeds_for(fresh, LABEL, version=outcome.version.version, n=10)
        assert again.feeds == outcome.feeds, f"version {outcome.version.version}"
    for w in [*workspaces, fresh]:
        w.close()


def test_the_app_is_handed_the_builds_own_feeds_without_scoring_again(ws, corpus):
    _label_enough(ws)
    outcome = ws.modelling.build(ANN, LABEL, n=8)
    shown = feed_reads.feeds_for(ws, LABEL, n=8)
    assert shown.probabilities is outcome.result.probabilities  # not a second scoring
    assert shown.feeds == outcome.feeds and shown.version == outcome.version
    other = open_services(corpus)
    assert feed_reads.feeds_for(other, LABEL, n=8).feeds == outcome.feeds  # from disk
    other.close()


def test_a_restarted_server_shows_the_builds_feeds_without_a_pass_over_the_matrix(
    ws, corpus, monkeypatch
):
    """The latest build's feeds and scores are kept on disk: a new process shows them without
    scoring every shot (at 10M shots that pass first reads 10 GB back from disk); a damaged
    file, another feed size or a newer build is scored again, to the same feeds."""
    import numpy as np

    _label_enough(ws)
    outcome = ws.modelling.build(ANN, LABEL, n=8)
    restarted = open_services(corpus)
    with monkeypatch.context() as m:
        m.setattr(feed_reads, "score_matrix", _must_not_score)
        m.setattr(dashboard, "corpus_probabilities", _must_not_score)
        shown = feed_reads.feeds_for(restarted, LABEL, n=8)
        histogram = dashboard.score_distribution(restarted, LABEL)  # the Dashboard's, too
    assert shown.feeds == outcome.feeds and shown.version == outcome.version
    np.testing.assert_array_equal(histogram["probability"], outcome.result.probabilities)
    np.testing.assert_array_equal(shown.probabilities, outcome.result.probabilities)
    assert feed_reads.feeds_for(restarted, LABEL, n=6).feeds != outcome.feeds  # scored again
    for cached in (corpus.data_dir / "cache" / "builds").glob("*.npz"):
        cached.write_bytes(b"not a build")
    again = open_services(corpus)
    assert feed_reads.feeds_for(again, LABEL, n=8).feeds == outcome.feeds  # scored again
    for w in (restarted, again):
        w.close()


def _must_not_score(*args, **kwargs):
    raise AssertionError("the corpus was scored again")


def _point_the_cli_at(settings, monkeypatch) -> None:
    monkeypatch.setenv("VA_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("VA_DATABASE_URL", settings.database_url)


def test_cli_model_export_and_score_are_checked_and_logged(
    ws, corpus, tmp_path, monkeypatch, capsys
):
    _label_enough(ws)
    ws.modelling.build(TESTER, LABEL)
    _point_the_cli_at(corpus, monkeypatch)
    monkeypatch.setenv("VA_ADMINS", "someone-else")  # the OS user is then a viewer
    model = tmp_path / "bright.vamodel.json"
    assert main(["model", "export", "--label", LABEL, "--out", str(model)]) == 0
    assert main(["score", "--model", str(model), "--out", str(tmp_path / "s.csv")]) == 0
    assert main(["build", "--label", LABEL]) == 1
    assert "viewers cannot build models" in capsys.readouterr().err
    me = getpass.getuser()
    assert [(e.kind, e.actor) for e in reads.events(ws)][-2:] == [
        ("model_exported", me),
        ("scored", me),
    ]


def test_cli_corpus_jobs_need_their_role_and_leave_one_event_each(
    corpus, tmp_path, monkeypatch, capsys
):
    _point_the_cli_at(corpus, monkeypatch)
    monkeypatch.setenv("VA_ADMINS", "someone-else")  # the OS user is then a viewer
    assert main(["reindex"]) == 1
    assert main(["backup", str(tmp_path / "b1")]) == 1
    err = capsys.readouterr().err
    assert "viewers cannot ingest videos" in err and "viewers cannot back up" in err
    monkeypatch.delenv("VA_ADMINS")  # local mode: the OS user is an admin
    assert main(["reindex"]) == 0
    assert main(["backup", str(tmp_path / "b2")]) == 0
    ws = open_services(corpus)
    me = getpass.getuser()
    assert [(e.kind, e.actor) for e in reads.events(ws)] == [("reindexed", me), ("backed_up", me)]
    assert reads.events(ws, "reindexed")[0].payload == {"shots": 300}
    ws.close()
