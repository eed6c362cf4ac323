"""Deep links into ``pages/`` run through ``app.py``, also on a freshly started server.

Streamlit decides once per server process, when the first session starts, whether the app is
a legacy multipage app: a ``pages/`` folder beside the entry script means yes
(``PagesManager.uses_pages_directory``), and until ``st.navigation`` runs it serves a deep link
(``/search``) by running ``pages/search.py`` alone — no sidebar, no annotator, no shared
state. The first ``st.navigation`` call turns the legacy mode off for the process. So a page
that finds itself run in legacy mode turns it off and reruns: the rerun goes through
``app.py`` (sidebar, navigation) and lands on the same page, with the URL's query intact.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def run_through_app() -> None:
    """Call first in every page script (``pages/*.py``)."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
