"""Active learning: build a model, then label from four feeds; repeat."""

import streamlit as st

from va_app.errors import VAError
from va_app.services import feed_reads, reads
from va_app.services.access import Action
from va_app.ui import resources, state
from va_app.ui.cards import card_context, card_grid, label_header, show_flash
from va_app.ui.shell import page

page("Active learning", ":material/model_training:")
FEEDS = {
    "positive": "Top positive",
    "negative": "Top negative",
    "borderline": "Borderline",
    "random": "Random",
}
app = resources.services()
label = state.require_label("Active learning")

left, mid, right = st.columns([2, 2, 3], vertical_alignment="bottom")
n = int(left.number_input("Shots per feed", 4, 100, 20, step=4, key="feed_size"))
hide = mid.toggle(
    "Hide labelled shots",
    key="hide_labelled",
    help="Off (the paper's default): labelled shots stay in the feeds with their label.",
)
if right.button(
    "Build",
    type="primary",
    icon=":material/model_training:",
    key="build",
    shortcut="B",
    disabled=not state.may(Action.BUILD),
    help="Train on the labels so far (key: B)",
):
    with st.status(
        "Building: fit, cross-validate, score every shot, pick feeds …", expanded=False
    ) as status:
        try:
            outcome = app.modelling.build(state.current_user(), label, n=n, hide_labelled=hide)
            status.update(
                label=f"Built version {outcome.version.version} in "
                f"{outcome.result.build_ms:.0f} ms",
                state="complete",
            )
        except VAError as exc:
            status.update(label="Build failed", state="error")
            st.error(str(exc))


def before_first_build() -> None:
    need_pos, need_neg = reads.first_build_needs(app)
    st.info(
        f"Press **Build** once you have labelled {need_pos} positives and {need_neg} "
        "negatives. Until then, label the shots "
        "the label's words find *by meaning* — the best match, then shots further down the "
        "ranking, near misses among them — and some random ones: the first model then sees "
        "more than one corner of the concept.",
        icon=":material/lightbulb:",
    )
    tabs = st.tabs(["By meaning", "Random"])
    for tab, source in zip(tabs, ("meaning", "random"), strict=True):
        with tab:
            ids = first_shots(source)
            context = card_context(label, source=source, key=f"feed-{source}")
            card_grid(reads.shots(app, ids), context, need=(need_pos, need_neg))


def first_shots(source: str) -> list[str]:
    """The shots a tab offers before the first build (the label's words may find nothing)."""
    if source == "random":
        return feed_reads.random_shots(app, label, n=n, hide_labelled=hide)
    try:
        return feed_reads.meaning_shots(app, label, n=n)
    except VAError as exc:
        st.warning(f"{exc}", icon=":material/search_off:")
        return []


@st.fragment
def feeds_view() -> None:
    label_header(label)
    show_flash()
    view = resources.feeds(label, n=n, hide_labelled=hide)
    if view is None:
        before_first_build()
        return
    advice = resources.advice(view.version.label, view.version.version)
    tab_name = {**FEEDS, "search": "Search page"}.get(advice.source, advice.source)
    st.info(
        f"**Suggested next batch: {tab_name}** — {advice.reason}. A suggestion only: "
        "label from any feed you like.",
        icon=":material/tips_and_updates:",
    )
    # Lazy tabs: only the open feed's cards are built and sent, per run and per decision.
    tabs = st.tabs(list(FEEDS.values()), key="feed_tab", on_change="rerun")
    for tab, feed in zip(tabs, FEEDS):
        if tab.open:
            with tab:
                ids = view.feeds[feed]
                card_grid(
                    reads.shots(app, ids),
                    card_context(label, source=feed, key=f"feed-{feed}"),
                    scores=feed_reads.feed_scores(app, view, ids),
                )


feeds_view()

with st.expander("Model versions of this label"):
    versions = reads.versions(app, label)
    if versions:
        st.dataframe(
            [
                {
                    "Version": v.version,
                    "Built": v.created_at,
                    "Positives": v.n_pos,
                    "Negatives": v.n_neg,
                    "Model score": v.model_score,
                    "Data score": v.data_score,
                    "Annotators": ", ".join(v.annotators),
                    "Build ms": round(v.build_ms),
                }
                for v in reversed(versions)
            ],
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("No model built yet.")
