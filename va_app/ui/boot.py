"""Make every page run under the entry script's ``st.navigation``.

Streamlit still treats a ``pages/`` folder next to the entry script as its legacy multipage
mode until the entry script has called ``st.navigation`` once in the server process: the first
deep link after a server start (``/search``) would run the page alone — no sidebar, no demo
build. A page that finds itself run that way switches the process to ``st.navigation`` routing
and reruns; the rerun goes through ``app.py`` and lands on the same page (same url path).
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

ENTRY_RAN = "_entry_script_ran"


def mark_entry_script() -> None:
    """Called by app.py on every run, before ``st.navigation``."""
    st.session_state[ENTRY_RAN] = True


def require_entry_script() -> None:
    """Called first by every page script."""
    if not st.session_state.pop(ENTRY_RAN, False):
        PagesManager.uses_pages_directory = False
        st.rerun()
