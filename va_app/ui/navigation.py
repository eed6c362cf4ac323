"""Deep links into ``pages/`` run through ``app.py``, also on a freshly started server.

Streamlit decides once per server process, when the first session starts, whether the app is
a legacy multipage app: a ``pages/`` folder beside the entry script means yes
(``PagesManager.uses_pages_directory``), and until ``st.navigation`` runs it serves a deep link
(``/search``) by running ``pages/search.py`` alone — no sidebar, no annotator, no shared
state. The first ``st.navigation`` call turns the legacy mode off for the process. So a page
that finds itself run in legacy mode turns it off and runs ``app.py`` in its place, in the
same script run: ``app.py`` builds the sidebar and the navigation, which runs this page again
(now in the normal mode) — with the URL's query and the run's widget events intact (a rerun
would drop a click that came with this run).

A legacy run executes app.py as a page, under that page's script hash, and Streamlit puts the
active script hash into every widget's id: the sidebar's widgets would get other ids than in
the normal runs that follow, and lose what was typed into them on the next run.
:func:`main_script_identity` gives app.py the id-space of a normal run in both modes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx


def run_through_app() -> None:
    """Call first in every page script (``pages/*.py``)."""
    if not PagesManager.uses_pages_directory:
        return
    PagesManager.uses_pages_directory = False
    main = Path(get_script_run_ctx().pages_manager.main_script_path)
    code = compile(main.read_text(encoding="utf-8"), str(main), "exec")
    exec(code, {"__name__": "__main__", "__file__": str(main)})  # noqa: S102 — our app.py
    st.stop()


@contextmanager
def main_script_identity() -> Iterator[None]:
    """Run the block with the main script's hash as the active script hash, as a normal
    (non-legacy) run of ``app.py`` has: widget ids stay the same from the first run on."""
    ctx = get_script_run_ctx()
    if ctx is None:  # not inside a Streamlit run (bare import)
        yield
        return
    with ctx.run_with_active_hash(ctx.pages_manager.main_script_hash):
        yield
