"""Timeline: where a label's shots are in each title — scores along every video, labels marked.

Managers see per title how much is labelled and where the model finds the label; an expert
clicks a shot on a strip to play it and label it (and the shots after it) with the grid's
keys. The label's shots leave for the edit from here as well (what ``export-edit`` writes).
"""

import streamlit as st

from va_app.errors import VAError
from va_app.reports import timeline as tl
from va_app.services import dashboard, feed_reads, reads
from va_app.ui import resources, state
from va_app.ui.cards import card_context, card_grid, label_header, show_flash
from va_app.ui.edit_export import edit_export_form
from va_app.ui.shell import page

page("Timeline", ":material/view_timeline:")

CARDS = 8  # the clicked shot and the ones after it, labelled with the grid's keys
CHART = "timeline_chart"
SELECTED = "tl_selected"
app = resources.services()
label = state.require_label("Timeline")


@st.cache_resource(show_spinner="Reading every title's shots …", max_entries=4)
def _shot_times(data_dir: str, corpus_version: str) -> tl.ShotTimes:
    # Once per corpus version: labels and scores are laid over it on every run.
    return dashboard.shot_times(resources.services())


times = _shot_times(str(app.settings.data_dir), reads.corpus_version(app))
model = resources.feeds(label, n=20, hide_labelled=False)  # the latest version's scores
labelled = reads.labelled_shots(app, label)
scores = tl.shot_scores(times, model.probabilities if model else None)
labels = tl.shot_labels(
    times, positives=labelled.positives, negatives=labelled.negatives, ties=labelled.ties
)

label_header(label)
c = st.columns([3, 2, 2, 2, 1], vertical_alignment="bottom")
threshold = c[0].slider(
    "Threshold",
    0.0,
    1.0,
    0.5,
    0.01,
    key="tl_threshold",
    help="Shots the model scores at or over it are red on the strips and count as found.",
    disabled=model is None,
)
find = c[1].text_input("Find a title", key="tl_find", placeholder="part of a title or key")
sort = c[2].selectbox(
    "Order",
    tl.SORTS,
    key="tl_sort",
    format_func={
        "title": "as ingested",
        "positives": "most found first",
        "labelled": "least labelled first",
    }.get,
)
per_page = c[3].selectbox("Titles per page", (4, 8, 16, 32), index=1, key="tl_per_page")
summary = tl.title_summaries(times, scores, labels, threshold=threshold)
rows, pages = tl.page_of_titles(summary, page=1, per_page=per_page, sort=sort, find=find)
st.session_state["tl_page"] = min(st.session_state.get("tl_page", 1), pages)  # fewer pages now
number = c[4].number_input(f"Page (of {pages})", 1, pages, key="tl_page")
rows, pages = tl.page_of_titles(summary, page=number, per_page=per_page, sort=sort, find=find)

with st.expander(f"Per title: {len(summary)} titles", icon=":material/table:"):
    st.dataframe(
        summary,
        hide_index=True,
        width="stretch",
        column_config={
            "duration_s": st.column_config.NumberColumn("Length (s)", format="%.0f"),
            "over_threshold": st.column_config.NumberColumn(
                "Found", help="shots scored at or over the threshold"
            ),
            "runtime_over_threshold": st.column_config.ProgressColumn(
                "Runtime found", min_value=0.0, max_value=1.0, format="percent"
            ),
            "first_over_threshold_s": st.column_config.NumberColumn("First found at (s)"),
        },
    )


def _picked(event) -> str | None:
    """The shot id a click on the chart selected (None: none)."""
    points = (event or {}).get("selection", {}).get("points", [])
    ids = [p.get("customdata") for p in points if isinstance(p.get("customdata"), str)]
    return ids[-1] if ids else None


def _move(step: int) -> None:
    st.session_state[SELECTED] = tl.step(times, st.session_state[SELECTED], by=step)


@st.fragment
def timeline_view() -> None:
    # A click reruns this fragment alone: the strips, the player and the cards.
    show_flash()
    clicked = _picked(st.session_state.get(CHART))
    if clicked and clicked != st.session_state.get("_tl_clicked"):
        st.session_state[SELECTED] = st.session_state["_tl_clicked"] = clicked
    selected = st.session_state.get(SELECTED)
    strips = tl.title_strips(times, scores, labels, rows)
    figure = tl.timeline_figure(strips, threshold=threshold, label=label, selected=selected)
    st.plotly_chart(
        figure,
        key=CHART,
        on_select="rerun",
        selection_mode="points",
        config={"displaylogo": False, "scrollZoom": False},
    )
    if not selected:
        st.caption("Click a shot on a strip to play it and label it (and the ones after it).")
        return
    _selected_shot(selected)


def _selected_shot(selected: str) -> None:
    ids = tl.neighbours(times, selected, n=CARDS)
    shots = reads.shots(app, ids)
    if not shots:
        st.session_state.pop(SELECTED, None)
        return
    player, moves = st.columns([2, 3], vertical_alignment="bottom")
    with player:
        try:
            st.video(str(reads.shot_clip(app, selected)), autoplay=True, muted=True, loop=True)
        except VAError as exc:
            st.info(str(exc))
    back, on = moves.columns(2)
    back.button(
        "Earlier",
        icon=":material/chevron_left:",
        key="tl_back",
        shortcut="PageUp",
        on_click=_move,
        args=(-CARDS,),
        width="stretch",
    )
    on.button(
        "Later",
        icon=":material/chevron_right:",
        key="tl_on",
        shortcut="PageDown",
        on_click=_move,
        args=(CARDS,),
        width="stretch",
    )
    moves.caption(
        f"{shots[0].title} · from {tl.clock(shots[0].start_s)}: keys p / n label "
        "the focused card, arrows move, Space plays, ? shows all keys; Page Up / Page Down "
        "go to the earlier / later shots of the title."
    )
    card_grid(
        shots,
        card_context(label, source="timeline", key="timeline"),
        scores=feed_reads.feed_scores(app, model, [s.id for s in shots]) if model else None,
    )


timeline_view()

with st.expander("Export to the edit: EDL, FCP 7 XML, OpenTimelineIO", icon=":material/movie:"):
    edit_export_form(
        app, label, threshold=threshold, video_keys=tuple(times.video_keys[r] for r in rows)
    )
