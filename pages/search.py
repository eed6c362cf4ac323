"""Search: find shots by a description, by example ("more like this") or by metadata, in any
combination — and on a new label, by the label itself (zero-shot) in one click."""

import math

import numpy as np
import streamlit as st

from va_app.encoders import encoder_status_line
from va_app.encoders.bundled import is_demo_clip_id
from va_app.errors import VAError
from va_app.search.label_words import search_hints
from va_app.search.shots import MODE_BROWSE, MODE_KEYWORD, SearchFilters, SearchQuery
from va_app.ui import resources, state
from va_app.ui.cards import (
    SIMILAR_TO,
    card_context,
    card_grid,
    index_note,
    label_header,
    show_flash,
)
from va_app.ui.navigation import run_through_app

run_through_app()  # a deep link on a fresh server: run app.py first

PAGE_SIZE = 20
QUERY, ZERO_SHOT = "search_query", "search_zero_shot"
ws = resources.workspace()
label = state.require_label("Search")
st.session_state.setdefault("search_page", 0)


def _reset_page() -> None:
    st.session_state["search_page"] = 0


def _typed() -> None:
    _reset_page()
    st.session_state[ZERO_SHOT] = False


def _forget_example() -> None:
    _reset_page()
    st.session_state.pop(SIMILAR_TO, None)


def _suggest(text: str) -> None:
    st.session_state[QUERY] = text
    _typed()


def _zero_shot() -> None:
    st.session_state[QUERY] = ""
    st.session_state.pop(SIMILAR_TO, None)
    st.session_state[ZERO_SHOT] = True
    _reset_page()


def _filters(search) -> SearchFilters:
    table = search.table
    with st.expander("Filters", icon=":material/filter_list:"):
        f1, f2, f3, f4 = st.columns([3, 2, 2, 2])
        titles = dict(zip(table.video_keys, table.titles))
        videos = f1.multiselect(
            "Videos",
            list(table.video_keys),
            key="search_videos",
            format_func=lambda k: f"{titles.get(k) or k} ({k})",
            on_change=_reset_page,
        )
        genres = f2.multiselect(
            "Genre",
            sorted({g for g in table.genres if g}),
            key="search_genres",
            on_change=_reset_page,
        )
        tags = f3.multiselect(
            "Tags",
            sorted({t for ts in table.tags for t in ts}),
            key="search_tags",
            on_change=_reset_page,
        )
        durations = table.duration_s[np.isfinite(table.duration_s)]
        top = float(math.ceil(durations.max())) if durations.size else 1.0
        low, high = f4.slider(
            "Shot duration (s)",
            0.0,
            top,
            (0.0, top),
            step=0.5,
            key="search_duration",
            on_change=_reset_page,
        )
    return SearchFilters(
        videos=tuple(videos),
        genres=tuple(genres),
        tags=tuple(tags),
        min_duration_s=low or None,
        max_duration_s=None if high >= top else high,
    )


def _starters(info, empty_label: bool) -> None:
    """The zero-shot button (the first thing to press on a new label) and hint suggestions."""
    with st.container(horizontal=True, gap="small", vertical_alignment="center"):
        words = "its description" if info.description.strip() else "its name"
        st.button(
            f"Find “{info.name}” by {words} (zero-shot)",
            key="zero-shot",
            icon=":material/auto_awesome:",
            on_click=_zero_shot,
            type="primary" if empty_label else "secondary",
            help="Ranks every shot by similarity to the label's name, description and "
            "search hints — no labels needed.",
        )
        for n, hint in enumerate(search_hints(info.hints)):
            st.button(
                hint,
                key=f"suggest-{n}",
                icon=":material/search:",
                type="tertiary",
                on_click=_suggest,
                args=(hint,),
                help=f"Search for “{hint}”",
            )
    if empty_label and not st.session_state.get(ZERO_SHOT):
        st.caption("A new label: start with the zero-shot search, then label what it finds.")


