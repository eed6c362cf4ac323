"""Session state: who is annotating and which label is open.

Both are mirrored into the URL's query parameters, so a reload (or a bookmarked link) comes
back to the same label as the same annotator. Everything else a user does is written through
to the store at once; session state is only a cache.
"""

from __future__ import annotations

import streamlit as st

from va_app.services.access import Action, User
from va_app.ui import resources

ANNOTATOR = "annotator"
LABEL = "label"


PENDING_LABEL = "_pending_label"


def init_state() -> None:
    """Call first on every run, before the sidebar's widgets exist."""
    params = st.query_params
    st.session_state.setdefault(ANNOTATOR, params.get(ANNOTATOR, ""))
    st.session_state.setdefault(LABEL, params.get(LABEL) or None)
    if PENDING_LABEL in st.session_state:
        st.session_state[LABEL] = st.session_state.pop(PENDING_LABEL)
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


def set_label(name: str | None) -> None:
    """Open another label from the next run on (the sidebar's widget owns the key now)."""
    st.session_state[PENDING_LABEL] = name


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
