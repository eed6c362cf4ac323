"""The grid's decision endpoint: ``POST /va/decisions``, served by Streamlit's own server.

A decision sent as a component trigger is written only when Streamlit reruns the grid's
fragment, and a session's reruns queue behind each other — under load a decision waited for
the previous rerun. So the grid posts its decisions here instead (``app.py`` mounts
:data:`ROUTES` on ``st.App``) and gets the server's confirmation back in the same round trip,
no rerun at all; the trigger event stays the fallback (AppTest, an unknown ticket after a
server restart, a proxy that does not pass the route).

Who may write is decided by the session, not by the request: each grid render registers a
:class:`Ticket` (an unguessable token) holding that session's user, label, source and undo
list; a request names its ticket and nothing else about itself. The write goes through
:func:`apply_decisions` — the one path both transports share — hence through
:meth:`Workspace.record_decisions` and its access check: a viewer's ticket writes nothing.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from va_app.errors import VAError
from va_app.services.access import AccessPolicy, User
from va_app.services.decisions import RecentDecisions, parse_decisions
from va_app.services.workspace import Workspace

PATH = "/va/decisions"
#: How many decision numbers a confirmation lists: more than one round trip can hold.
CONFIRM_LAST = 200
#: A ticket unused this long is forgotten (its browser gets "reload", then uses the fallback).
TICKET_TTL_S = 12 * 3600
MAX_TICKETS = 20_000
MAX_BODY_BYTES = 1 << 20


@dataclass
class Ticket:
    """What a grid render knows about its session, for the requests of that grid."""

    ws: Workspace
    policy: AccessPolicy
    user: User
    label: str
    source: str
    recent: RecentDecisions
    titles: dict[str, str]
    need: tuple[int, int] | None = None
    used: float = field(default_factory=time.monotonic)
    #: One writer per session: the endpoint's thread and the script's fallback path.
    lock: threading.Lock = field(default_factory=threading.Lock)


_tickets: dict[str, Ticket] = {}
_tickets_lock = threading.Lock()


def register(token: str | None, ticket: Ticket) -> str:
    """Register (or refresh) a ticket; returns its token. A session keeps its token across
    renders, so requests in flight during a rerun stay valid."""
    now = time.monotonic()
    with _tickets_lock:
        old = _tickets.get(token) if token else None
        if old is not None:
            ticket.lock = old.lock
        else:
            token = secrets.token_urlsafe(24)
        if len(_tickets) >= MAX_TICKETS:
            for stale in [t for t, v in _tickets.items() if now - v.used > TICKET_TTL_S]:
                del _tickets[stale]
        _tickets[token] = ticket
    return token


def lookup(token: object) -> Ticket | None:
    if not isinstance(token, str):
        return None
    with _tickets_lock:
        ticket = _tickets.get(token)
        if ticket is None or time.monotonic() - ticket.used > TICKET_TTL_S:
            return None
        ticket.used = time.monotonic()
        return ticket


def apply_decisions(ticket: Ticket, payload: object) -> dict:
    """Write a batch of the grid's decisions once each; the answer the grid settles with:
    ``applied`` (decision numbers written, also earlier), ``rejected`` with ``error``, and the
    label's ``counts`` and ``recent`` list after the write."""
    with ticket.lock:
        try:
            decisions = ticket.recent.fresh(parse_decisions(payload))
            ticket.ws.record_decisions(
                ticket.label,
                decisions,
                user=ticket.user,
                policy=ticket.policy,
                source=ticket.source,
            )
            ticket.recent.record(ticket.label, decisions, titles=ticket.titles)
            return state_of(ticket)
        except VAError as exc:
            items = payload.get("items", []) if isinstance(payload, Mapping) else []
            return {
                **state_of(ticket),
                "applied": [],
                "error": str(exc),
                "rejected": [i.get("seq") for i in items if isinstance(i, Mapping)],
            }


def state_of(ticket: Ticket) -> dict:
    """What the grid settles with, from a render or an answer: the decision numbers written
    (the last :data:`CONFIRM_LAST`), the label's counts and this session's undo list."""
    return {
        "applied": ticket.recent.seen[-CONFIRM_LAST:],
        "counts": counts(ticket.ws, ticket.label, ticket.need),
        "recent": ticket.recent.for_label(ticket.label),
    }


def counts(ws: Workspace, label: str, need: tuple[int, int] | None) -> dict:
    """The label's positives, negatives and ties (majority of votes), as the grid shows them."""
    labelled = ws.labels.labelled_set(label)
    result = {
        "positives": len(labelled.positives),
        "negatives": len(labelled.negatives),
        "ties": len(labelled.ties),
    }
    if need:
        result["need_positives"], result["need_negatives"] = need
    return result


async def post_decisions(request):
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse

    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return JSONResponse({"error": "too many decisions in one request"}, status_code=413)
    try:
        payload = json.loads(body)
    except ValueError:
        return JSONResponse({"error": "the body must be JSON"}, status_code=400)
    ticket = lookup(payload.get("ticket") if isinstance(payload, dict) else None)
    if ticket is None:
        return JSONResponse(
            {"error": "unknown or expired ticket: reload the page"}, status_code=410
        )
    answer = await run_in_threadpool(apply_decisions, ticket, payload)
    return JSONResponse(
        answer,
        status_code=403 if answer.get("rejected") else 200,
        headers={"Cache-Control": "no-store"},
    )


def routes() -> list:
    """The endpoint's route, under ``server.baseUrlPath`` when one is set (as the page is)."""
    from starlette.routing import Route
    from streamlit import config

    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return [Route(f"/{base}{PATH}" if base else PATH, post_decisions, methods=["POST"])]
