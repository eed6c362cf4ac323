"""The grid's routes on Streamlit's own server: ``POST /va/decisions`` (the decision endpoint)
and ``GET /va/media`` (the cards' pictures and clips).

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
:meth:`va_app.services.labelling.Labelling.record` and its access check: a viewer's ticket
writes nothing.

The media route serves a shot's thumbnail, filmstrip or exact clip to a page holding a
ticket (``?t=TOKEN&kind=thumb|strip|clip&shot=ID``) — the files of that ticket's corpus only,
found by shot id, never by a path the request names.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from va_app.errors import VAError
from va_app.services import reads
from va_app.services.access import User
from va_app.services.bootstrap import Services
from va_app.services.decisions import RecentDecisions, parse_decisions

PATH = "/va/decisions"
MEDIA_PATH = "/va/media"
THUMB, STRIP, CLIP = "thumb", "strip", "clip"
#: A card's pictures never change for a shot; the browser may keep them this long.
MEDIA_MAX_AGE_S = 24 * 3600
#: How many decision numbers a confirmation lists: more than one round trip can hold.
CONFIRM_LAST = 200
#: A ticket unused this long is forgotten (its browser gets "reload", then uses the fallback).
TICKET_TTL_S = 12 * 3600
MAX_TICKETS = 20_000
MAX_BODY_BYTES = 1 << 20


@dataclass
class Ticket:
    """What a grid render knows about its session, for the requests of that grid."""

    app: Services
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
            ticket.app.labelling.record(
                ticket.user,
                ticket.label,
                [(d.shot_id, d.value) for d in decisions],
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
        "counts": counts(ticket.app, ticket.label, ticket.need),
        "recent": ticket.recent.for_label(ticket.label),
    }


def counts(app: Services, label: str, need: tuple[int, int] | None) -> dict:
    """The label's positives, negatives and ties (majority of votes), as the grid shows them."""
    now = reads.label_counts(app, label)
    result = {"positives": now.positives, "negatives": now.negatives, "ties": now.ties}
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


def media_url(token: str, kind: str, shot_id: str) -> str:
    """The URL (relative to the page) of a shot's ``kind`` file for a page holding ``token``."""
    return f"{MEDIA_PATH.lstrip('/')}?{urlencode({'t': token, 'kind': kind, 'shot': shot_id})}"


def media_file(ticket: Ticket, kind: str, shot_id: str) -> Path | None:
    """The file of ``kind`` for a shot of the ticket's corpus, or None (unknown shot or kind,
    no such file). A clip is cut here on its first request."""
    found = reads.shots(ticket.app, [shot_id])
    if not found:
        return None
    if kind == CLIP:
        return reads.shot_clip(ticket.app, shot_id)
    path = {THUMB: found[0].thumb_path, STRIP: found[0].filmstrip_path}.get(kind)
    return Path(path) if path and Path(path).is_file() else None


async def get_media(request):
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse, PlainTextResponse

    ticket = lookup(request.query_params.get("t"))
    if ticket is None:
        return PlainTextResponse("unknown or expired ticket: reload the page", status_code=410)
    kind, shot_id = request.query_params.get("kind", ""), request.query_params.get("shot", "")
    try:
        path = await run_in_threadpool(media_file, ticket, kind, shot_id)
    except VAError as exc:
        return PlainTextResponse(str(exc), status_code=404)
    if path is None:
        return PlainTextResponse(f"no {kind or 'file'} for shot {shot_id!r}", status_code=404)
    return FileResponse(
        path,
        media_type="video/mp4" if kind == CLIP else "image/jpeg",
        headers={"Cache-Control": f"private, max-age={MEDIA_MAX_AGE_S}"},
    )


def routes() -> list:
    """The grid's routes, under ``server.baseUrlPath`` when one is set (as the page is)."""
    from starlette.routing import Route
    from streamlit import config

    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    prefix = f"/{base}" if base else ""
    return [
        Route(prefix + PATH, post_decisions, methods=["POST"]),
        Route(prefix + MEDIA_PATH, get_media, methods=["GET"]),
    ]
