"""Search: find shots by a description, by example ("more like this") or by metadata."""

import math

import numpy as np
import streamlit as st

from va_app.errors import VAError
from va_app.datasets.netflix.importer import zero_shot_query
from va_app.search.shots import SearchFilters
from va_app.ui import resources, state
from va_app.ui.cards import SIMILAR_TO, card_context, card_grid, label_header, show_flash

PAGE_SIZE = 20
ws = resources.workspace()
label = state.require_label("Search")
st.session_state.setdefault("search_page", 0)


def _reset_page() -> None:
    st.session_state["search_page"] = 0
    st.session_state.pop(SIMILAR_TO, None)


def _missing_counter() -> None:
    labelled = ws.labels.labelled_set(label)
    need_pos = max(0, ws.settings.min_positives - len(labelled.positives))
    need_neg = max(0, ws.settings.min_negatives - len(labelled.negatives))
    if need_pos or need_neg:
        st.warning(f"Active learning opens at {ws.settings.min_positives} positives and "
                   f"{ws.settings.min_negatives} negatives: **{need_pos} more positive** and "
                   f"**{need_neg} more negative** to go.", icon=":material/lock:")
    else:
        st.success("Enough labels to build a model: open **Active learning**.",
                   icon=":material/lock_open:")


def _filters(search) -> SearchFilters:
    table = search.table
    with st.expander("Filters", icon=":material/filter_list:"):
        f1, f2, f3, f4 = st.columns([3, 2, 2, 2])
        titles = dict(zip(table.video_keys, table.titles))
        videos = f1.multiselect("Videos", list(table.video_keys), key="search_videos",
                                format_func=lambda k: f"{titles.get(k) or k} ({k})",
                                on_change=_reset_page)
        genres = f2.multiselect("Genre", sorted({g for g in table.genres if g}),
                                key="search_genres", on_change=_reset_page)
        tags = f3.multiselect("Tags", sorted({t for ts in table.tags for t in ts}),
                              key="search_tags", on_change=_reset_page)
        durations = table.duration_s[np.isfinite(table.duration_s)]
        top = float(math.ceil(durations.max())) if durations.size else 1.0
        low, high = f4.slider("Shot duration (s)", 0.0, top, (0.0, top), step=0.5,
                              key="search_duration", on_change=_reset_page)
    return SearchFilters(videos=tuple(videos), genres=tuple(genres), tags=tuple(tags),
                         min_duration_s=low or None, max_duration_s=None if high >= top else high)


def _hits(search, query: str, filters: SearchFilters, offset: int):
    similar = st.session_state.get(SIMILAR_TO)
    if similar:
        st.info(f"Shots that look like `{similar}`", icon=":material/search:")
        st.button("Back to text search", key="clear-similar", on_click=_reset_page)
        return search.similar_to(similar, PAGE_SIZE, filters=filters, offset=offset), "similar"
    zero_shot = zero_shot_query(ws.settings, label)
    if zero_shot is not None and not query.strip() and st.toggle(
            "Zero-shot: rank shots by the label's stored text embedding", key="zero_shot",
            value=True):
        return search.search_vector(zero_shot, PAGE_SIZE, filters=filters, offset=offset), "search"
    if query.strip():
        result = search.search_text(query, resources.encoder(), PAGE_SIZE, filters=filters,
                                    offset=offset)
        if result.notice:
            st.info(result.notice, icon=":material/info:")
        return result.hits, "search"
    st.caption("Browsing the corpus in order — type a description to search.")
    return search.browse(PAGE_SIZE, filters=filters, offset=offset), "search"


@st.fragment
def search_view() -> None:
    label_header(ws, label)
    _missing_counter()
    show_flash()
    search = resources.search()
    hints = ws.labels.get_label(label).hints
    query = st.text_input("Describe what you are looking for", key="search_query",
                          placeholder=hints or "e.g. a car chase at night",
                          on_change=_reset_page)
    try:
        filters = _filters(search)
        offset = st.session_state["search_page"] * PAGE_SIZE
        hits, source = _hits(search, query, filters, offset)
    except VAError as exc:
        st.error(str(exc))
        return
    shots = ws.corpus.shots([h.shot_id for h in hits])
    ctx = card_context(ws, label, state.annotator(), source=source, key="search",
                       show_similar=True)
    card_grid(ws, shots, ctx)
    _pager(len(hits))


def _pager(n_hits: int) -> None:
    page = st.session_state["search_page"]
    prev_col, info_col, next_col = st.columns([1, 3, 1], vertical_alignment="center")
    if prev_col.button("Previous", key="search-prev", disabled=page == 0,
                       icon=":material/chevron_left:"):
        st.session_state["search_page"] = page - 1
        st.rerun(scope="fragment")
    info_col.caption(f"Page {page + 1}")
    if next_col.button("Next", key="search-next", disabled=n_hits < PAGE_SIZE,
                       icon=":material/chevron_right:"):
        st.session_state["search_page"] = page + 1
        st.rerun(scope="fragment")


search_view()
