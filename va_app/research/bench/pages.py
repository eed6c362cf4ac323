"""Where each page's time goes on a big corpus: the first render of every page, profiled.

:func:`profile_pages` runs the app script through Streamlit's AppTest (no browser) in this
process, with :mod:`cProfile` around each page's run: Home, Search, Active learning, Review,
Dashboard, in that order (the first page pays for opening the corpus), then each page again
(warm). It reports per page the seconds and the functions of this project (``va_app``,
``pages``) that took the most time, cumulative — where a slow page's time goes.

The corpus needs a label with a built model (:func:`prepare_label`).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import threading
import time
from pathlib import Path

APP = str(Path(__file__).resolve().parents[3] / "app.py")
PAGES = {
    "home": "app.py",
    "search": "pages/search.py",
    "learn": "pages/learn.py",
    "review": "pages/review.py",
    "dashboard": "pages/dashboard.py",
}
LABEL = "bench"
#: Functions listed per page (the most cumulative time among this project's own).
TOP = 12


def prepare_label(data_dir: str | Path, *, label: str = LABEL) -> None:
    """A label with 10 + 10 annotations and one build on the corpus (once)."""
    from va_app.config import Settings
    from va_app.errors import VAError
    from va_app.services import reads
    from va_app.services.access import SYSTEM
    from va_app.services.bootstrap import bootstrap

    app = bootstrap(Settings(data_dir=Path(data_dir), encoder="descriptor"))
    try:
        try:
            reads.label(app, label)
            return
        except VAError:
            pass
        app.labelling.create_label(SYSTEM, label)
        ids = reads.shot_ids(app)
        n = len(ids)
        decisions = [(ids[i * (n // 40)], True) for i in range(10)]
        decisions += [(ids[(i + 20) * (n // 40)], False) for i in range(10)]
        app.labelling.record(SYSTEM, label, decisions, source="import", annotator="bench")
        app.modelling.build(SYSTEM, label)
    finally:
        app.close()


def profile_pages(data_dir: str | Path, *, label: str = LABEL, rounds: int = 2) -> dict:
    """``{"first": {page: {...}}, "warm": {...}}``: seconds and top functions per page."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["VA_DATA_DIR"] = str(data_dir)
    os.environ["VA_ENCODER"] = "descriptor"
    os.environ["VA_CARD_GRID"] = "buttons"  # AppTest runs no JavaScript
    os.environ["VA_INDEX_JOB"] = "0"
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=900)
    at.session_state["annotator"] = "bench"
    at.session_state["label"] = label
    out = {}
    for name in ("first", "warm")[:rounds]:
        out[name] = {
            page: _profiled(at, path, first=(name == "first" and page == "home"))
            for page, path in PAGES.items()
        }
    return out


def _profiled(at, path: str, *, first: bool) -> dict:
    """One page run, profiled in the thread AppTest runs the script in."""
    profiles: list[cProfile.Profile] = []

    def start_in_new_thread(frame, event, arg) -> None:
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.enable()  # replaces this hook for the script's thread

    threading.setprofile(start_in_new_thread)
    t0 = time.perf_counter()
    try:
        if first:
            at.run()
        at.switch_page(path).run()
    finally:
        threading.setprofile(None)
    seconds = time.perf_counter() - t0
    return {
        "seconds": round(seconds, 2),
        "errors": [str(e.value)[:200] for e in at.exception],
        "elements": len(list(at.main)) if hasattr(at, "main") else None,
        "headings": [h.value for h in at.title] + [h.value for h in at.header][:3],
        "top": _top(profiles),
    }


def _top(profiles: list[cProfile.Profile]) -> list[tuple[str, float]]:
    if not profiles:
        return []
    stats = pstats.Stats(profiles[0])
    for profile in profiles[1:]:
        stats.add(profile)
    # typeshed leaves out Stats.stats, the per-function table; get_stats_profile() keys by
    # bare function name and would merge same-named functions of different files.
    table = stats.stats  # type: ignore[attr-defined]
    own = []
    for (file, line, func), (_, _, _, cumulative, _) in table.items():
        if "/va_app/" in file or "/pages/" in file:
            short = (
                file.split("/va_app/")[-1]
                if "/va_app/" in file
                else "pages/" + file.split("/pages/")[-1]
            )
            own.append((f"{short}:{line}({func})", round(cumulative, 3)))
    own.sort(key=lambda item: -item[1])
    return own[:TOP]
