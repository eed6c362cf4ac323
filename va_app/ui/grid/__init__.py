"""The keyboard card grid: every page's cards as one custom component (components v2).

The browser keeps the grid's state (focus, selection, what each card shows) and paints a
decision at once. The grid posts its decisions to the server's decision endpoint
(:mod:`va_app.ui.grid.endpoint`): written through the one write path
(:meth:`va_app.services.labelling.Labelling.record`, where the access policy is checked, so a
decision forged in a viewer's browser writes nothing) and confirmed in one round trip, no
rerun; the component's trigger event (a rerun of the grid's fragment only) is the fallback.
Until the server confirms a decision, the browser keeps it in ``localStorage`` (per corpus,
label and annotator: :func:`unsaved_key`) and sends it again — after a reload or a server
restart too; each decision's id makes the store write it once. Cards show a thumbnail and a
hover-scrubbed filmstrip, fetched from the endpoint's media route; a live player exists only
for the card being played (Chromium refuses more than ~75 media players on one page).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

import streamlit as st

from va_app.domain import Shot
from va_app.errors import VAError
from va_app.services import reads
from va_app.services.bootstrap import Services
from va_app.services.decisions import RecentDecisions
from va_app.ui import resources, state
from va_app.ui.grid import endpoint
from va_app.ui.text import clock

_ASSETS = Path(__file__).parent
COMPONENT_NAME = "va_card_grid"
_RENDER = st.components.v2.component(
    COMPONENT_NAME, css=(_ASSETS / "grid.css").read_text(), js=(_ASSETS / "grid.js").read_text()
)
RECENT = "_grid_recent"  # session state: RecentDecisions of this browser session
OUTCOME = "_grid_outcome"  # session state: grid key -> {"rejected": [...], "error": str}
PLAYING = "_grid_playing"  # session state: grid key -> shot id whose player is live
TICKETS = "_grid_tickets"  # session state: grid key -> the endpoint's ticket token


def recent_decisions() -> RecentDecisions:
    return st.session_state.setdefault(RECENT, RecentDecisions())


def grid_key(view_key: str) -> str:
    return f"grid-{view_key}"


def card_grid(
    shots: Sequence[Shot],
    ctx,
    *,
    scores: dict[str, float] | None = None,
    need: tuple[int, int] | None = None,
) -> None:
    """Mount the grid for ``shots`` (``ctx`` is a :class:`va_app.ui.cards.CardContext`).

    ``need``: the positives and negatives a build needs; the grid counts down to them.
    """
    _grid_fragment(list(shots), ctx, dict(scores or {}), need)


@st.fragment
def _grid_fragment(
    shots: list[Shot], ctx, scores: dict[str, float], need: tuple[int, int] | None
) -> None:
    # Its own fragment: a decision reruns the grid alone, not the page's other parts. The
    # counts live in the grid (adjusted client-side at once), the votes are read anew.
    app = resources.services()
    ctx = replace(ctx, votes=reads.votes(app, ctx.label))
    key = grid_key(ctx.key)
    outcome = st.session_state.get(OUTCOME, {}).pop(key, {})
    by_id = {s.id: s for s in shots}
    playing = st.session_state.get(PLAYING, {}).get(key)
    token, ticket = _ticket(ctx, key, by_id, need)
    data = {
        **endpoint.state_of(ticket),
        "key": key,
        "label": ctx.label,
        "read_only": ctx.read_only,
        "notice": "Your role cannot annotate; ask an admin for the annotator role.",
        "show_similar": ctx.show_similar,
        "cards": [_card(s, ctx, scores.get(s.id), token) for s in shots],
        "rejected": outcome.get("rejected", []),
        "error": outcome.get("error"),
        "clip": _clip(by_id[playing], token, key) if playing in by_id else None,
        "endpoint": endpoint.PATH.lstrip("/"),
        "ticket": token,
        "unsaved_key": unsaved_key(app, ctx.label, ctx.annotator),
    }
    if ctx.read_only:
        data["recent"] = []
    _RENDER(
        key=key,
        data=data,
        height="content",
        on_decisions_change=partial(_on_decisions, key),
        on_play_change=partial(_on_play, key),
        on_similar_change=partial(_on_similar, key),
    )


def unsaved_key(app: Services, label: str, annotator: str) -> str:
    """Where the browser keeps this grid's unconfirmed decisions: one list per corpus (its
    catalog), label and annotator, shared by the page's grids and the browser's tabs."""
    corpus = hashlib.sha256(app.settings.sql_url.encode()).hexdigest()[:16]
    return f"va-unsaved:{corpus}:{endpoint.label_identity(label)}:{annotator}"


def _ticket(
    ctx, key: str, shots: dict[str, Shot], need: tuple[int, int] | None
) -> tuple[str, endpoint.Ticket]:
    """This session's ticket for the grid ``key`` (token and ticket), refreshed with what this
    render knows."""
    ticket = endpoint.Ticket(
        app=resources.services(),
        user=state.current_user(),
        label=ctx.label,
        source=ctx.source,
        recent=recent_decisions(),
        titles={i: s.title or s.video_key for i, s in shots.items()},
        need=need,
    )
    tokens = st.session_state.setdefault(TICKETS, {})
    tokens[key] = endpoint.register(tokens.get(key), ticket)
    return tokens[key], ticket


def _card(shot: Shot, ctx, score: float | None, token: str) -> dict:
    votes = ctx.votes.get(shot.id, {})
    others = [v for a, v in votes.items() if a != ctx.annotator]
    playable = bool(shot.video_path) and Path(shot.video_path).is_file()
    return {
        "id": shot.id,
        "title": shot.title or shot.video_key,
        "when": f"{clock(shot.start_s)}–{clock(shot.end_s)}",
        "score": score,
        "mine": votes.get(ctx.annotator),
        "others": f"{sum(others)}+ / {len(others) - sum(others)}−" if others else "",
        "thumb": _file_url(token, endpoint.THUMB, shot, shot.thumb_path),
        "strip": _file_url(token, endpoint.STRIP, shot, shot.filmstrip_path),
        "playable": playable,
        "link": "" if playable else shot.source_url,
    }


def _file_url(token: str, kind: str, shot: Shot, path: str) -> str:
    """The endpoint's URL of a shot's picture, or "" when the shot has none on disk."""
    return endpoint.media_url(token, kind, shot.id) if path and Path(path).is_file() else ""


def _clip(shot: Shot, token: str, key: str) -> dict | None:
    """The live player's source: the shot's own clip (exactly its frames, first to last,
    cut here on first play), so the player starts at 0 and a loop never shows a neighbour."""
    try:
        reads.shot_clip(resources.services(), shot.id)
    except VAError as exc:
        st.session_state.setdefault(OUTCOME, {})[key] = {"error": str(exc)}
        return None
    return {
        "shot_id": shot.id,
        "url": endpoint.media_url(token, endpoint.CLIP, shot.id),
        "start": 0.0,
        "end": max(shot.end_s - shot.start_s, 0.0),
        "fps": shot.fps,
    }


def _on_decisions(key: str) -> None:
    """The fallback transport: the batch came as a trigger event with this rerun."""
    ticket = endpoint.lookup(st.session_state.get(TICKETS, {}).get(key))
    if ticket is None:  # not rendered in this session yet: nothing to write for
        return
    answer = endpoint.apply_decisions(ticket, _event(key, "decisions"))
    st.session_state.setdefault(OUTCOME, {})[key] = answer


def _on_play(key: str) -> None:
    shot_id = _event(key, "play")
    if isinstance(shot_id, str):
        st.session_state.setdefault(PLAYING, {})[key] = shot_id


def _on_similar(key: str) -> None:
    shot_id = _event(key, "similar")
    if isinstance(shot_id, str):
        state.show_similar(shot_id)


def _event(key: str, name: str):
    get = getattr(st.session_state.get(key), "get", None)
    return get(name) if callable(get) else None
