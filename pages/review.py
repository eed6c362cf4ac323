"""Review: every annotation of the label in one place; fix mistakes; see disagreements."""

import pandas as pd
import streamlit as st

from va_app.errors import VAError
from va_app.reports import analytics
from va_app.ui import resources, state
from va_app.ui.cards import card_context, card_grid, label_header, show_flash
from va_app.ui.navigation import run_through_app

run_through_app()  # a deep link on a fresh server: run app.py first

PAGE_SIZE = 20
ws = resources.workspace()
label = state.require_label("Review")


@st.fragment
def review_view() -> None:
    label_header(ws, label)
    show_flash()
    history = ws.labels.history(label)
    if not history:
        st.info("No annotations yet for this label.")
        return
    # Lazy tabs: a decision reruns only the open tab's table and cards.
    everything, by_model, by_people = st.tabs(
        ["All annotations", "Model disagrees", "Annotators disagree"],
        key="review_tab",
        on_change="rerun",
    )
    if everything.open:
        with everything:
            _all_annotations(history)
    if by_model.open:
        with by_model:
            _model_disagreements()
    if by_people.open:
        with by_people:
            _annotator_conflicts()


def _all_annotations(history) -> None:
    current = ws.labels.current(label)
    shots = {s.id: s for s in ws.corpus.shots(list({a.shot_id for a in current}))}
    frame = pd.DataFrame(
        [
            {
                "title": shots[a.shot_id].title if a.shot_id in shots else "",
                "at (s)": round(shots[a.shot_id].start_s, 1) if a.shot_id in shots else None,
                "value": "positive" if a.value else "negative",
                "annotator": a.annotator,
                "source": a.source,
                "time": a.created_at,
                "shot_id": a.shot_id,
            }
            for a in current
        ]
    )
    c = st.columns([2, 2, 2, 3])
    values = c[0].multiselect("Value", ["positive", "negative"], key="rv_value")
    people = c[1].multiselect("Annotator", sorted(frame.annotator.unique()), key="rv_annotator")
    sources = c[2].multiselect("Source", sorted(frame.source.unique()), key="rv_source")
    since = c[3].date_input("Since", value=None, key="rv_since")
    for column, chosen in (("value", values), ("annotator", people), ("source", sources)):
        if chosen:
            frame = frame[frame[column].isin(chosen)]
    if since:
        frame = frame[frame.time.dt.date >= since]
    frame = frame.sort_values("time", ascending=False)
    st.caption(f"{len(frame)} current annotations shown ({len(history)} clicks in the history).")
    st.dataframe(frame, hide_index=True, width="stretch", height=240)
    ids = list(dict.fromkeys(frame.shot_id))
    pages = max(1, -(-len(ids) // PAGE_SIZE))
    page = st.columns([1, 4])[0].number_input(f"Page (of {pages})", 1, pages, 1, key="rv_page") - 1
    shots = ws.corpus.shots(ids[page * PAGE_SIZE : (page + 1) * PAGE_SIZE])
    card_grid(ws, shots, card_context(ws, label, state.annotator(), source="review", key="review"))


def _model_disagreements() -> None:
    try:
        frame = analytics.disagreements_with_model(ws, label)
    except VAError as exc:
        st.info(str(exc))
        return
    if frame.empty:
        st.success("The latest model agrees with every annotation.")
        return
    st.caption(
        "Shots where the latest model's score contradicts the (majority) annotation, "
        "strongest first: either a labelling slip or a hard case."
    )
    ids = frame.shot_id.head(PAGE_SIZE).tolist()
    scores = dict(zip(frame.shot_id, frame.probability))
    card_grid(
        ws,
        ws.corpus.shots(ids),
        card_context(ws, label, state.annotator(), source="review", key="rv-model"),
        scores=scores,
    )


def _annotator_conflicts() -> None:
    frame = analytics.annotator_conflicts(ws, label)
    if frame.empty:
        st.success("No shot has conflicting annotations.")
        return
    st.dataframe(frame, hide_index=True, width="stretch")
    ids = frame.shot_id.head(PAGE_SIZE).tolist()
    card_grid(
        ws,
        ws.corpus.shots(ids),
        card_context(ws, label, state.annotator(), source="review", key="rv-people"),
    )


review_view()