def _query(info, typed: str, filters: SearchFilters) -> tuple[SearchQuery, str]:
    """What to search for, and a line saying so."""
    like = st.session_state.get(SIMILAR_TO)
    words = (typed,) if typed.strip() else ()
    if st.session_state.get(ZERO_SHOT) and not words and not like:
        query = ws.zero_shot_query(info.name, filters=filters)
        shown = " · ".join(f"“{t}”" for t in query.texts)
        return query, f"Zero-shot: shots most like the label's own words {shown}"
    if like:
        also = f" that match “{typed.strip()}”" if words else ""
        return SearchQuery(words, like, filters), f"Shots that look like `{like}`{also}"
    return SearchQuery(words, None, filters), f"Shots most like “{typed.strip()}”"


def _explain(result, line: str) -> None:
    if result.notice:
        st.info(result.notice, icon=":material/info:")
    if result.mode == MODE_BROWSE:
        st.caption("Browsing the corpus in order — type a description to search.")
        return
    scores = [h.similarity for h in result.hits]
    scale = (
        "share of title, genre, tags and name that match"
        if result.mode == MODE_KEYWORD
        else "cosine similarity, higher is closer"
    )
    spread = f" — similarity {max(scores):.2f} to {min(scores):.2f} ({scale})" if scores else ""
    st.caption(f"{line}{spread}.")


@st.fragment
def search_view() -> None:
    label_header(ws, label)
    show_flash()
    search = resources.search()
    info = ws.labels.get_label(label)
    empty_label = ws.labels.count_annotations(label) == 0
    typed = st.text_input(
        "Describe what you are looking for",
        key=QUERY,
        placeholder=info.hints or "e.g. a car chase at night",
        on_change=_typed,
    )
    _starters(info, empty_label)
    if is_demo_clip_id(ws.corpus.encoder_id):  # bundled: saying so loads nothing extra
        st.caption(encoder_status_line(ws.corpus.encoder_id, resources.encoder()))
    try:
        filters = _filters(search)
        query, line = _query(info, typed, filters)
        if query.like:
            st.button(
                "Forget the example",
                key="clear-similar",
                on_click=_forget_example,
                icon=":material/close:",
            )
        if query.texts and query.vector is None:
            resources.encoder()  # loads it (fetching CLIP weights once) with feedback
        offset = st.session_state["search_page"] * PAGE_SIZE
        result = ws.search(query, k=PAGE_SIZE, offset=offset)
    except VAError as exc:
        st.error(str(exc))
        return
    _explain(result, line)
    index_note(ws)
    hits = result.hits
    shots = ws.corpus.shots([h.shot_id for h in hits])
    ctx = card_context(
        ws,
        label,
        state.annotator(),
        source="similar" if query.like else "search",
        key="search",
        show_similar=True,
    )
    card_grid(
        ws,
        shots,
        ctx,
        scores=None if result.mode == MODE_BROWSE else {h.shot_id: h.similarity for h in hits},
        need=ws.first_build_needs,
    )
    _pager(len(hits))


def _pager(n_hits: int) -> None:
    page = st.session_state["search_page"]
    prev_col, info_col, next_col = st.columns([1, 3, 1], vertical_alignment="center")
    if prev_col.button(
        "Previous",
        key="search-prev",
        disabled=page == 0,
        shortcut="PageUp",
        icon=":material/chevron_left:",
        help="Previous page (key: Page Up)",
    ):
        st.session_state["search_page"] = page - 1
        st.rerun(scope="fragment")
    info_col.caption(f"Page {page + 1}")
    if next_col.button(
        "Next",
        key="search-next",
        disabled=n_hits < PAGE_SIZE,
        shortcut="PageDown",
        icon=":material/chevron_right:",
        help="Next page (key: Page Down)",
    ):
        st.session_state["search_page"] = page + 1
        st.rerun(scope="fragment")


search_view()
