"""Video Annotator — Streamlit entry script (``streamlit run app.py``).

Builds the demo corpus into an empty data directory (with a progress bar), renders the shared
sidebar (who you are, which label), then runs the selected page. The page scripts live in
``pages/``; Streamlit treats that folder as a legacy multipage app until ``st.navigation``
first runs, so each page starts with :func:`va_app.ui.navigation.run_through_app`, which makes
a deep link on a fresh server run through this script too.

``streamlit run app.py`` finds the ``st.App`` below and serves it: Streamlit's own server plus
the card grid's decision endpoint (:mod:`va_app.ui.grid.endpoint`). Streamlit runs this file
as ``__main__`` on every rerun — that is the app; imported by name it is the server.
"""

import streamlit as st

from va_app.errors import VAError
from va_app.ui import resources, state
from va_app.ui.navigation import main_script_identity


def build_demo_if_empty() -> None:
    from va_app.services import jobs

    # The cached workspace's catalog: a rerun costs one COUNT, not a new engine and index.
    if not resources.workspace().is_empty():
        return
    settings = resources.settings()
    st.title("Video Annotator")
    st.info("This data directory is empty: building the demo corpus first (about a minute).")
    bar = st.progress(0.0, text="Rendering the demo movies …")
    # The app's own first start, not a visitor's action: no role is needed for it.
    jobs.build_demo(
        settings,
        user=None,
        progress=lambda done, total, name="": bar.progress(
            min(done / max(total, 1), 1.0), text=name or "Working …"
        ),
    )
    st.cache_resource.clear()
    st.rerun()


def sidebar() -> None:
    ws = resources.workspace()
    with st.sidebar:
        if resources.policy().local_mode:
            st.text_input(
                "Your name",
                key=state.ANNOTATOR,
                placeholder="e.g. Ana",
                help="Stored with every annotation you make.",
                on_change=state.sync_query_params,
            )
            if not state.annotator():
                st.warning("Say who you are to start labelling.", icon=":material/person:")
        else:
            _sign_in_box()
        names = [label.name for label in ws.labels.labels()]
        if state.current_label() not in names:
            st.session_state[state.LABEL] = None
        st.selectbox(
            "Label",
            names,
            key=state.LABEL,
            index=None,
            placeholder="Pick a label",
            on_change=state.sync_query_params,
        )
        if resources.policy().local_mode:
            st.caption(
                "Local mode: no sign-in; anyone who can open this page can annotate. "
                "See README › Access control to require sign-in."
            )


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


def main() -> None:
    st.set_page_config(page_title="Video Annotator", page_icon=":material/movie:", layout="wide")
    # On a fresh server the first run may come as a legacy page (va_app.ui.navigation): run
    # under the main script's identity, so the sidebar's widgets keep their ids (and values).
    with main_script_identity():
        try:
            state.init_state()
            build_demo_if_empty()
            sidebar()
        except VAError as exc:
            st.error(str(exc))
            st.stop()

        pages = [
            st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
            st.Page("pages/search.py", title="Search", icon=":material/search:"),
            st.Page("pages/learn.py", title="Active learning", icon=":material/model_training:"),
            st.Page("pages/review.py", title="Review", icon=":material/fact_check:"),
            st.Page("pages/timeline.py", title="Timeline", icon=":material/view_timeline:"),
            st.Page("pages/dashboard.py", title="Dashboard", icon=":material/monitoring:"),
        ]
        page = st.navigation(pages)
        state.sync_query_params()  # a page switch clears the URL's query: who, which label
        page.run()


if __name__ == "__main__":
    main()
else:
    from va_app.ui.grid.endpoint import routes

    app = st.App(__file__, routes=routes())
