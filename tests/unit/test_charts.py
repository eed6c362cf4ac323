"""Dashboard figures from hand-made analytics frames: data in the traces, empty states."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from va_app.domain import Annotation
from va_app.reports import analytics, charts
from va_app.reports.analytics import Agreement, PairAgreement


def _history() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "version": [1, 2, 3],
            "created_at": [datetime(2026, 1, d) for d in (1, 2, 3)],
            "n_annotations": [20, 45, 80],
            "n_pos": [10, 20, 40],
            "n_neg": [10, 25, 40],
            "model_score": [0.61, 0.74, 0.83],
            "data_score": [0.2, 0.45, 0.7],
        }
    )


def _coverage() -> pd.DataFrame:
    pos, neg = np.array([12, 3, 0, 7]), np.array([2, 15, 4, 0])
    return pd.DataFrame(
        {
            "cluster": range(4),
            "shots": [50, 60, 70, 80],
            "positives": pos,
            "negatives": neg,
            "positives_capped": np.minimum(pos, 10),
            "negatives_capped": np.minimum(neg, 10),
        }
    )


def _map() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    annotation = ["positive"] * 3 + ["negative"] * 2 + ["unlabelled"] * 15
    return pd.DataFrame(
        {
            "x": rng.normal(size=20),
            "y": rng.normal(size=20),
            "shot_id": [f"v|{i}" for i in range(20)],
            "cluster": np.arange(20) % 4,
            "annotation": annotation,
        }
    )


def _activity() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": pd.to_datetime(["2026-01-01", "2026-01-01", "2026-01-02"]),
            "annotator": ["ana", "bo", "ana"],
            "count": [30, 12, 7],
        }
    )


def _distribution(new: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "shot_id": [f"v|{i}" for i in range(100)],
            "probability": rng.random(100),
            "since_model": np.arange(100) < new,
        }
    )
    frame.attrs["version"] = 3
    return frame


def _agreement() -> Agreement:
    pairs = (PairAgreement("ana", "bo", 5, 0.6, 1 / 6), PairAgreement("ana", "cy", 3, 2 / 3, 0.4))
    return Agreement("night", 7, 5, 0.6, 1 / 6, ("ana", "bo"), 71 / 240, pairs)


def _empty_agreement() -> Agreement:
    return Agreement("night", 2, 0, None, None, None, None, ())


def test_score_history_plots_both_scores_per_version_against_labelled_shots():
    fig = charts.score_history_figure(_history(), label="night")
    assert isinstance(fig, go.Figure) and "night" in fig.layout.title.text
    model, data = fig.data
    assert list(model.x) == [20, 45, 80] and list(model.y) == [0.61, 0.74, 0.83]
    assert list(data.y) == [0.2, 0.45, 0.7] and list(model.customdata) == [1, 2, 3]
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    assert any(shape.y0 == 0.8 for shape in fig.layout.shapes)  # the readiness threshold


def test_cluster_coverage_groups_positive_and_negative_bars_under_a_dashed_cap():
    fig = charts.cluster_coverage_figure(_coverage())
    positives, negatives = fig.data
    assert list(positives.y) == [12, 3, 0, 7] and list(negatives.y) == [2, 15, 4, 0]
    assert positives.marker.color == charts.POSITIVE_COLOUR
    assert negatives.marker.color == charts.NEGATIVE_COLOUR
    assert fig.layout.barmode == "group"
    cap = [s for s in fig.layout.shapes if s.y0 == 10]
    assert cap and cap[0].line.dash == "dash"


def test_corpus_map_draws_unlabelled_grey_and_labelled_shots_in_their_colours():
    fig = charts.corpus_map_figure(_map(), label="night")
    by_colour = {trace.marker.color: trace for trace in fig.data}
    assert len(by_colour[charts.POSITIVE_COLOUR].x) == 3
    assert len(by_colour[charts.NEGATIVE_COLOUR].x) == 2
    grey = by_colour[charts.UNLABELLED_COLOUR]
    assert len(grey.x) == 15 and grey.marker.size < by_colour[charts.POSITIVE_COLOUR].marker.size
    assert fig.data[-1].marker.color == charts.POSITIVE_COLOUR  # drawn on top


def test_annotator_activity_stacks_one_bar_series_per_annotator():
    fig = charts.annotator_activity_figure(_activity())
    assert fig.layout.barmode == "stack"
    counts = {trace.name: list(trace.y) for trace in fig.data}
    assert counts == {"ana": [30, 7], "bo": [12]}


@pytest.mark.parametrize("new", [0, 10])
def test_score_distribution_compares_the_corpus_with_shots_added_since_the_model(new):
    fig = charts.score_distribution_figure(_distribution(new), label="night")
    assert "v3" in fig.layout.title.text
    # Bars of the bins' shares (not one point per shot): each group sums to 100 %.
    assert fig.data[0].type == "bar" and "(100)" in fig.data[0].name
    assert sum(fig.data[0].y) == pytest.approx(100) and len(fig.data[0].x) == 20
    if new:
        assert len(fig.data) == 2 and f"({new})" in fig.data[1].name
        assert sum(fig.data[1].y) == pytest.approx(100)
    else:
        assert len(fig.data) == 1
        assert any("no shots added" in a.text for a in fig.layout.annotations)


def test_the_pairs_table_gives_rate_and_kappa_per_pair_most_shared_first():
    table = _agreement().pairs_table()
    assert list(table.agreement_rate) == pytest.approx([0.6, 2 / 3])
    assert list(table.cohen_kappa) == pytest.approx([1 / 6, 0.4])
    assert (table.annotator_a[0], table.annotator_b[0], table.n_shared[0]) == ("ana", "bo", 5)


def _two_days() -> list[Annotation]:
    """Day 1: ana and bo agree on s1, disagree on s2; cy labels s1 like them. Day 2 (one
    click at 23:59, one the next morning's 00:00 = day 3): bo changes his mind on s2, and
    ana and bo disagree on s3."""

    def word(shot, value, who, day, hour=9, minute=0):
        return Annotation(
            "night", shot, value, who, created_at=datetime(2026, 1, day, hour, minute)
        )

    return [
        word("s1", True, "ana", 1),
        word("s1", True, "bo", 1),
        word("s2", True, "ana", 1),
        word("s2", False, "bo", 1),
        word("s1", True, "cy", 1, 23, 59),
        word("s2", True, "bo", 2, 23, 59),  # bo now agrees on s2
        word("s3", True, "ana", 3, 0, 0),
        word("s3", False, "bo", 3, 0, 0),
    ]


def test_agreement_over_time_gives_each_pair_its_agreement_as_of_each_days_end():
    frame = analytics.agreement_over_time(reversed(_two_days()))  # any order: by time
    assert list(frame.columns) == analytics.AGREEMENT_HISTORY_COLUMNS
    rows = {
        (r.annotator_a, r.annotator_b, r.day.day): (r.n_shared, r.agreement_rate)
        for r in frame.itertuples()
    }
    assert rows == {
        ("ana", "bo", 1): (2, 0.5),
        ("ana", "bo", 2): (2, 1.0),
        ("ana", "bo", 3): (3, 2 / 3),
        ("ana", "cy", 1): (1, 1.0),
        ("ana", "cy", 2): (1, 1.0),
        ("ana", "cy", 3): (1, 1.0),
        ("bo", "cy", 1): (1, 1.0),
        ("bo", "cy", 2): (1, 1.0),
        ("bo", "cy", 3): (1, 1.0),
    }
    # The last day is today's agreement, as the dashboard's pairs table has it.
    today = analytics.agreement_from_votes(
        {
            "s1": {"ana": True, "bo": True, "cy": True},
            "s2": {"ana": True, "bo": True},
            "s3": {"ana": True, "bo": False},
        }
    )
    last = frame[frame.day == frame.day.max()]
    assert list(last.agreement_rate) == [p.agreement_rate for p in today.pairs]


def test_agreement_over_time_figure_draws_one_line_per_pair():
    fig = charts.agreement_over_time_figure(
        analytics.agreement_over_time(_two_days()), label="night"
    )
    assert [t.name for t in fig.data] == ["ana & bo", "ana & cy", "bo & cy"]
    assert list(fig.data[0].y) == pytest.approx([0.5, 1.0, 2 / 3])
    assert len(fig.data[0].x) == 3 and "night" in fig.layout.title.text
    fig.to_json()


def _reliability() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "scores": ["raw"] * 2 + ["calibrated"] * 3,
            "bin": [4, 6, 0, 5, 9],
            "count": [20, 20, 18, 4, 18],
            "mean_predicted": [0.4, 0.6, 0.03, 0.5, 0.97],
            "observed": [0.0, 1.0, 0.0, 0.5, 1.0],
        }
    )
    frame.attrs.update(
        version=2,
        n=40,
        ece={"raw": 0.4, "calibrated": 0.03},
        brier={"raw": 0.16, "calibrated": 0.01},
    )
    return frame


def test_reliability_curve_draws_raw_and_calibrated_points_against_the_diagonal():
    fig = charts.reliability_figure(_reliability())
    diagonal, raw, calibrated = fig.data
    assert list(diagonal.x) == [0, 1] and list(diagonal.y) == [0, 1]
    assert list(raw.x) == [0.4, 0.6] and list(raw.y) == [0.0, 1.0]
    assert list(calibrated.x) == [0.03, 0.5, 0.97] and list(calibrated.customdata) == [18, 4, 18]
    assert "ECE 0.030" in calibrated.name and "ECE 0.400" in raw.name
    assert "v2" in fig.layout.title.text
    fig.to_json()


@pytest.mark.parametrize(
    "make",
    [
        lambda: charts.reliability_figure(pd.DataFrame(columns=analytics.RELIABILITY_COLUMNS)),
        lambda: charts.score_history_figure(pd.DataFrame(columns=analytics.HISTORY_COLUMNS)),
        lambda: charts.cluster_coverage_figure(pd.DataFrame(columns=analytics.COVERAGE_COLUMNS)),
        lambda: charts.cluster_coverage_figure(_coverage().assign(positives=0, negatives=0)),
        lambda: charts.corpus_map_figure(pd.DataFrame(columns=analytics.MAP_COLUMNS)),
        lambda: charts.annotator_activity_figure(pd.DataFrame(columns=analytics.ACTIVITY_COLUMNS)),
        lambda: charts.score_distribution_figure(
            pd.DataFrame(columns=analytics.DISTRIBUTION_COLUMNS)
        ),
        lambda: charts.agreement_over_time_figure(analytics.agreement_over_time([])),
    ],
)
def test_empty_frames_give_a_titled_no_data_yet_figure(make):
    fig = make()
    assert isinstance(fig, go.Figure) and not fig.data and fig.layout.title.text
    assert any(a.text.startswith("no data yet") for a in fig.layout.annotations)
    fig.to_json()


def test_figures_use_the_light_theme_and_serialise():
    figures = [
        charts.score_history_figure(_history()),
        charts.corpus_map_figure(_map()),
        charts.annotator_activity_figure(_activity()),
    ]
    for fig in figures:
        assert fig.layout.template.layout.paper_bgcolor in ("white", "#fff", "#ffffff")
        assert fig.to_json()
