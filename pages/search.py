"""Search: find shots by a description, by example ("more like this") or by metadata, in any
combination — and on a new label, by the label itself (zero-shot) in one click."""

import streamlit as st

from va_app.encoders import encoder_status_line
from va_app.encoders.bundled import is_demo_clip_id
from va_app.errors import VAError
from va_app.search.shots import MODE_BROWSE
from va_app.services import reads
from va_app.ui import resources, state
from va_app.ui import search_form as form
from va_app.ui.cards import card_context, card_grid, index_note, label_header, show_flash
from va_app.ui.shell import page

page("Search", ":material/search:")
app = resources.services()
label = state.require_label("Search")
st.session_state.setdefault(state.SEARCH_PAGE, 0)


@st.fragment
def search_view() -> None:
    label_header(label)
    show_flash()
    info = reads.label(app, label)
    empty_label = reads.annotation_count(app, label) == 0
    typed = st.text_input(
        "Describe what you are looking for",
        key=form.QUERY,
        placeholder=info.hints or "e.g. a car chase at night",
        on_change=form.new_query,
    )
    form.starters(info, empty_label)
    encoder_id = reads.encoder_id(app)
    if is_demo_clip_id(encoder_id):  # bundled: saying so loads nothing extra
        st.caption(encoder_status_line(encoder_id, resources.encoder()))
    try:
        query, line = form.query_for(app, info, typed, form.filters(app))
        if query.like:
            st.button(
                "Forget the example",
                key="clear-similar",
                on_click=form.forget_example,
                icon=":material/close:",
            )
        if query.texts and query.vector is None:
            resources.encoder()  # loads it (fetching CLIP weights once) with feedback
        offset = st.session_state[state.SEARCH_PAGE] * form.PAGE_SIZE
        result = reads.search(app, query, k=form.PAGE_SIZE, offset=offset)
    except VAError as exc:
        st.error(str(exc))
        return
    form.explain(result, line)
    index_note()
    hits = result.hits
    ctx = card_context(
        label, source="similar" if query.like else "search", key="search", show_similar=True
    )
    scores = None if result.mode == MODE_BROWSE else {h.shot_id: h.similarity for h in hits}
    card_grid(
        reads.shots(app, [h.shot_id for h in hits]),
        ctx,
        scores=scores,
        need=reads.first_build_needs(app),
    )
    form.pager(len(hits))


search_view()
