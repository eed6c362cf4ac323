"""Plotly figures of the dashboard and the review page, built from
:mod:`va_app.reports.analytics` frames.

Each function returns a ``plotly.graph_objects.Figure``: titled, axes labelled, light theme,
positives green and negatives red everywhere. A frame with nothing to show gives a figure
that says "no data yet" instead of an error, so a page can always render it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from va_app.learn.scores import DEFAULT_CAP, READY_MIN_SCORE
from va_app.reports.analytics import CALIBRATED, NEGATIVE, POSITIVE, RAW

TEMPLATE = "plotly_white"
NO_DATA = "no data yet"
POSITIVE_COLOUR = "#2e7d32"
NEGATIVE_COLOUR = "#c62828"
UNLABELLED_COLOUR = "#b8b8b8"
MODEL_COLOUR = "#1f5fa8"
DATA_COLOUR = "#e08a00"
NEW_SHOTS_COLOUR = "#7b3fa0"
#: Annotators' colours: no green or red, which mean positive and negative on every chart.
ANNOTATOR_COLOURS = (
    "#4e79a7",
    "#f28e2b",
    "#b07aa1",
    "#76b7b2",
    "#edc948",
    "#9c755f",
    "#ff9da7",
    "#bab0ac",
)
#: Histogram bin width of the score distribution (20 bins over [0, 1]).
SCORE_BIN = 0.05


def _figure(title: str, x_title: str, y_title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "x": 0.01},
        xaxis_title=x_title,
        yaxis_title=y_title,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1.0, "xanchor": "right"},
    )
    return fig


def empty_figure(title: str, *, message: str = NO_DATA) -> go.Figure:
    """A titled figure holding only ``message`` in its middle."""
    fig = _figure(title, "", "")
    fig.add_annotation(
        text=message,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 16, "color": "#777777"},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _titled(title: str, label: str) -> str:
    return f"{title} — {label}" if label else title


def score_history_figure(history: pd.DataFrame, *, label: str = "") -> go.Figure:
    """Model and data scores against labelled shots, one point per model version
    (:func:`va_app.reports.analytics.score_history`), with the readiness threshold dashed."""
    title = _titled("Scores per model version", label)
    if history.empty:
        return empty_figure(title, message=f"{NO_DATA}: build a model")
    fig = _figure(title, "labelled shots (positives + negatives)", "score")
    for column, name, colour in (
        ("model_score", "model quality", MODEL_COLOUR),
        ("data_score", "data diversity", DATA_COLOUR),
    ):
        fig.add_trace(
            go.Scatter(
                x=history["n_annotations"],
                y=history[column],
                name=name,
                mode="lines+markers",
                line={"color": colour},
                customdata=history["version"],
                hovertemplate=f"v%{{customdata}} · %{{x}} labelled<br>{name} %{{y:.2f}}"
                "<extra></extra>",
            )
        )
    fig.add_hline(
        y=READY_MIN_SCORE,
        line_dash="dash",
        line_color="#555555",
        annotation_text=f"ready ≥ {READY_MIN_SCORE:g}",
        annotation_position="bottom right",
    )
    fig.update_yaxes(range=[0, 1.05])
    # Counts: whole-number ticks only (one version gives a single x value).
    fig.update_xaxes(tickformat="d", dtick=max(1, int(history["n_annotations"].max()) // 8 or 1))
    return fig


def cluster_coverage_figure(
    coverage: pd.DataFrame, *, label: str = "", cap: int = DEFAULT_CAP
) -> go.Figure:
    """Positives and negatives per diversity cluster (grouped bars, raw counts) with the cap
    ``s`` dashed: counts above it no longer raise the data-diversity score."""
    title = _titled("Labels per diversity cluster", label)
    if coverage.empty or not (coverage["positives"].sum() + coverage["negatives"].sum()):
        return empty_figure(title, message=f"{NO_DATA}: label some shots")
    fig = _figure(title, "cluster", "labelled shots")
    clusters = coverage["cluster"].astype(str)
    for column, name, colour in (
        ("positives", "positives", POSITIVE_COLOUR),
        ("negatives", "negatives", NEGATIVE_COLOUR),
    ):
        fig.add_trace(
            go.Bar(
                x=clusters,
                y=coverage[column],
                name=name,
                marker_color=colour,
                customdata=coverage["shots"],
                hovertemplate="cluster %{x}: %{y} "
                + name
                + " (of %{customdata} shots)<extra></extra>",
            )
        )
    fig.add_hline(
        y=cap,
        line_dash="dash",
        line_color="#555555",
        annotation_text=f"cap s = {cap}",
        annotation_position="top left",
    )
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")
    return fig


def corpus_map_figure(points: pd.DataFrame, *, label: str = "") -> go.Figure:
    """The 2-D corpus map (:func:`va_app.reports.analytics.corpus_map`): unlabelled shots small and
    grey, the label's positives green and negatives red on top."""
    title = _titled("Corpus map (PCA of the embeddings)", label)
    if points.empty:
        return empty_figure(title, message=f"{NO_DATA}: ingest videos")
    fig = _figure(title, "principal component 1", "principal component 2")
    annotation = points.get("annotation", pd.Series("", index=points.index))
    layers = (
        (~annotation.isin([POSITIVE, NEGATIVE]), "unlabelled", UNLABELLED_COLOUR, 4, 0.5),
        (annotation == NEGATIVE, "negatives", NEGATIVE_COLOUR, 8, 0.9),
        (annotation == POSITIVE, "positives", POSITIVE_COLOUR, 8, 0.9),
    )
    for mask, name, colour, size, opacity in layers:
        part = points[mask]
        fig.add_trace(
            go.Scatter(
                x=part["x"],
                y=part["y"],
                name=f"{name} ({len(part)})",
                mode="markers",
                marker={"color": colour, "size": size, "opacity": opacity},
                customdata=part[["shot_id", "cluster"]].to_numpy(),
                hovertemplate="%{customdata[0]}<br>cluster %{customdata[1]}<extra></extra>",
            )
        )
    return fig


