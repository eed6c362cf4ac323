"""The clip card — one component used by every page — and the label header.

A card shows a shot's filmstrip, its source and time, the model's score, the current
annotation (highlighted), and Positive / Negative / Clear buttons. A click is written to the
store before anything else happens; pages put header and cards in one ``st.fragment`` so a
click reruns only that part of the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from va_app.domain import Shot
from va_app.errors import VAError
from va_app.learn.classifier import more_labels
from va_app.services.workspace import Workspace

SIMILAR_TO = "similar_to"
CARDS_PER_ROW = 4


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


def card_context(
    ws: Workspace,
    label: str,
    annotator: str,
    *,
    source: str,
    key: str,
    show_similar: bool = False,
    read_only: bool | None = None,
) -> CardContext:
    """Everything the cards of one view share; read-only for users who may not annotate."""
    if read_only is None:
        from va_app.services.access import Action
        from va_app.ui.state import may

        read_only = not may(Action.ANNOTATE)
    return CardContext(
        label, annotator, source, key, current_votes(ws, label), show_similar, read_only
    )


def current_votes(ws: Workspace, label: str) -> dict[str, dict[str, bool]]:
    """Shot id -> annotator -> value, of the label's current annotations."""
    votes: dict[str, dict[str, bool]] = {}
    for ann in ws.labels.current(label):
        votes.setdefault(ann.shot_id, {})[ann.annotator] = bool(ann.value)
    return votes


def label_header(ws: Workspace, label: str) -> None:
    """``Label: X · Annotated: N (p positive, n negative) · Model score · Data score``.

    With the keyboard grid the counts are the grid's (they move with each decision there).
    """
    versions = ws.models.versions(label)
    latest = versions[-1] if versions else None
    before = versions[-2] if len(versions) > 1 else None
    counts = ws.settings.card_grid != "keyboard"
    with st.container(border=True, key="label-header"):
        cols = st.columns([3, 2, 2, 2] if counts else [3, 2, 2])
        cols[0].metric("Label", label)
        if counts:
            labelled = ws.labels.labelled_set(label)
            n_pos, n_neg = len(labelled.positives), len(labelled.negatives)
            cols[1].metric(
                "Annotated",
                n_pos + n_neg + len(labelled.ties),
                delta=f"{n_pos} positive · {n_neg} negative",
                delta_color="off",
                delta_arrow="off",
            )
        cols[-2].metric(
            "Model score",
            _fmt(latest and latest.model_score),
            delta=_delta(latest, before, "model_score"),
            help="25th percentile of balanced accuracy over 5 CV folds (latest build)",
        )
        cols[-1].metric(
            "Data score",
            _fmt(latest and latest.data_score),
            delta=_delta(latest, before, "data_score"),
            help="How well the labels cover the corpus's 10 clusters (latest build)",
        )
        if latest:
            st.caption(
                f"Model version {latest.version}, built {latest.created_at:%Y-%m-%d %H:%M}"
                f" UTC on {latest.n_pos} positives and {latest.n_neg} negatives."
            )


def _delta(latest, before, field: str) -> str | None:
    now = getattr(latest, field, None) if latest else None
    then = getattr(before, field, None) if before else None
    return None if now is None or then is None else f"{now - then:+.2f} since v{before.version}"


def card_grid(
    ws: Workspace,
    shots: Sequence[Shot],
    ctx: CardContext,
    *,
    scores: dict[str, float] | None = None,
    need: tuple[int, int] | None = None,
) -> None:
    """The view's cards: the keyboard grid, or (``VA_CARD_GRID=buttons``) one Streamlit
    button per decision. ``need``: positives and negatives the first build needs; both
    grids count down to them."""
    if ws.settings.card_grid == "keyboard":
        from va_app.ui.grid import card_grid as keyboard_grid

        keyboard_grid(ws, shots, ctx, scores=scores, need=need)
        return
    if need:
        _countdown(ws, ctx.label, need)
    if not shots:
        st.info("Nothing to show here.")
        return
    for start in range(0, len(shots), CARDS_PER_ROW):
        cols = st.columns(CARDS_PER_ROW)
        for col, shot in zip(cols, shots[start : start + CARDS_PER_ROW]):
            with col:
                clip_card(ws, shot, ctx, score=(scores or {}).get(shot.id))


