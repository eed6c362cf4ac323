"""App-side benchmark: how long a label click takes server-side on a large corpus.

Runs the real app script through Streamlit's AppTest (no browser): the time of one
``click().run()`` is the server-side cost of persisting the annotation and re-rendering the
page — an upper bound, since AppTest reruns the whole page where a browser click reruns only
the card's fragment. Also checks that clicks and page switches never re-read the matrix.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

APP = str(Path(__file__).resolve().parents[3] / "app.py")


def run_click_bench(data_dir: str | Path, *, label: str, clicks: int = 10) -> dict:
    """Time ``clicks`` label clicks on the active-learning page of an existing corpus."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from va_app.ui import resources

    os.environ["VA_DATA_DIR"] = str(data_dir)
    os.environ["VA_CARD_GRID"] = "buttons"  # AppTest clicks buttons; it runs no JavaScript
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=600)
    at.session_state["annotator"] = "bench"
    at.session_state["label"] = label
    t0 = time.perf_counter()
    at.run()
    at.switch_page("pages/learn.py").run()
    first_load_ms = (time.perf_counter() - t0) * 1000
    loads = resources.services().view.matrix_loads
    times = []
    for i in range(clicks):
        buttons = [b for b in at.button if (b.key or "").startswith("pos:feed-positive:")]
        start = time.perf_counter()
        buttons[i % len(buttons)].click().run()
        times.append((time.perf_counter() - start) * 1000)
    switch_start = time.perf_counter()
    at.switch_page("pages/review.py").run()
    switch_ms = (time.perf_counter() - switch_start) * 1000
    return {
        "app_first_load_ms": round(first_load_ms, 1),
        "click_ms_p50": round(statistics.median(times), 1),
        "click_ms_max": round(max(times), 1),
        "page_switch_ms": round(switch_ms, 1),
        "matrix_reloads_after_first_load": resources.services().view.matrix_loads - loads,
        "click_errors": [e.value for e in at.exception],
        "clicks_timed": len(times),
        "click_note": "AppTest reruns the whole page per click (upper bound); a browser "
        "click reruns only the fragment",
    }


def make_click_bench_corpus(
    data_dir: str | Path, *, shots: int, dim: int = 512, seed: int = 0, database_url: str = ""
) -> str:
    """A synthetic corpus for the click bench (SQL + h5; no Chroma — search falls back to
    exact numpy search), with one label, 10 + 10 annotations and a built model; its catalog
    at ``database_url`` (default: SQLite in the data dir)."""
    from va_app.config import Settings
    from va_app.services.access import SYSTEM
    from va_app.services.bootstrap import bootstrap
    from va_app.store.corpus import Corpus
    from va_app.store.meta import ENCODER_ID
    from va_app.store.schema import ShotRow, VideoRow

    settings = Settings(data_dir=Path(data_dir), encoder="descriptor", database_url=database_url)
    corpus = Corpus(settings)
    rng = np.random.default_rng(seed)
    per_video = 1000
    for v in range(0, shots, per_video):
        key = f"bench{v // per_video:04d}"
        rows = [
            ShotRow(
                id=f"{key}|{i * 24}",
                idx=i,
                start_frame=i * 24,
                end_frame=i * 24 + 24,
                start_s=float(i),
                end_s=float(i + 1),
                fps=24.0,
                cluster=int(rng.integers(0, 10)),
            )
            for i in range(min(per_video, shots - v))
        ]
        video_id = corpus.catalog.begin_video(
            VideoRow(key=key, path=f"/bench/{key}.mp4", title=f"Bench {v}"), rows
        )
        x = rng.normal(size=(len(rows), dim)).astype(np.float32)
        corpus.matrix.append([r.id for r in rows], x, encoder_id="bench:v1")
        corpus.catalog.mark_video_ready(video_id)
    corpus.catalog.set_meta(ENCODER_ID, "bench:v1")
    corpus.close()
    app = bootstrap(settings, corpus=Corpus(settings))
    app.labelling.create_label(SYSTEM, "bench")
    ids = app.view.matrix.ids
    first = [(i, True) for i in ids[:10]] + [(i, False) for i in ids[10:20]]
    app.labelling.record(SYSTEM, "bench", first, source="import", annotator="seed")
    app.modelling.build(SYSTEM, "bench")
    app.close()
    return "bench"