def annotator_activity_figure(activity: pd.DataFrame, *, label: str = "") -> go.Figure:
    """Clicks per day, one stacked bar segment per annotator
    (:func:`va_app.reports.analytics.activity_table`)."""
    title = _titled("Annotations per annotator per day", label)
    if activity.empty:
        return empty_figure(title, message=f"{NO_DATA}: no annotations")
    fig = _figure(title, "day (UTC)", "annotations")
    for i, (annotator, part) in enumerate(activity.groupby("annotator", sort=True)):
        fig.add_trace(
            go.Bar(
                x=part["day"],
                y=part["count"],
                name=str(annotator),
                marker_color=ANNOTATOR_COLOURS[i % len(ANNOTATOR_COLOURS)],
                hovertemplate=f"{annotator}: %{{y}} on %{{x|%Y-%m-%d}}<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack")
    # One tick per day; bars of one day; a single day still gets a readable axis.
    fig.update_xaxes(type="date", tickformat="%Y-%m-%d", dtick=86_400_000.0)
    return fig


def score_distribution_figure(distribution: pd.DataFrame, *, label: str = "") -> go.Figure:
    """Histograms of the latest model's scores: the whole corpus and the shots added since
    the model was built (:func:`va_app.reports.analytics.score_distribution`), each in % of itself
    so a shift shows even when few shots are new."""
    version = distribution.attrs.get("version")
    title = _titled("Score distribution" + (f" of model v{version}" if version else ""), label)
    if distribution.empty:
        return empty_figure(title, message=f"{NO_DATA}: build a model")
    fig = _figure(title, "model score (probability of the label)", "% of shots")
    new = distribution[distribution["since_model"]]
    groups = (
        (distribution, "whole corpus", MODEL_COLOUR),
        (new, "added since the model", NEW_SHOTS_COLOUR),
    )
    for part, name, colour in groups:
        if not part.empty:
            fig.add_trace(_percent_bars(part["probability"], f"{name} ({len(part)})", colour))
    if new.empty:
        fig.add_annotation(
            text="no shots added since this model",
            xref="paper",
            yref="paper",
            x=0.5,
            y=1.0,
            showarrow=False,
            font={"color": "#777777"},
        )
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(range=[0, 1])
    return fig


def _percent_bars(values: pd.Series, name: str, colour: str) -> go.Bar:
    """A histogram as bars of ``SCORE_BIN``-wide bins, in % of ``values``: the counts are
    made here, so the browser gets 20 numbers, not one per shot (40 MB of JSON at 2M shots)."""
    edges = np.linspace(0.0, 1.0, round(1 / SCORE_BIN) + 1)
    counts, _ = np.histogram(np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0), edges)
    return go.Bar(
        x=(edges[:-1] + edges[1:]) / 2,
        y=100.0 * counts / max(len(values), 1),
        width=SCORE_BIN,
        name=name,
        marker_color=colour,
        opacity=0.6,
    )


