"""Search: find shots by a description, by example ("more like this") or by metadata."""

import streamlit as st

from va_app.errors import VAError
from va_app.search import SearchFilters
from va_app.ui import resources, state
from va_app.ui.cards import SIMILAR_TO, card_context, card_grid, label_header, show_flash

PAGE_SIZE = 20
ws = resources.workspace()
label = state.current_label()
st.title("Search")
if not label:
    st.info("Pick or create a label first (sidebar / Home).")
    st.stop()

st.session_state.setdefault("search_page", 0)


def _reset_page() -> None:
    st.session_state["search_page"] = 0
    st.session_state.pop(SIMILAR_TO, None)


videos = ws.corpus.catalog.videos()
with st.container(border=True):
    query = st.text_input("Describe what you are looking for", key="search_query",
                          placeholder=ws.labels.get_label(label).hints or "e.g. a car chase at night",
                          on_change=_reset_page)
    f1, f2, f3, f4 = st.columns([3, 2, 2, 2])
    chosen_videos = f1.multiselect("Videos", [v.key for v in videos], key="search_videos",
                                   format_func=lambda k: next((v.title for v in videos
                                                               if v.key == k), k) + f" ({k})",
                                   on_change=_reset_page)
    genres = sorted({v.genre for v in videos if v.genre})
    chosen_genres = f2.multiselect("Genre", genres, key="search_genres", on_change=_reset_page)
    tags = sorted({t for v in videos for t in (v.tags or [])})
    chosen_tags = f3.multiselect("Tags", tags, key="search_tags", on_change=_reset_page)
    longest = max([v.duration_s for v in videos] + [1.0])
    low, high = f4.slider("Shot duration (s)", 0.0, float(round(longest + 0.5)),
                          (0.0, float(round(longest + 0.5))), step=0.5, key="search_duration",
                          on_change=_reset_page)

filters = SearchFilters(videos=tuple(chosen_videos), genres=tuple(chosen_genres),
                        tags=tuple(chosen_tags), min_duration_s=low or None,
                        max_duration_s=None if high >= round(longest + 0.5) else high)


@st.fragment
def results() -> None:
    label_header(ws, label)
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
    show_flash()
    offset = st.session_state["search_page"] * PAGE_SIZE
    search = resources.search()
    similar = st.session_state.get(SIMILAR_TO)
    try:
        if similar:
            st.info(f"Shots that look like `{similar}`")
            st.button("Back to text search", key="clear-similar", on_click=_reset_page)
            hits, notice = search.similar_to(similar, PAGE_SIZE, filters=filters,
                                             offset=offset), ""
        elif query.strip():
            result = search.search_text(query, resources.encoder(), PAGE_SIZE, filters=filters,
                                        offset=offset)
            hits, notice = result.hits, result.notice
        else:
            hits, notice = search.browse(PAGE_SIZE, filters=filters, offset=offset), ""
            st.caption("Browsing the corpus in order — type a description to search.")
    except VAError as exc:
        st.error(str(exc))
        return
    if notice:
        st.info(notice, icon=":material/info:")
    shots = ws.corpus.shots([h.shot_id for h in hits])
    ctx = card_context(ws, label, state.annotator(), source="similar" if similar else "search",
                       key="search", show_similar=True)
    card_grid(ws, shots, ctx, scores=None)
    _pager(len(hits))


def _pager(n_hits: int) -> None:
    page = st.session_state["search_page"]
    prev_col, info_col, next_col = st.columns([1, 3, 1])
    if prev_col.button("Previous", key="search-prev", disabled=page == 0,
                       icon=":material/chevron_left:"):
        st.session_state["search_page"] = page - 1
        st.rerun(scope="fragment")
    info_col.caption(f"Page {page + 1}")
    if next_col.button("Next", key="search-next", disabled=n_hits < PAGE_SIZE,
                       icon=":material/chevron_right:"):
        st.session_state["search_page"] = page + 1
        st.rerun(scope="fragment")


results()
