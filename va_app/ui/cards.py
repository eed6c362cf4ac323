"""The cards of every page — the keyboard grid, or one Streamlit button per decision — and the
label header above them.

A card shows a shot's filmstrip, its source and time, the model's score, the current
annotation, and the decisions. Both grids write through the one write path
(:meth:`va_app.services.labelling.Labelling.record`). The keyboard grid
(:mod:`va_app.ui.grid`) is the default; ``VA_CARD_GRID=buttons`` keeps one button per decision
for browsers or proxies where the grid's script cannot run, and as the browser bench's
reference (a rerun of the page per decision).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from va_app.domain import ModelVersion, Shot
from va_app.errors import VAError
from va_app.learn.classifier import more_labels
from va_app.services import reads
from va_app.services.access import Action
from va_app.ui import grid, resources, state
from va_app.ui.text import clock, inert

CARDS_PER_ROW = 4
FLASH = "_flash"


@dataclass(frozen=True)
class CardContext:
    """What every card of one view shares."""

    label: str
    annotator: str
    source: str
    key: str
    votes: dict[str, dict[str, bool]]  # shot id -> annotator -> value
    show_similar: bool = False
    read_only: bool = False


def card_context(label: str, *, source: str, key: str, show_similar: bool = False) -> CardContext:
    """Everything the cards of one view share; read-only for users who may not annotate."""
    return CardContext(
        label,
        state.annotator(),
        source,
        key,
        reads.votes(resources.services(), label),
        show_similar,
        read_only=not state.may(Action.ANNOTATE),
    )


def label_header(label: str) -> None:
    """``Label: X · Annotated: N (p positive, n negative) · Model score · Data score``.

    With the keyboard grid the counts are the grid's (they move with each decision there).
    """
    app = resources.services()
    versions = reads.versions(app, label)
    latest = versions[-1] if versions else None
    before = versions[-2] if len(versions) > 1 else None
    counts = app.settings.card_grid != "keyboard"
    with st.container(border=True, key="label-header"):
        cols = st.columns([3, 2, 2, 2] if counts else [3, 2, 2])
        cols[0].metric("Label", label)
        if counts:
            now = reads.label_counts(app, label)
            cols[1].metric(
                "Annotated",
                now.positives + now.negatives + now.ties,
                delta=f"{now.positives} positive · {now.negatives} negative",
                delta_color="off",
                delta_arrow="off",
            )
        cols[-2].metric(
            "Model score",
            _fmt(latest.model_score if latest else None),
            delta=_delta(latest, before, "model_score"),
            help="25th percentile of balanced accuracy over 5 CV folds (latest build)",
        )
        cols[-1].metric(
            "Data score",
            _fmt(latest.data_score if latest else None),
            delta=_delta(latest, before, "data_score"),
            help="How well the labels cover the corpus's 10 clusters (latest build)",
        )
        if latest:
            st.caption(
                f"Model version {latest.version}, built {latest.created_at:%Y-%m-%d %H:%M}"
                f" UTC on {latest.n_pos} positives and {latest.n_neg} negatives."
            )


def _delta(latest: ModelVersion | None, before: ModelVersion | None, field: str) -> str | None:
    now = getattr(latest, field, None) if latest else None
    then = getattr(before, field, None) if before else None
    if now is None or then is None or before is None:
        return None
    return f"{now - then:+.2f} since v{before.version}"


def card_grid(
    shots: Sequence[Shot],
    ctx: CardContext,
    *,
    scores: dict[str, float] | None = None,
    need: tuple[int, int] | None = None,
) -> None:
    """The view's cards: the keyboard grid, or (``VA_CARD_GRID=buttons``) one Streamlit
    button per decision. ``need``: positives and negatives the first build needs; both
    grids count down to them."""
    if resources.settings().card_grid == "keyboard":
        grid.card_grid(shots, ctx, scores=scores, need=need)
        return
    if need:
        _countdown(ctx.label, need)
    if not shots:
        st.info("Nothing to show here.")
        return
    for start in range(0, len(shots), CARDS_PER_ROW):
        cols = st.columns(CARDS_PER_ROW)
        for col, shot in zip(cols, shots[start : start + CARDS_PER_ROW]):
            with col:
                clip_card(shot, ctx, score=(scores or {}).get(shot.id))


def _countdown(label: str, need: tuple[int, int]) -> None:
    """The button grid's count-down to the first build (the keyboard grid draws its own)."""
    now = reads.label_counts(resources.services(), label)
    min_pos, min_neg = need
    more_pos = max(0, min_pos - now.positives)
    more_neg = max(0, min_neg - now.negatives)
    if more_pos or more_neg:
        st.warning(
            f"The first build needs {min_pos} positives and {min_neg} negatives: "
            f"**{more_labels(more_pos, 'positive')}** and "
            f"**{more_labels(more_neg, 'negative')}** "
            "to go.",
            icon=":material/lock:",
        )
    else:
        st.success(
            "Enough labels to build a model: **Build** on Active learning (key B) trains it.",
            icon=":material/lock_open:",
        )


