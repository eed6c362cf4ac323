"""Session state: who is annotating, which label is open, and the example of "more like this".

The annotator and the label are mirrored into the URL's query parameters, so a reload (or a
bookmarked link) comes back to the same label as the same annotator. The sidebar's widgets
that hold them exist on every page (each page is its own script, so Streamlit would forget a
widget's value when the page changes): their values are kept under keys of their own
(:func:`keep`) and handed back to the widgets by :func:`init_state`, as Streamlit's multipage
guide shows. Everything else a user does is written through to the store
at once; session state is only a cache.
"""

from __future__ import annotations

import streamlit as st

from va_app.services.access import Action, User
from va_app.ui import resources

ANNOTATOR = "annotator"
LABEL = "label"
# Each page is its own script, and Streamlit forgets a widget's value when the page changes:
# the sidebar's values are kept under keys no widget owns (Streamlit's multipage guide).
_KEPT = {ANNOTATOR: "_kept_annotator", LABEL: "_kept_label"}
#: The shot whose look-alikes Search shows ("more like this"), and the page of results.
SIMILAR_TO = "similar_to"
SEARCH_PAGE = "search_page"


def init_state() -> None:
    """Call first on every page, before the sidebar's widgets exist: the widgets start from
    the kept values (a session's first run: the URL's, or what a test set)."""
    params = st.query_params
    for key in (ANNOTATOR, LABEL):
        kept = _KEPT[key]
        if kept not in st.session_state:
            st.session_state[kept] = st.session_state.get(key) or params.get(key) or None
        st.session_state[key] = st.session_state[kept] or ("" if key == ANNOTATOR else None)


def keep(key: str) -> None:
    """A sidebar widget's ``on_change``: keep its new value for the other pages and the URL."""
    st.session_state[_KEPT[key]] = st.session_state.get(key)
    sync_query_params()


def current_user() -> User:
    """Local mode: the typed name, as admin. Otherwise the signed-in identity (OIDC via
    ``st.login``) with its role from settings, or an anonymous user of the default role."""
    policy = resources.policy()
    if policy.local_mode:
        return policy.user_for(None, (st.session_state.get(ANNOTATOR) or "").strip())
    if signed_in():
        return policy.user_for(st.user.to_dict())
    return policy.anonymous()


def signed_in() -> bool:
    try:
        return bool(st.user.is_logged_in)
    except Exception:  # noqa: BLE001 — no auth configured: nobody is signed in
        return False


def annotator() -> str:
    """The name stored with every annotation this session makes."""
    user = current_user()
    if resources.policy().local_mode:
        return user.name
    return user.annotator if signed_in() else ""


def may(action: Action, *, owner: str | None = None) -> bool:
    return resources.policy().allowed(current_user(), action, owner=owner)


def current_label() -> str | None:
    return st.session_state.get(LABEL) or None


def open_label(name: str | None) -> None:
    """Open ``name`` (None: no label) — from a callback, before the sidebar is drawn."""
    st.session_state[LABEL] = name
    keep(LABEL)


def show_similar(shot_id: str) -> None:
    """Search for shots like ``shot_id`` ("more like this"), from the first page of results."""
    st.session_state[SIMILAR_TO] = shot_id
    st.session_state[SEARCH_PAGE] = 0


def sync_query_params() -> None:
    for key in (ANNOTATOR, LABEL):
        value = st.session_state.get(key)
        if value:
            st.query_params[key] = value
        elif key in st.query_params:
            del st.query_params[key]


def require_label(title: str) -> str:
    """The page title, then the open label — or a pointer to pick one, and the page stops."""
    st.title(title)
    label = current_label()
    if not label:
        st.info("Pick a label in the sidebar, or create one on Home.", icon=":material/label:")
        st.stop()
    return label