def reliability_figure(curve: pd.DataFrame, *, label: str = "") -> go.Figure:
    """Reliability curve of the latest model (:func:`va_app.reports.analytics.reliability`):
    observed share of positives against mean predicted probability per bin, raw and calibrated
    scores, marker size by shots in the bin; the dashed diagonal is perfect calibration."""
    version = curve.attrs.get("version")
    title = _titled("Calibration" + (f" of model v{version}" if version else ""), label)
    if curve.empty:
        return empty_figure(title, message=f"{NO_DATA}: build a model")
    fig = _figure(title, "predicted probability (out of fold)", "share of positives")
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="perfectly calibrated",
            line={"dash": "dash", "color": UNLABELLED_COLOUR},
        )
    )
    ece = curve.attrs.get("ece", {})
    for kind, name, colour in (
        (RAW, "raw σ(logit)", DATA_COLOUR),
        (CALIBRATED, "calibrated (shown in the app)", MODEL_COLOUR),
    ):
        part = curve[curve["scores"] == kind]
        fig.add_trace(
            go.Scatter(
                x=part["mean_predicted"],
                y=part["observed"],
                mode="lines+markers",
                name=f"{name}, ECE {ece[kind]:.3f}" if kind in ece else name,
                marker={
                    "size": 6 + 14 * (part["count"] / curve["count"].max()) ** 0.5,
                    "color": colour,
                },
                line={"color": colour},
                customdata=part["count"],
                hovertemplate="p %{x:.2f}: %{y:.0%} positive (%{customdata} shots)<extra></extra>",
            )
        )
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[-0.02, 1.02])
    return fig


def agreement_over_time_figure(history: pd.DataFrame, *, label: str = "") -> go.Figure:
    """One line per annotator pair: the share of their shared shots they agree on, as of the
    end of each day (:func:`va_app.reports.analytics.agreement_over_time`); the hover also
    gives Cohen's κ and the shots they share."""
    title = _titled("Agreement over time per annotator pair", label)
    if history.empty:
        return empty_figure(title, message=f"{NO_DATA}: no shot has two annotators")
    fig = _figure(title, "day (UTC)", "agreement rate")
    pairs = history.groupby(["annotator_a", "annotator_b"], sort=True)
    for i, ((a, b), part) in enumerate(pairs):
        fig.add_trace(
            go.Scatter(
                x=part["day"],
                y=part["agreement_rate"],
                mode="lines+markers",
                name=f"{a} & {b}",
                line={"color": ANNOTATOR_COLOURS[i % len(ANNOTATOR_COLOURS)]},
                customdata=part[["n_shared", "cohen_kappa"]].to_numpy(dtype=float),
                hovertemplate=f"{a} & {b}: %{{y:.0%}} of %{{customdata[0]}} shared shots, "
                "κ %{customdata[1]:.2f} on %{x|%Y-%m-%d}<extra></extra>",
            )
        )
    fig.update_xaxes(type="date", tickformat="%Y-%m-%d", dtick=86_400_000.0)
    fig.update_yaxes(range=[-0.02, 1.05], tickformat=".0%")
    fig.update_layout(showlegend=True)  # also for one pair: its name is the line's meaning
    return fig
