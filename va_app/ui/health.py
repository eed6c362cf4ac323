"""What the app says about a damaged corpus on open: each problem and its fix, not a traceback.

:func:`guard_corpus` runs before anything opens the corpus (every page, through
:func:`va_app.ui.shell.page`). It runs the quick check (:func:`va_app.services.health.check`:
the catalog's ``quick_check``, the matrix's header and count, the index's folder and count). A
damaged catalog or matrix stops the page with what is wrong and what fixes it — the app must
not open it: opening sets an unreadable matrix aside and would show an empty corpus. Derived
data (the index, thumbnails) only warns: the app works without it and rebuilds a small index
itself. A corpus found healthy is not checked again by this server process.
"""

from __future__ import annotations

import streamlit as st

from va_app.services import health
from va_app.ui import resources


@st.cache_resource(show_spinner=False)
def _healthy() -> set[str]:
    """Data directories this server process found healthy (checked once each)."""
    return set()


def guard_corpus() -> None:
    """Check the corpus before the app opens it; stop the run while it cannot be opened."""
    settings = resources.settings()
    where = str(settings.data_dir)
    if where in _healthy():
        return
    with st.spinner("Checking the corpus …"):
        report = health.check(settings, quick=True)
    blocking = [p for p in report.problems if p.blocks_app]
    if blocking:
        _explain(blocking, where)
        st.stop()
    for problem in report.problems:
        st.warning(
            f"**{problem.part}**: {problem.what}. Fix: {problem.fix}.", icon=":material/build:"
        )
    if report.ok:
        _healthy().add(where)


def _explain(problems: list[health.Problem], where: str) -> None:
    st.title("Video Annotator")
    st.error(
        f"The corpus in `{where}` cannot be opened: nothing was changed. "
        "Fix what is listed here, then reload this page.",
        icon=":material/report:",
    )
    for problem in problems:
        st.markdown(f"**{problem.part}** — {problem.what}\n\n*Fix:* {problem.fix}")
    st.caption("`python -m va_app check` lists every problem of the corpus and its fix.")
