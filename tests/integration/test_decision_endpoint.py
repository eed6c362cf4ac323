"""The card grid's decision endpoint (``POST /va/decisions``) over real HTTP, on a real store.

The route runs in uvicorn and Starlette, as ``streamlit run`` serves it (``st.App(routes=...)``);
the requests are raw HTTP over a socket, so a body can be withheld, lie about its length or
stream on. Who writes is the session's ticket, never the request: a viewer's ticket writes
nothing, an unknown or expired ticket writes nothing, a batch sent twice — even by another
session, after a reload or a restart — is written once (its decisions' ids).

The hostile requests are one table (:data:`HOSTILE`): each gets its own status and a message,
and writes nothing.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import open_services
from tests.corpusfactory import make_synthetic_corpus
from tests.servers import free_port
from va_app.services.access import AccessPolicy, Role, RoleAssignments, User
from va_app.services.bootstrap import Services
from va_app.services.decisions import MAX_BATCH, RecentDecisions
from va_app.ui.grid import endpoint

uvicorn = pytest.importorskip("uvicorn")
from starlette.applications import Starlette  # noqa: E402

pytestmark = pytest.mark.both_backends
LABEL, OTHER_LABEL = "bright", "dark"
POLICY = AccessPolicy(RoleAssignments(annotators=frozenset({"ann"})))
ANNOTATOR = User("ann", role=Role.ANNOTATOR)


@pytest.fixture
def ws(settings):
    make_synthetic_corpus(settings, videos=2, shots_per_video=6)
    workspace = open_services(settings, policy=POLICY)
    admin = User("root", role=Role.ADMIN)
    workspace.labelling.create_label(admin, LABEL)
    workspace.labelling.create_label(admin, OTHER_LABEL)
    yield workspace
    workspace.close()


@dataclass(frozen=True)
class Server:
    host: str
    port: int

    def post(self, body: bytes | dict, *, headers: dict | None = None) -> tuple[int, dict]:
        """One POST; ``(status, JSON answer)``."""
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(
                "POST",
                endpoint.PATH,
                body=raw,
                headers={"Content-Type": "application/json", **(headers or {})},
            )
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            conn.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """The endpoint in a real uvicorn server (the one ``streamlit run`` uses) on a free port."""
    config = uvicorn.Config(
        Starlette(routes=endpoint.routes()),
        host="127.0.0.1",
        port=free_port(),
        log_level="warning",
        lifespan="off",
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running.started, "uvicorn did not start"
    yield Server(config.host, config.port)
    running.should_exit = True
    thread.join(timeout=30)


def _ticket(ws: Services, user: User = ANNOTATOR) -> str:
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


def _items(ws: Services, values: list[bool], first_seq: int = 1) -> list[dict]:
    shots = [s.id for s in ws.corpus.shots()][: len(values)]
    return [
        {
            "seq": first_seq + i,
            "id": uuid.uuid4().hex,
            "shot_id": s,
            "value": v,
            "before": None,
            "group": first_seq + i,
            "undo_of": None,
        }
        for i, (s, v) in enumerate(zip(shots, values, strict=True))
    ]


def _batch(ws: Services, token: str, values: list[bool]) -> dict:
    return {"ticket": token, "label": LABEL, "items": _items(ws, values)}


def _written(ws: Services) -> int:
    return ws.uow().labels.count_annotations()


def test_an_annotators_batch_is_written_once_and_confirmed_with_counts(ws, server):
    token = _ticket(ws)
    batch = _batch(ws, token, [True, True, False])
    status, body = server.post(batch)
    assert status == 200, body
    assert set(body["applied"]) == {1, 2, 3}
    assert body["confirmed"] == [i["id"] for i in batch["items"]]
    assert body["counts"] == {
        "positives": 2,
        "negatives": 1,
        "ties": 0,
        "need_positives": 10,
        "need_negatives": 10,
    }
    assert [e["shot_id"] for e in body["recent"]] == [i["shot_id"] for i in batch["items"]]
    status, again = server.post(batch)
    assert status == 200 and set(again["applied"]) >= {1, 2, 3}
    history = ws.uow().labels.history(LABEL)
    assert len(history) == 3  # the resent batch wrote nothing more
    assert {(a.annotator, a.source) for a in history} == {("ann", "search")}


def test_a_batch_resent_by_a_new_session_is_written_once(ws, server):
    """A reload or a server restart: the browser re-sends its unconfirmed decisions under a
    new ticket, with new decision numbers and the same ids — they are confirmed, not doubled."""
    batch = _batch(ws, _ticket(ws), [True, False])
    assert server.post(batch)[0] == 200
    resent = {
        **batch,
        "ticket": _ticket(ws),
        "items": [{**item, "seq": item["seq"] + 1000} for item in batch["items"]],
    }
    status, body = server.post(resent)
    assert status == 200
    assert body["confirmed"] == [i["id"] for i in batch["items"]]
    assert _written(ws) == 2


def test_two_sessions_racing_with_the_same_batch_write_it_once(ws, server):
    batch = _batch(ws, _ticket(ws), [True, False, True, True])
    tokens = [_ticket(ws) for _ in range(4)]
    answers: list[int] = []
    threads = [
        threading.Thread(target=lambda t=t: answers.append(server.post({**batch, "ticket": t})[0]))
        for t in tokens
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers == [200] * 4
    assert _written(ws) == 4


# -- hostile requests: one table -----------------------------------------------------------------
@dataclass(frozen=True)
class Hostile:
    """A request (made by ``send(server, ws)``), the status it must get and words its message
    must hold."""

    id: str
    send: Callable[[Server, Services], tuple[int, dict]]
    status: int
    says: str


def _expired(server: Server, ws: Services) -> tuple[int, dict]:
    token = _ticket(ws)
    endpoint.lookup(token).used -= endpoint.TICKET_TTL_S + 1  # a session idle for too long
    return server.post(_batch(ws, token, [True]))


def _replayed_after_expiry(server: Server, ws: Services) -> tuple[int, dict]:
    """A batch captured from a session and replayed after that session expired."""
    token = _ticket(ws)
    batch = _batch(ws, token, [True])
    endpoint.lookup(token).used -= endpoint.TICKET_TTL_S + 1
    replay = {**batch, "items": [{**i, "id": uuid.uuid4().hex} for i in batch["items"]]}
    return server.post(replay)


def _with_items(make_items: Callable[[Services], list], **extra) -> Callable:
    def send(server: Server, ws: Services) -> tuple[int, dict]:
        return server.post(
            {"ticket": _ticket(ws), "label": LABEL, "items": make_items(ws), **extra}
        )

    return send


def _item(ws: Services, **change) -> list[dict]:
    return [{**_items(ws, [True])[0], **change}]


def _declared_huge(server: Server, ws: Services) -> tuple[int, dict]:
    """Headers announcing 400 MB, and no body at all: refused without waiting for it."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.putrequest("POST", endpoint.PATH)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(400 << 20))
        conn.endheaders()
        response = conn.getresponse()  # would time out if the server waited for the body
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _streamed_endlessly(server: Server, ws: Services) -> tuple[int, dict]:
    """A chunked body that never ends: the server stops reading past its cap and answers.
    At most the cap plus what the sockets' buffers hold may have been sent by then."""
    sent = 0
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(
            f"POST {endpoint.PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"%x\r\n%s\r\n" % (1 << 16, b" " * (1 << 16))
        sock.settimeout(0.5)
        reply = b""
        while sent < 400 << 20 and not reply:
            try:
                sock.sendall(chunk)
                sent += 1 << 16
                sock.setblocking(False)
                try:
                    reply = sock.recv(65536)
                except BlockingIOError:
                    pass
                sock.settimeout(0.5)
            except (TimeoutError, BrokenPipeError, ConnectionResetError):
                break
        sock.settimeout(10)
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            more = sock.recv(65536)
            if not more:
                break
            reply += more
    assert sent < 64 << 20, f"{sent >> 20} MiB were sent before the refusal"
    head, _, body = reply.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    text = body.decode(errors="replace")
    if "transfer-encoding: chunked" in head.decode().lower():
        text = text.split("\r\n", 1)[1].rsplit("\r\n0", 1)[0]
    return status, json.loads(text[text.index("{") : text.rindex("}") + 1])


HOSTILE = [
    Hostile("declared-400MB", _declared_huge, 413, "at most"),
    Hostile("chunked-body-that-never-ends", _streamed_endlessly, 413, "at most"),
    Hostile(
        "text/plain",
        lambda s, ws: s.post(b"{}", headers={"Content-Type": "text/plain"}),
        415,
        "application/json",
    ),
    Hostile(
        "form-post",
        lambda s, ws: s.post(
            b"ticket=x", headers={"Content-Type": "application/x-www-form-urlencoded"}
        ),
        415,
        "application/json",
    ),
    Hostile("not-json", lambda s, ws: s.post(b"{"), 400, "JSON"),
    Hostile("json-array", lambda s, ws: s.post(b"[1, 2]"), 400, "JSON object"),
    Hostile("no-ticket", lambda s, ws: s.post({"items": []}), 410, "reload"),
    Hostile(
        "made-up-ticket", lambda s, ws: s.post({"ticket": "made-up", "items": []}), 410, "reload"
    ),
    Hostile("expired-session", _expired, 410, "reload"),
    Hostile("replayed-after-the-session-expired", _replayed_after_expiry, 410, "reload"),
    Hostile(
        "thousands-of-items",
        _with_items(lambda ws: _items(ws, [True]) * 3000),
        413,
        f"at most {MAX_BATCH}",
    ),
    Hostile(
        "another-label",
        _with_items(lambda ws: _items(ws, [True]), label=OTHER_LABEL),
        409,
        "now labels",
    ),
    Hostile(
        "shots-of-another-corpus",
        _with_items(lambda ws: _item(ws, shot_id="another-corpus|0")),
        422,
        "unknown shot",
    ),
    Hostile("seq-not-a-number", _with_items(lambda ws: _item(ws, seq="x")), 422, "seq"),
    Hostile("value-not-a-bool", _with_items(lambda ws: _item(ws, value="yes")), 422, "true, false"),
    Hostile(
        "id-with-path-characters",
        _with_items(lambda ws: _item(ws, id="../../etc/passwd")),
        422,
        "decision id",
    ),
    Hostile(
        "one-id-twice-in-a-batch",
        _with_items(lambda ws: _item(ws, id="same") + _item(ws, id="same", seq=99)),
        422,
        "twice",
    ),
    Hostile(
        "a-viewers-ticket",
        lambda s, ws: s.post(_batch(ws, _ticket(ws, User("vic", role=Role.VIEWER)), [True])),
        403,
        "annotator",
    ),
]


@pytest.mark.parametrize("case", HOSTILE, ids=[c.id for c in HOSTILE])
def test_a_hostile_request_gets_its_status_and_writes_nothing(ws, server, case: Hostile):
    before = _written(ws)
    status, body = case.send(server, ws)
    assert status == case.status, body
    assert case.says in body["error"], body["error"]
    assert _written(ws) == before


def test_the_table_covers_the_issue():
    ids = {c.id for c in HOSTILE}
    for wanted in (
        "declared-400MB",
        "chunked-body-that-never-ends",
        "text/plain",
        "thousands-of-items",
        "another-label",
        "shots-of-another-corpus",
        "replayed-after-the-session-expired",
    ):
        assert wanted in ids
