"""Home: the corpus at a glance, the labels, and managing them (create, edit, delete)."""

import streamlit as st

from va_app.encoders import encoder_status_line
from va_app.errors import VAError
from va_app.services.access import Action
from va_app.ui import resources, state
from va_app.ui.cards import show_flash
from va_app.ui.navigation import run_through_app

run_through_app()  # a deep link on a fresh server: run app.py first

ws = resources.workspace()
st.title("Video Annotator")
st.caption("Build a classifier for a visual concept of your own: search, label, build, repeat.")
show_flash()

info = ws.describe()  # the app's open corpus: no new connections per rerun
cols = st.columns(4)
cols[0].metric("Videos", info["videos"])
cols[1].metric("Shots", info["shots"])
cols[2].metric("Labels", info["labels"])
cols[3].metric("Annotations", info["annotations"])
st.caption(encoder_status_line(info["encoder"], resources.encoder()))
if info["skipped"]:
    with st.expander(f"{len(info['skipped'])} files were skipped at ingest"):
        st.dataframe(info["skipped"], hide_index=True, width="stretch")

left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("Labels")
    rows = ws.label_summaries()
    if rows:
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
    else:
        st.info("No labels yet: create the first one on the right.")


def _create_label() -> None:
    """Form callback: runs before the page, so it may open the new label in the sidebar."""
    try:
        label = ws.create_label(
            st.session_state["new_label_name"],
            description=st.session_state["new_label_description"],
            hints=st.session_state["new_label_hints"],
            created_by=state.annotator(),
            user=state.current_user(),
        )
    except VAError as exc:
        st.session_state["_flash"] = ("error", str(exc))
        return
    st.session_state[state.LABEL] = label.name
    state.sync_query_params()
    st.session_state["_flash"] = (
        "success",
        f"Created {label.name!r} — it is now the open label. Next: find examples on **Search**.",
    )


with right:
    st.subheader("New label")
    if not state.may(Action.CREATE_LABEL):
        st.info("Your role cannot create labels; ask an admin.", icon=":material/lock:")
    else:
        with st.form("new-label", clear_on_submit=True, border=True):
            st.text_input(
                "Name", key="new_label_name", placeholder="e.g. golden hour", max_chars=80
            )
            st.text_area(
                "What counts as positive?",
                key="new_label_description",
                placeholder="Guidelines for annotators: what is in, what is out.",
            )
            st.text_input(
                "Search hints (optional)",
                key="new_label_hints",
                placeholder="words to try in search, e.g. sunset, warm light",
            )
            st.form_submit_button("Create label", type="primary", on_click=_create_label)


def _edit_label(name: str) -> None:
    try:
        ws.edit_label(
            name,
            description=st.session_state[f"edit_description:{name}"],
            hints=st.session_state[f"edit_hints:{name}"],
            user=state.current_user(),
        )
    except VAError as exc:
        st.session_state["_flash"] = ("error", str(exc))
        return
    st.session_state["_flash"] = ("success", f"Saved the guidelines and hints of {name!r}.")


def _delete_label(name: str) -> None:
    try:
        ws.delete_label(name, user=state.current_user())
    except VAError as exc:
        st.session_state["_flash"] = ("error", str(exc))
        return
    st.session_state[state.LABEL] = None
    state.sync_query_params()
    st.session_state["_flash"] = ("success", f"Deleted {name!r} and all its annotations.")


current = state.current_label()
if current:
    with left.expander(f"Manage “{current}”", icon=":material/settings:"):
        info = ws.label(current)
        if state.may(Action.EDIT_LABEL):
            # Keys per label: switching labels shows that label's text, not the last one typed.
            with st.form(f"edit-label:{current}", border=False):
                st.text_area(
                    "What counts as positive?",
                    value=info.description,
                    key=f"edit_description:{current}",
                    help="The guidelines every annotator of this label reads.",
                )
                st.text_input(
                    "Search hints",
                    value=info.hints,
                    key=f"edit_hints:{current}",
                    help="Shown as the Search page's placeholder.",
                )
                st.form_submit_button(
                    "Save changes", icon=":material/save:", on_click=_edit_label, args=(current,)
                )
        else:
            st.markdown(
                f"**Guidelines:** {info.description or '—'}  \n**Search hints:** "
                f"{info.hints or '—'}"
            )
        can_delete = state.may(Action.DELETE_LABEL)
        sure = st.checkbox(
            "Yes, delete this label with all its annotations and models",
            key="confirm_delete",
            disabled=not can_delete,
        )
        st.button(
            "Delete label",
            key="delete_label",
            icon=":material/delete:",
            disabled=not (can_delete and sure),
            on_click=_delete_label,
            args=(current,),
            help=None if can_delete else "Only admins can delete labels.",
        )
