"""Home's label forms: create a label, edit its guidelines and hints, delete it — each a form
whose callback calls one action and leaves a message for the next run."""

from __future__ import annotations

import streamlit as st

from va_app.errors import VAError
from va_app.services import reads
from va_app.services.access import Action
from va_app.ui import resources, state
from va_app.ui.cards import flash


def _create_label() -> None:
    """Form callback: runs before the page, so it may open the new label in the sidebar."""
    try:
        label = resources.services().labelling.create_label(
            state.current_user(),
            st.session_state["new_label_name"],
            description=st.session_state["new_label_description"],
            hints=st.session_state["new_label_hints"],
            created_by=state.annotator(),
        )
    except VAError as exc:
        flash("error", str(exc))
        return
    state.open_label(label.name)
    flash(
        "success",
        f"Created {label.name!r} — it is now the open label. Next: find examples on **Search**.",
    )


def _edit_label(name: str) -> None:
    try:
        resources.services().labelling.edit_label(
            state.current_user(),
            name,
            description=st.session_state[f"edit_description:{name}"],
            hints=st.session_state[f"edit_hints:{name}"],
        )
    except VAError as exc:
        flash("error", str(exc))
        return
    flash("success", f"Saved the guidelines and hints of {name!r}.")


def _delete_label(name: str) -> None:
    try:
        resources.services().labelling.delete_label(state.current_user(), name)
    except VAError as exc:
        flash("error", str(exc))
        return
    state.open_label(None)
    flash("success", f"Deleted {name!r} and all its annotations.")


def new_label_form() -> None:
    st.subheader("New label")
    if not state.may(Action.CREATE_LABEL):
        st.info("Your role cannot create labels; ask an admin.", icon=":material/lock:")
        return
    with st.form("new-label", clear_on_submit=True, border=True):
        st.text_input("Name", key="new_label_name", placeholder="e.g. golden hour", max_chars=80)
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


def manage_label(app, name: str) -> None:
    info = reads.label(app, name)
    if state.may(Action.EDIT_LABEL):
        # Keys per label: switching labels shows that label's text, not the last one typed.
        with st.form(f"edit-label:{name}", border=False):
            st.text_area(
                "What counts as positive?",
                value=info.description,
                key=f"edit_description:{name}",
                help="The guidelines every annotator of this label reads.",
            )
            st.text_input(
                "Search hints",
                value=info.hints,
                key=f"edit_hints:{name}",
                help="Shown as the Search page's placeholder.",
            )
            st.form_submit_button(
                "Save changes", icon=":material/save:", on_click=_edit_label, args=(name,)
            )
    else:
        st.markdown(
            f"**Guidelines:** {info.description or '—'}  \n**Search hints:** {info.hints or '—'}"
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
        args=(name,),
        help=None if can_delete else "Only admins can delete labels.",
    )
