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
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from va_app.errors import DiskFullError, NotFoundError, StoreError, VAError, ValidationError
from va_app.services import reads
from va_app.services.access import AccessDeniedError, User
from va_app.services.bootstrap import Services
from va_app.services.decisions import RecentDecisions, TooManyDecisionsError, parse_decisions

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
        if old is None or token is None:
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


class LabelMismatchError(ValidationError):
    """A batch names another label than its ticket's (the page switched labels since)."""


@dataclass(frozen=True)
class Answer:
    """An HTTP status and the JSON the grid settles with."""

    status: int
    body: dict


#: What a refused batch is answered with: the grid drops rejected decisions (showing why) and
#: keeps the others unsaved, sending them again (``retry``).
_STATUS_OF = (
    (TooManyDecisionsError, 413, False),
    (LabelMismatchError, 409, True),  # kept: sent again when its label is shown
    (AccessDeniedError, 403, False),
    (DiskFullError, 507, True),  # Insufficient Storage: kept unsaved, sent again later
    (StoreError, 503, True),  # the database is unavailable for now
    (ValidationError, 422, False),
    (NotFoundError, 422, False),
)


def apply_decisions(ticket: Ticket, payload: object) -> dict:
    """Write a batch of the grid's decisions once each; the answer the grid settles with:
    ``applied`` (decision numbers written, also earlier), ``confirmed`` (their ids),
    ``rejected`` with ``error``, and the label's ``counts`` and ``recent`` list after the write.
    """
    return handle_decisions(ticket, payload).body


def handle_decisions(ticket: Ticket, payload: object) -> Answer:
    """:func:`apply_decisions` with the HTTP status the endpoint answers with."""
    with ticket.lock:
        try:
            decisions = parse_decisions(payload)
            _require_label(ticket, payload)
            fresh = ticket.recent.fresh(decisions)
            ticket.app.labelling.record(
                ticket.user,
                ticket.label,
                [(d.shot_id, d.value) for d in fresh],
                source=ticket.source,
                decision_ids=[d.id for d in fresh],  # stored already: skipped
            )
            ticket.recent.record(ticket.label, fresh, titles=ticket.titles)
            confirmed = [d.id for d in decisions if d.id is not None]
            return Answer(200, {**state_of(ticket), "confirmed": confirmed})
        except VAError as exc:
            return _refusal(ticket, payload, exc)


def _require_label(ticket: Ticket, payload: object) -> None:
    """A batch names the label its grid showed: after a label switch in another rerun, its
    decisions must not land on the ticket's new label."""
    named = payload.get("label") if isinstance(payload, Mapping) else None
    if named is not None and label_identity(named) != label_identity(ticket.label):
        raise LabelMismatchError(
            f"these decisions are for label {str(named)[:80]!r}, but this page now labels "
            f"{ticket.label!r}: nothing saved; they are sent again when {str(named)[:80]!r} "
            "is shown"
        )


def label_identity(name: object) -> str:
    """A label name as the catalog identifies it (NFC, spacing collapsed, case-folded, NFC
    again: folding can decompose a letter)."""
    folded = " ".join(unicodedata.normalize("NFC", str(name)).split()).casefold()
    return unicodedata.normalize("NFC", folded)


def _refusal(ticket: Ticket, payload: object, exc: VAError) -> Answer:
    status, retry = next(
        ((s, r) for kind, s, r in _STATUS_OF if isinstance(exc, kind)), (422, False)
    )
    items = payload.get("items", []) if isinstance(payload, Mapping) else []
    seqs = (
        [i.get("seq") for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []
    )
    body = {**_state_or_empty(ticket), "applied": [], "error": str(exc), "retry": retry}
    body["rejected"] = [] if retry else seqs
    return Answer(status, body)


def _state_or_empty(ticket: Ticket) -> dict:
    """The grid's state, or nothing when the store cannot even be read (a full disk may)."""
    try:
        return state_of(ticket)
    except VAError:
        return {}


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
    """``POST /va/decisions``: a JSON batch of a grid's decisions, written once each.

    Refused before anything is read or written: a body over :data:`MAX_BODY_BYTES` (by its
    Content-Length, and by counting while it streams in), another content type, a body that is
    not a JSON object, an unknown or expired ticket. Then :func:`handle_decisions` decides.
    """
    from starlette.concurrency import run_in_threadpool

    refused = _refuse_early(request)
    if refused is not None:
        return _json(refused)
    body = await _read_capped(request)
    if body is None:
        return _json(_too_large())
    try:
        payload = json.loads(body)
    except ValueError:
        return _json(Answer(400, {"error": "the body must be JSON"}))
    if not isinstance(payload, dict):
        return _json(Answer(400, {"error": "the body must be a JSON object"}))
    ticket = lookup(payload.get("ticket"))
    if ticket is None:
        return _json(
            Answer(410, {"error": "unknown or expired ticket: reload the page", "retry": True})
        )
    return _json(await run_in_threadpool(handle_decisions, ticket, payload))


def _refuse_early(request) -> Answer | None:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        return Answer(
            415, {"error": f"send decisions as application/json, not {kind or 'nothing'}"}
        )
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        return _too_large()
    return None


async def _read_capped(request) -> bytes | None:
    """The body, or None as soon as more than :data:`MAX_BODY_BYTES` came (read no further)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


def _too_large() -> Answer:
    return Answer(
        413, {"error": f"a request may hold at most {MAX_BODY_BYTES // 1024} KiB of decisions"}
    )


def _json(answer: Answer):
    from starlette.responses import JSONResponse

    return JSONResponse(
        answer.body, status_code=answer.status, headers={"Cache-Control": "no-store"}
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
