"""The Search page's form: the query box's companions (zero-shot button, hint suggestions,
filters), what a run searches for, the line that explains the result, and the pager."""

from __future__ import annotations

import streamlit as st

from va_app.search.label_words import search_hints
from va_app.search.shots import MODE_BROWSE, MODE_KEYWORD, SearchFilters, SearchQuery
from va_app.services import reads
from va_app.ui import state

QUERY, ZERO_SHOT = "search_query", "search_zero_shot"
PAGE_SIZE = 20


def _reset_page() -> None:
    st.session_state[state.SEARCH_PAGE] = 0


def new_query() -> None:
    """The query box changed: back to the first page, no longer zero-shot."""
    _reset_page()
    st.session_state[ZERO_SHOT] = False


def forget_example() -> None:
    _reset_page()
    st.session_state.pop(state.SIMILAR_TO, None)


def _suggest(text: str) -> None:
    st.session_state[QUERY] = text
    new_query()


def _zero_shot() -> None:
    st.session_state[QUERY] = ""
    st.session_state.pop(state.SIMILAR_TO, None)
    st.session_state[ZERO_SHOT] = True
    _reset_page()


def filters(app) -> SearchFilters:
    """The filters expander; returns what it filters by."""
    choices = reads.filter_choices(app)
    titles = dict(choices.videos)
    with st.expander("Filters", icon=":material/filter_list:"):
        f1, f2, f3, f4 = st.columns([3, 2, 2, 2])
        videos = f1.multiselect(
            "Videos",
            list(titles),
            key="search_videos",
            format_func=lambda k: f"{titles.get(k) or k} ({k})",
            on_change=_reset_page,
        )
        genres = f2.multiselect("Genre", choices.genres, key="search_genres", on_change=_reset_page)
        tags = f3.multiselect("Tags", choices.tags, key="search_tags", on_change=_reset_page)
        top = choices.longest_s
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


def starters(info, empty_label: bool) -> None:
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


def query_for(app, info, typed: str, filters: SearchFilters) -> tuple[SearchQuery, str]:
    """What to search for, and a line saying so."""
    like = st.session_state.get(state.SIMILAR_TO)
    words = (typed,) if typed.strip() else ()
    if st.session_state.get(ZERO_SHOT) and not words and not like:
        query = reads.zero_shot_query(app, info.name, filters=filters)
        shown = " · ".join(f"“{t}”" for t in query.texts)
        return query, f"Zero-shot: shots most like the label's own words {shown}"
    if like:
        also = f" that match “{typed.strip()}”" if words else ""
        return SearchQuery(words, like, filters), f"Shots that look like `{like}`{also}"
    return SearchQuery(words, None, filters), f"Shots most like “{typed.strip()}”"


def explain(result, line: str) -> None:
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


def pager(n_hits: int) -> None:
    number = st.session_state[state.SEARCH_PAGE]
    prev_col, info_col, next_col = st.columns([1, 3, 1], vertical_alignment="center")
    if prev_col.button(
        "Previous",
        key="search-prev",
        disabled=number == 0,
        shortcut="PageUp",
        icon=":material/chevron_left:",
        help="Previous page (key: Page Up)",
    ):
        st.session_state[state.SEARCH_PAGE] = number - 1
        st.rerun(scope="fragment")
    info_col.caption(f"Page {number + 1}")
    if next_col.button(
        "Next",
        key="search-next",
        disabled=n_hits < PAGE_SIZE,
        shortcut="PageDown",
        icon=":material/chevron_right:",
        help="Next page (key: Page Down)",
    ):
        st.session_state[state.SEARCH_PAGE] = number + 1
        st.rerun(scope="fragment")