def clip_card(shot: Shot, ctx: CardContext, *, score: float | None = None) -> None:
    mine = ctx.votes.get(shot.id, {}).get(ctx.annotator)
    others = {a: v for a, v in ctx.votes.get(shot.id, {}).items() if a != ctx.annotator}
    key = f"{ctx.key}:{shot.id}"
    with st.container(border=True, key=f"card-{_safe(key)}"):
        _media(shot, key)
        st.markdown(_describe(shot, score))
        st.markdown(_status(mine, others))
        if ctx.read_only:
            return
        yes, no = st.columns(2, gap="small")
        yes.button(
            "Positive",
            key=f"pos:{key}",
            type="primary" if mine is True else "secondary",
            width="stretch",
            on_click=_decide,
            args=(ctx, shot.id, True),
        )
        no.button(
            "Negative",
            key=f"neg:{key}",
            type="primary" if mine is False else "secondary",
            width="stretch",
            on_click=_decide,
            args=(ctx, shot.id, False),
        )
        with st.container(horizontal=True, gap="small"):
            st.button(
                "Clear",
                key=f"clr:{key}",
                icon=":material/close:",
                type="tertiary",
                disabled=mine is None,
                on_click=_decide,
                args=(ctx, shot.id, None),
            )
            if ctx.show_similar:
                st.button(
                    "More like this",
                    key=f"sim:{key}",
                    icon=":material/search:",
                    type="tertiary",
                    on_click=state.show_similar,
                    args=(shot.id,),
                )


def _media(shot: Shot, key: str) -> None:
    playable = bool(shot.video_path) and Path(shot.video_path).is_file()
    if playable and st.session_state.get(f"play:{key}"):
        try:
            # The shot's own clip, not the original between its times: st.video floors those
            # to whole seconds, and a loop of the clip never shows a neighbouring shot.
            clip = reads.shot_clip(resources.services(), shot.id)
            st.video(str(clip), autoplay=True, muted=True, loop=True)
        except VAError as exc:
            st.error(str(exc))
    elif shot.thumb_path and Path(shot.thumb_path).is_file():
        st.image(shot.thumb_path, width="stretch")
    else:
        st.caption("(no preview image)")
    if playable:
        st.toggle("Play shot", key=f"play:{key}")
    elif shot.source_url:
        st.link_button("Open source clip", shot.source_url, icon=":material/open_in_new:")


def _decide(ctx: CardContext, shot_id: str, value: bool | None) -> None:
    """A button's decision, through the one write path."""
    if not ctx.annotator:
        st.session_state[FLASH] = ("warning", "Say who you are (sidebar) before labelling.")
        return
    app = resources.services()
    try:
        app.labelling.record(
            state.current_user(),
            ctx.label,
            [(shot_id, value)],
            source=ctx.source,
            annotator=ctx.annotator,
        )
    except VAError as exc:
        st.session_state[FLASH] = ("error", str(exc))


def flash(kind: str, message: str) -> None:
    """Leave a message for the next run of the page (from a callback)."""
    st.session_state[FLASH] = (kind, message)


def show_flash() -> None:
    """Show (once) the message a button callback left behind."""
    left = st.session_state.pop(FLASH, None)
    if left:
        getattr(st, left[0])(left[1])


def index_note() -> None:
    """While the vector index is incomplete on a corpus that needs it: how far its build is,
    its ETA, and that search is exact meanwhile."""
    progress = reads.index_progress(resources.services())
    if progress is not None:
        st.caption(f":material/hourglass_top: {progress.describe()}")


def _status(mine: bool | None, others: dict[str, bool]) -> str:
    words = {
        True: ":green-badge[:material/thumb_up: positive]",
        False: ":red-badge[:material/thumb_down: negative]",
        None: ":gray-badge[not labelled by you]",
    }
    text = words[mine]
    if others:
        pos = sum(others.values())
        text += f" :violet-badge[others: {pos}+ / {len(others) - pos}−]"
    return text


def _describe(shot: Shot, score: float | None) -> str:
    title = inert(shot.title or shot.video_key)
    text = f"**{title}** · {clock(shot.start_s)}–{clock(shot.end_s)}"
    return text + (f" · score **{score:.2f}**" if score is not None else "")


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in key)[:120]