def _countdown(ws: Workspace, label: str, need: tuple[int, int]) -> None:
    """The button grid's count-down to the first build (the keyboard grid draws its own)."""
    labelled = ws.labels.labelled_set(label)
    min_pos, min_neg = need
    more_pos = max(0, min_pos - len(labelled.positives))
    more_neg = max(0, min_neg - len(labelled.negatives))
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


def clip_card(ws: Workspace, shot: Shot, ctx: CardContext, *, score: float | None = None) -> None:
    mine = ctx.votes.get(shot.id, {}).get(ctx.annotator)
    others = {a: v for a, v in ctx.votes.get(shot.id, {}).items() if a != ctx.annotator}
    key = f"{ctx.key}:{shot.id}"
    with st.container(border=True, key=f"card-{_safe(key)}"):
        _media(ws, shot, key)
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
            on_click=_annotate,
            args=(ws, ctx, shot.id, True),
        )
        no.button(
            "Negative",
            key=f"neg:{key}",
            type="primary" if mine is False else "secondary",
            width="stretch",
            on_click=_annotate,
            args=(ws, ctx, shot.id, False),
        )
        with st.container(horizontal=True, gap="small"):
            st.button(
                "Clear",
                key=f"clr:{key}",
                icon=":material/close:",
                type="tertiary",
                disabled=mine is None,
                on_click=_annotate,
                args=(ws, ctx, shot.id, None),
            )
            if ctx.show_similar:
                st.button(
                    "More like this",
                    key=f"sim:{key}",
                    icon=":material/search:",
                    type="tertiary",
                    on_click=_similar,
                    args=(shot.id,),
                )


def _media(ws: Workspace, shot: Shot, key: str) -> None:
    playable = bool(shot.video_path) and Path(shot.video_path).is_file()
    if playable and st.session_state.get(f"play:{key}"):
        try:
            # The shot's own clip, not the original between its times: st.video floors those
            # to whole seconds, and a loop of the clip never shows a neighbouring shot.
            st.video(str(ws.shot_clip(shot.id)), autoplay=True, muted=True, loop=True)
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


def _annotate(ws: Workspace, ctx: CardContext, shot_id: str, value: bool | None) -> None:
    from va_app.ui.state import current_user

    if not ctx.annotator:
        st.session_state["_flash"] = ("warning", "Say who you are (sidebar) before labelling.")
        return
    try:
        ws.annotate(
            ctx.label,
            shot_id,
            value,
            user=current_user(),
            annotator=ctx.annotator,
            source=ctx.source,
        )
    except VAError as exc:
        st.session_state["_flash"] = ("error", str(exc))


def _similar(shot_id: str) -> None:
    st.session_state[SIMILAR_TO] = shot_id


def show_flash() -> None:
    """Show (once) the message a button callback left behind."""
    flash = st.session_state.pop("_flash", None)
    if flash:
        getattr(st, flash[0])(flash[1])


def index_note(ws: Workspace) -> None:
    """While the vector index is incomplete on a corpus that needs it: how far its build is,
    its ETA, and that search is exact meanwhile."""
    progress = ws.index_progress()
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
    title = _inert(shot.title or shot.video_key)
    when = f"{_clock(shot.start_s)}–{_clock(shot.end_s)}"
    text = f"**{title}** · {when}"
    return text + (f" · score **{score:.2f}**" if score is not None else "")


def _inert(text: str) -> str:
    """Markdown-escaped text: titles and names never render as markup."""
    special = "\\`*_{}[]()#+-.!|<>~$:"
    return "".join("\\" + c if c in special else c for c in text)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(max(0.0, seconds), 60)
    return f"{int(minutes)}:{secs:04.1f}"


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in key)[:120]
