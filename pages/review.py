"""Review: every annotation of the label in one place; fix mistakes; see disagreements."""

import pandas as pd
import streamlit as st

from va_app.errors import VAError
from va_app.services import dashboard, reads
from va_app.ui import resources, state
from va_app.ui.cards import card_context, card_grid, label_header, show_flash
from va_app.ui.shell import page

page("Review", ":material/fact_check:")
PAGE_SIZE = 20
app = resources.services()
label = state.require_label("Review")


@st.fragment
def review_view() -> None:
    label_header(label)
    show_flash()
    history = reads.history(app, label)
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
            _all_annotations(len(history))
    if by_model.open:
        with by_model:
            _model_disagreements()
    if by_people.open:
        with by_people:
            _annotator_conflicts()


def _annotation_frame() -> pd.DataFrame:
    current = reads.current_annotations(app, label)
    shots = {s.id: s for s in reads.shots(app, list({a.shot_id for a in current}))}
    return pd.DataFrame(
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


def _all_annotations(clicks: int) -> None:
    frame = _annotation_frame()
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
    st.caption(f"{len(frame)} current annotations shown ({clicks} clicks in the history).")
    st.dataframe(frame, hide_index=True, width="stretch", height=240)
    ids = list(dict.fromkeys(frame.shot_id))
    pages = max(1, -(-len(ids) // PAGE_SIZE))
    number = (
        st.columns([1, 4])[0].number_input(f"Page (of {pages})", 1, pages, 1, key="rv_page") - 1
    )
    shots = reads.shots(app, ids[number * PAGE_SIZE : (number + 1) * PAGE_SIZE])
    card_grid(shots, card_context(label, source="review", key="review"))


def _model_disagreements() -> None:
    try:
        frame = dashboard.disagreements_with_model(app, label)
    except VAError as exc:
        st.info(str(exc))
        return
    if reads.latest_version(app, label) is None:
        st.info("Build a model on Active learning to see where it disagrees with the labels.")
        return
    if frame.empty:
        st.success("The latest model agrees with every annotation.")
        return
    st.caption(
        "Shots where the latest model's score contradicts the (majority) annotation, "
        "strongest first: either a labelling slip or a hard case."
    )
    ids = frame.shot_id.head(PAGE_SIZE).tolist()
    card_grid(
        reads.shots(app, ids),
        card_context(label, source="review", key="rv-model"),
        scores=dict(zip(frame.shot_id, frame.probability)),
    )


def _annotator_conflicts() -> None:
    frame = dashboard.annotator_conflicts(app, label)
    if frame.empty:
        st.success("No shot has conflicting annotations.")
        return
    st.dataframe(frame, hide_index=True, width="stretch")
    ids = frame.shot_id.head(PAGE_SIZE).tolist()
    card_grid(reads.shots(app, ids), card_context(label, source="review", key="rv-people"))


review_view()
