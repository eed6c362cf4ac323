"""Video Annotator — the entry script (``streamlit run app.py``) and its Home page.

A Streamlit multipage app in its native form: this script is Home, each script in ``pages/``
is another page (``/search``, ``/learn``, ``/review``, ``/dashboard``). Home shows the corpus
at a glance and the labels, and manages them (create, edit, delete).

``streamlit run app.py`` finds the ``st.App`` at the bottom and serves it: Streamlit's own
server plus the card grid's routes (:mod:`va_app.ui.grid.endpoint`). Streamlit runs this
file as ``__main__`` for the Home page; imported by name it is the server.
"""

import streamlit as st

from va_app.encoders import encoder_status_line
from va_app.services import reads
from va_app.ui import label_forms, resources, state
from va_app.ui.cards import show_flash
from va_app.ui.shell import page


def corpus_at_a_glance(app) -> None:
    info = reads.corpus_summary(app)  # the app's open corpus: no new connections per rerun
    cols = st.columns(4)
    for col, (title, key) in zip(
        cols,
        (
            ("Videos", "videos"),
            ("Shots", "shots"),
            ("Labels", "labels"),
            ("Annotations", "annotations"),
        ),
    ):
        col.metric(title, info[key])
    st.caption(encoder_status_line(info["encoder"], resources.encoder()))
    if info["skipped"]:
        with st.expander(f"{len(info['skipped'])} files were skipped at ingest"):
            st.dataframe(info["skipped"], hide_index=True, width="stretch")


def label_table(app) -> None:
    st.subheader("Labels")
    rows = reads.label_summaries(app)
    if not rows:
        st.info("No labels yet: create the first one on the right.")
        return
    st.dataframe(
        [
            {
                "Label": r["name"],
                "Positives": r["positives"],
                "Negatives": r["negatives"],
                "Annotators": len(r["annotators"]),
                "Model score": r["model_score"],
                "Data score": r["data_score"],
                "Versions": r["versions"],
            }
            for r in rows
        ],
        hide_index=True,
        width="stretch",
        column_config={
            "Model score": st.column_config.NumberColumn(format="%.2f"),
            "Data score": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    st.caption("Pick a label in the sidebar, then go to **Search** to find examples.")


def home() -> None:
    page("Home", ":material/home:")
    app = resources.services()
    st.title("Video Annotator")
    st.caption("Build a classifier for a visual concept of your own: search, label, build, repeat.")
    show_flash()
    corpus_at_a_glance(app)
    left, right = st.columns([3, 2], gap="large")
    with left:
        label_table(app)
    with right:
        label_forms.new_label_form()
    current = state.current_label()
    if current:
        with left.expander(f"Manage “{current}”", icon=":material/settings:"):
            label_forms.manage_label(app, current)


if __name__ == "__main__":
    home()
else:
    from va_app.ui.grid.endpoint import routes

    app = st.App(__file__, routes=routes())
