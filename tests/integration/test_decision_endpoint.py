"""The card grid's decision endpoint (``POST /va/decisions``) over HTTP, on a real store.

The route is served by Starlette as in the app (``st.App(routes=...)``); the requests are
real HTTP through Starlette's test client. Who writes is the session's ticket, never the
request: a viewer's ticket writes nothing, an unknown ticket writes nothing, a batch sent
twice is written once.
"""

from __future__ import annotations

import pytest

from tests.conftest import open_services
from tests.corpusfactory import make_synthetic_corpus
from va_app.services.access import AccessPolicy, Role, RoleAssignments, User
from va_app.services.bootstrap import Services
from va_app.services.decisions import RecentDecisions
from va_app.ui.grid import endpoint

starlette = pytest.importorskip("starlette")
from starlette.applications import Starlette  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

pytestmark = pytest.mark.both_backends
LABEL = "bright"
POLICY = AccessPolicy(RoleAssignments(annotators=frozenset({"ann"})))


@pytest.fixture
def ws(settings):
    make_synthetic_corpus(settings, videos=2, shots_per_video=6)
    workspace = open_services(settings, policy=POLICY)
    workspace.labelling.create_label(User("root", role=Role.ADMIN), LABEL)
    yield workspace
    workspace.close()


@pytest.fixture
def client():
    with TestClient(Starlette(routes=endpoint.routes())) as http:
        yield http


def _ticket(ws: Services, user: User) -> str:
    return endpoint.register(
        None,
        endpoint.Ticket(
            app=ws,
            user=user,
            label=LABEL,
            source="search",
            recent=RecentDecisions(),
            titles={},
            need=(10, 10),
        ),
    )


def _batch(ws: Services, values: list[bool], first_seq: int = 1) -> list[dict]:
    shots = [s.id for s in ws.corpus.shots()][: len(values)]
    return [
        {
            "seq": first_seq + i,
            "shot_id": s,
            "value": v,
            "before": None,
            "group": first_seq + i,
            "undo_of": None,
        }
        for i, (s, v) in enumerate(zip(shots, values, strict=True))
    ]


def test_an_annotators_batch_is_written_once_and_confirmed_with_counts(ws, client):
    token = _ticket(ws, User("ann", role=Role.ANNOTATOR))
    items = _batch(ws, [True, True, False])
    answer = client.post(endpoint.PATH, json={"ticket": token, "label": LABEL, "items": items})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body["applied"]) == {1, 2, 3}
    assert body["counts"] == {
        "positives": 2,
        "negatives": 1,
        "ties": 0,
        "need_positives": 10,
        "need_negatives": 10,
    }
    assert [e["shot_id"] for e in body["recent"]] == [i["shot_id"] for i in items]
    again = client.post(endpoint.PATH, json={"ticket": token, "label": LABEL, "items": items})
    assert again.status_code == 200 and set(again.json()["applied"]) >= {1, 2, 3}
    history = ws.uow().labels.history(LABEL)
    assert len(history) == 3  # the resent batch wrote nothing more
    assert {(a.annotator, a.source) for a in history} == {("ann", "search")}


def test_a_viewers_ticket_writes_nothing(ws, client):
    token = _ticket(ws, User("vic", role=Role.VIEWER))
    answer = client.post(
        endpoint.PATH, json={"ticket": token, "label": LABEL, "items": _batch(ws, [True])}
    )
    assert answer.status_code == 403
    assert answer.json()["rejected"] == [1] and "annotator" in answer.json()["error"]
    assert ws.uow().labels.history(LABEL) == []


@pytest.mark.parametrize("body", [{"ticket": "made-up", "items": []}, {"items": []}, [1, 2]])
def test_a_request_without_a_known_ticket_writes_nothing(ws, client, body):
    answer = client.post(endpoint.PATH, json=body)
    assert answer.status_code == 410 and "reload" in answer.json()["error"]
    assert ws.uow().labels.history(LABEL) == []


def test_malformed_batches_are_refused_with_a_reason(ws, client):
    token = _ticket(ws, User("ann", role=Role.ANNOTATOR))
    bad = client.post(endpoint.PATH, json={"ticket": token, "items": [{"seq": "x"}]})
    assert bad.status_code == 403 and "seq" in bad.json()["error"]
    not_json = client.post(
        endpoint.PATH, content=b"{", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert ws.uow().labels.history(LABEL) == []
