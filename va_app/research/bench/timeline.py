"""The timeline page's work at scale: a page of 3-hour titles, and hundreds of titles.

For each scenario a synthetic corpus of ``titles`` × ``shots_per_title`` shots (1–6 s each,
so 3,000 shots make a ~3-hour title) is laid out as :meth:`Catalog.shot_columns` returns it,
and one run measures, as the page does them:

- ``shot_times_ms``: grouping every shot by title in time order, with its matrix row (once per
  corpus version);
- ``overlay_ms``: scores and labels laid over them, the per-title summary and the page of
  titles (every rerun);
- ``figure_ms`` and ``json_ms`` / ``json_mb``: the Plotly figure of one page and its JSON (what
  the browser receives);
- ``reference_ms``: the same page's points as a bare ``Scattergl`` (x, y only) and its JSON —
  Plotly's floor for that many points — and ``figure_vs_reference``, the ratio.

Medians of ``repeats`` runs. ``python -m va_app bench --timeline [--json]``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go

from va_app.reports import timeline as tl

#: (titles, shots per title) measured by default: a page of 3-hour titles; a large catalogue.
SCENARIOS = ((8, 3000), (500, 1000))


def timeline_bench(*, repeats: int = 5, seed: int = 0) -> list[dict]:
    return [
        _scenario(titles, per_title, repeats=repeats, seed=seed) for titles, per_title in SCENARIOS
    ]


def _scenario(titles: int, per_title: int, *, repeats: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    videos, shots, matrix_ids = synthetic_columns(titles, per_title, rng)
    probabilities = rng.random(len(matrix_ids))
    labelled = rng.choice(len(matrix_ids), size=min(400, len(matrix_ids)), replace=False)
    positives = [matrix_ids[i] for i in labelled[::2]]
    negatives = [matrix_ids[i] for i in labelled[1::2]]
    times = tl.build_shot_times(videos, shots, matrix_ids)

    def overlay():
        scores = tl.shot_scores(times, probabilities)
        labels = tl.shot_labels(times, positives=positives, negatives=negatives, ties=[])
        summary = tl.title_summaries(times, scores, labels, threshold=0.5)
        rows, _ = tl.page_of_titles(summary, page=1, sort="positives")
        return tl.title_strips(times, scores, labels, rows)

    strips = overlay()
    figure = tl.timeline_figure(strips, threshold=0.5, label="bench")
    n_points = sum(len(s.shot_ids) for s in strips)
    figure_ms = _median_ms(
        lambda: tl.timeline_figure(strips, threshold=0.5, label="bench"), repeats
    )
    json_ms = _median_ms(figure.to_json, repeats)
    reference_ms = _median_ms(lambda: _reference(n_points).to_json(), repeats)
    return {
        "titles": titles,
        "shots_per_title": per_title,
        "page_shots": n_points,
        "shot_times_ms": _median_ms(
            lambda: tl.build_shot_times(videos, shots, matrix_ids), repeats
        ),
        "overlay_ms": _median_ms(overlay, repeats),
        "figure_ms": figure_ms,
        "json_ms": json_ms,
        "json_mb": round(len(figure.to_json()) / 1e6, 2),
        "reference_ms": reference_ms,
        "figure_vs_reference": round((figure_ms + json_ms) / max(reference_ms, 1e-3), 1),
    }


def _reference(n: int) -> go.Figure:
    x = np.arange(n, dtype=np.float64)
    return go.Figure(go.Scattergl(x=x, y=np.zeros(n), mode="markers"))


def synthetic_columns(titles: int, per_title: int, rng: np.random.Generator):
    """``(videos, shots, matrix ids)`` shaped as the catalog gives them; the matrix in another
    order than the catalog, as after ingests and deletions."""
    videos = [(v + 1, f"title{v:04d}", f"Title {v}", "", []) for v in range(titles)]
    shots = []
    for v in range(titles):
        lengths = rng.uniform(1.0, 6.0, per_title)
        ends = np.cumsum(lengths)
        starts = ends - lengths
        shots += [
            (f"title{v:04d}|{j}", v + 1, float(a), float(b))
            for j, (a, b) in enumerate(zip(starts.tolist(), ends.tolist()))
        ]
    matrix_ids = [s[0] for s in shots]
    rng.shuffle(matrix_ids)
    return videos, shots, matrix_ids


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    runs = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(runs), 1)


def summary_lines(results: list[dict]) -> list[str]:
    return [
        f"{r['titles']} titles × {r['shots_per_title']} shots: shot times {r['shot_times_ms']} ms"
        f" (once per corpus version), overlay + page {r['overlay_ms']} ms, figure of "
        f"{r['page_shots']} shots {r['figure_ms']} ms + JSON {r['json_ms']} ms "
        f"({r['json_mb']} MB); {r['figure_vs_reference']}× a bare Scattergl of the same points"
        for r in results
    ]
