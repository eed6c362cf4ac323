"""The per-title timeline's data and figure, on a small corpus written out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from va_app.reports import timeline as tl

# Two titles (video ids 7 and 3, catalog order 7 first) and an empty one; shots out of order.
VIDEOS = [(7, "alpha", "Alpha", "", []), (3, "beta", "", "", []), (9, "gamma", "Gamma", "", [])]
SHOTS = [
    ("beta|50", 3, 2.0, 3.0),
    ("alpha|0", 7, 0.0, 1.5),
    ("alpha|72", 7, 3.0, 4.0),  # a gap from 1.5 to 3.0 (a cut list left it out)
    ("beta|0", 3, 0.0, 2.0),
    ("alpha|36", 7, 1.5, 1.5 + 1e-9),
]
MATRIX_IDS = ["beta|0", "alpha|0", "alpha|36", "alpha|72", "beta|50"]


@pytest.fixture
def times() -> tl.ShotTimes:
    return tl.build_shot_times(VIDEOS, SHOTS, MATRIX_IDS)


def test_shots_are_grouped_by_title_in_time_order_with_their_matrix_rows(times):
    assert times.video_keys == ["alpha", "beta", "gamma"]
    assert times.titles == ["Alpha", "beta", "Gamma"]  # no title: the key
    assert list(times.bounds) == [0, 3, 5, 5]
    assert list(times.shot_ids) == ["alpha|0", "alpha|36", "alpha|72", "beta|0", "beta|50"]
    assert list(times.matrix_rows) == [1, 2, 3, 0, 4]
    assert list(times.durations()) == [4.0, 3.0, 0.0]


def test_scores_and_labels_land_on_their_shots(times):
    scores = tl.shot_scores(times, np.array([0.1, 0.2, 0.3, 0.9, 0.5]))
    assert list(scores) == [0.2, 0.3, 0.9, 0.1, 0.5]
    assert np.isnan(tl.shot_scores(times, None)).all()
    labels = tl.shot_labels(times, positives=["alpha|72", "gone|1"], negatives=["beta|0"], ties=[])
    assert list(labels) == [tl.UNLABELLED, tl.UNLABELLED, tl.POSITIVE, tl.NEGATIVE, tl.UNLABELLED]


def test_the_summary_says_per_title_what_is_labelled_and_where_the_model_finds_the_label(times):
    scores = tl.shot_scores(times, np.array([0.1, 0.2, 0.3, 0.9, 0.5]))
    labels = tl.shot_labels(times, positives=["alpha|72"], negatives=["beta|0"], ties=[])
    summary = tl.title_summaries(times, scores, labels, threshold=0.5).set_index("video")
    alpha, beta, gamma = (summary.loc[k] for k in ("alpha", "beta", "gamma"))
    assert (alpha.shots, alpha.labelled, alpha.positives, alpha.over_threshold) == (3, 1, 1, 1)
    assert alpha.runtime_over_threshold == 0.25 and alpha.first_over_threshold_s == 3.0
    assert (beta.negatives, beta.over_threshold, beta.runtime_over_threshold) == (1, 1, 0.333)
    assert gamma.shots == 0 and np.isnan(gamma.first_over_threshold_s)


def test_pages_of_titles_sort_find_and_clamp(times):
    scores = tl.shot_scores(times, np.array([0.1, 0.2, 0.3, 0.9, 0.5]))
    labels = tl.shot_labels(times, positives=[], negatives=["beta|0"], ties=[])
    summary = tl.title_summaries(times, scores, labels, threshold=0.25)
    assert tl.page_of_titles(summary, page=1, per_page=2) == ([0, 1], 2)
    assert tl.page_of_titles(summary, page=9, per_page=2) == ([2], 2)
    assert tl.page_of_titles(summary, page=1, per_page=5, sort="positives")[0] == [0, 1, 2]
    assert tl.page_of_titles(summary, page=1, per_page=5, sort="labelled")[0] == [0, 2, 1]
    assert tl.page_of_titles(summary, page=1, per_page=5, find="GAM") == ([2], 1)


def test_a_strip_is_one_heatmap_row_with_empty_cells_in_its_gaps(times):
    scores = tl.shot_scores(times, np.array([0.1, 0.2, 0.3, 0.9, 0.5]))
    labels = tl.shot_labels(times, positives=[], negatives=[], ties=[])
    (alpha,) = tl.title_strips(times, scores, labels, [0])
    edges, values = tl.strip_cells(alpha)
    assert list(edges) == pytest.approx([0.0, 1.5, 1.5, 3.0, 4.0])
    assert values[:2].tolist() == [0.2, 0.3] and np.isnan(values[2]) and values[3] == 0.9


def test_the_colours_step_at_the_threshold():
    assert tl.colour_scale(0.7) == [
        [0.0, tl.BELOW_COLOURS[0]],
        [0.7, tl.BELOW_COLOURS[1]],
        [0.7, tl.ABOVE_COLOURS[0]],
        [1.0, tl.ABOVE_COLOURS[1]],
    ]
    assert tl.colour_scale(0.0)[0] == [0.0, tl.ABOVE_COLOURS[0]]
    assert tl.colour_scale(1.0)[-1] == [1.0, tl.BELOW_COLOURS[1]]


def test_the_figure_draws_every_shot_clickable_and_rings_the_picked_one(times):
    scores = tl.shot_scores(times, np.array([0.1, 0.2, 0.3, 0.9, 0.5]))
    labels = tl.shot_labels(times, positives=["alpha|72"], negatives=["beta|0"], ties=[])
    strips = tl.title_strips(times, scores, labels, [0, 1])
    fig = tl.timeline_figure(strips, threshold=0.5, label="night", selected="beta|50")
    kinds = [t.type for t in fig.data]
    assert kinds.count("heatmap") == 2 and kinds.count("scattergl") == 6
    clickable = [t for t in fig.data if t.name == "shots"]
    assert [list(t.customdata) for t in clickable] == [
        ["alpha|0", "alpha|36", "alpha|72"],
        ["beta|0", "beta|50"],
    ]
    assert "3:00.0" not in clickable[0].text[0] and clickable[1].text[0].startswith("0:00.0–0:02.0")
    assert [list(t.customdata) for t in fig.data if t.name == "positive"] == [["alpha|72"], []]
    (ring,) = fig.layout.shapes
    assert (ring.x0, ring.x1) == (2.0, 3.0) and ring.xref == "x2"
    assert [a.text.split(" · ")[0] for a in fig.layout.annotations] == [
        "<b>Alpha</b>",
        "<b>beta</b>",
    ]
    assert "red: ≥ 0.50" in fig.layout.title.text


def test_without_a_model_the_strips_are_plain_and_the_title_says_so(times):
    labels = tl.shot_labels(times, positives=["alpha|0"], negatives=[], ties=[])
    strips = tl.title_strips(times, tl.shot_scores(times, None), labels, [0])
    fig = tl.timeline_figure(strips, threshold=0.5)
    assert "no model yet" in fig.layout.title.text
    (heat,) = [t for t in fig.data if t.type == "heatmap"]
    assert heat.showscale is False
    assert np.isnan(heat.z[0][2]) and [heat.z[0][i] for i in (0, 1, 3)] == [0.5] * 3  # the gap


def test_the_cards_of_a_click_are_the_shot_and_the_ones_after_it_in_its_title(times):
    assert tl.neighbours(times, "alpha|36", n=8) == ["alpha|36", "alpha|72"]
    assert tl.neighbours(times, "nope", n=8) == []
    assert tl.step(times, "alpha|0", by=8) == "alpha|72"  # not into the next title
    assert tl.step(times, "beta|50", by=-8) == "beta|0"


def test_clock_reads_like_an_editor_writes_time():
    assert tl.clock(3.25) == "0:03.2" and tl.clock(3725.0) == "1:02:05.0"
    assert tl.clock(61, tenths=False) == "1:01"
    times = [0.0, 3.25, 59.94, 61.0, 3599.9, 3725.0, 10_800.5]
    assert tl.clocks(np.array(times)) == [tl.clock(t) for t in times]


def test_the_timeline_bench_reports_every_figure_at_a_tiny_size():
    from va_app.research.bench.timeline import _scenario, summary_lines

    result = _scenario(3, 40, repeats=1, seed=0)
    assert (result["titles"], result["shots_per_title"], result["page_shots"]) == (3, 40, 120)
    timings = ("shot_times_ms", "overlay_ms", "figure_ms", "json_ms", "reference_ms")
    assert all(result[k] > 0 for k in timings) and result["json_mb"] > 0
    assert result["figure_vs_reference"] > 1  # strips, marks and hover text cost more
    assert "3 titles × 40 shots" in summary_lines([result])[0]
