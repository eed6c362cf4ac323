"""What every page shares: its set-up, the corpus's health on open, the demo on an empty
corpus, and the sidebar.

The app is a Streamlit multipage app in its native form: the entry script (``app.py``) is the
Home page and every script in ``pages/`` is another page, each at its own URL (``/search``,
``/learn``, ...), so a deep link works on a freshly started server too. Each page calls
:func:`page` first. The sidebar's navigation is Streamlit's public ``st.page_link`` (the
default list of pages is hidden in ``.streamlit/config.toml``), so every page has its title and
icon.
"""

from __future__ import annotations

import streamlit as st

from va_app.errors import VAError
from va_app.services import jobs, reads
from va_app.services.access import SYSTEM
from va_app.ui import health, resources, state

#: The pages in the sidebar: script, title, icon (``app.py`` is Home).
PAGES = (
    ("app.py", "Home", ":material/home:"),
    ("pages/search.py", "Search", ":material/search:"),
    ("pages/learn.py", "Active learning", ":material/model_training:"),
    ("pages/review.py", "Review", ":material/fact_check:"),
    ("pages/dashboard.py", "Dashboard", ":material/monitoring:"),
    ("pages/timeline.py", "Timeline", ":material/view_timeline:"),
)


def page(title: str, icon: str) -> None:
    """Call first in every page script: page config, session state, the corpus's health check,
    the demo corpus when the data directory is empty, the sidebar. Stops the page (with the
    reason) when the corpus cannot be opened — whichever page is opened first says what is
    damaged and how to fix it, not a traceback."""
    st.set_page_config(page_title=f"{title} · Video Annotator", page_icon=icon, layout="wide")
    try:
        state.init_state()
        health.guard_corpus()  # before anything opens the corpus
        build_demo_if_empty()
        sidebar()
    except VAError as exc:
        st.error(str(exc))
        st.stop()


def build_demo_if_empty() -> None:
    # The cached services' catalog: a rerun costs one COUNT, not a new engine and index.
    if not reads.is_empty(resources.services()):
        return
    st.title("Video Annotator")
    st.info("This data directory is empty: building the demo corpus first (about a minute).")
    bar = st.progress(0.0, text="Rendering the demo movies …")

    def progress(done: int, total: int, name: str = "") -> None:
        bar.progress(min(done / max(total, 1), 1.0), text=name or "Working …")

    # The app's own first start, not a visitor's action: it acts as itself.
    jobs.build_demo(resources.settings(), user=SYSTEM, progress=progress)
    st.cache_resource.clear()
    st.rerun()


def sidebar() -> None:
    app = resources.services()
    with st.sidebar:
        for script, title, icon in PAGES:
            st.page_link(script, label=title, icon=icon)
        st.divider()
        if resources.policy().local_mode:
            st.text_input(
                "Your name",
                key=state.ANNOTATOR,
                placeholder="e.g. Ana",
                help="Stored with every annotation you make.",
                on_change=state.keep,
                args=(state.ANNOTATOR,),
            )
            if not state.annotator():
                st.warning("Say who you are to start labelling.", icon=":material/person:")
        else:
            _sign_in_box()
        names = [label.name for label in reads.labels(app)]
        if state.current_label() not in names:
            state.open_label(None)
        st.selectbox(
            "Label",
            names,
            key=state.LABEL,
            index=None,
            placeholder="Pick a label",
            on_change=state.keep,
            args=(state.LABEL,),
        )
        if resources.policy().local_mode:
            st.caption(
                "Local mode: no sign-in; anyone who can open this page can annotate. "
                "See README › Access control to require sign-in."
            )
    state.sync_query_params()  # a page switch clears the URL's query: who, which label


def _sign_in_box() -> None:
    user = state.current_user()
    if state.signed_in():
        st.markdown(f"Signed in as **{user.name or user.email}** · {user.role.value}")
        st.button("Sign out", key="logout", on_click=st.logout)
        return
    st.info(
        f"Not signed in: you can look ({user.role.value}) but not change anything.",
        icon=":material/lock:",
    )
    try:
        st.button("Sign in", key="login", type="primary", on_click=st.login)
    except Exception as exc:  # noqa: BLE001 — sign-in not configured in secrets.toml
        st.error(f"Sign-in is not configured ({exc}); see README › Access control.")
