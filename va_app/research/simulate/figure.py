"""The simulator's figure (Plotly): median AP against labelled shots, one line per strategy,
and under it VA − CC (and VA in plain rotation − CC) with its interval over the seeds,
coloured by the verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

#: Marker colour of each VA-vs-CC verdict.
VERDICT_COLOURS = {"above": "#2e7d32", "tie": "#757575", "below": "#c62828"}
DIFF_NAME = "VA − CC (95 % interval over seeds)"
#: The differences the second panel draws: summary key prefix, legend name, marker symbol.
DIFFERENCES = (
    ("va", DIFF_NAME, "circle"),
    ("rotation", "VA plain rotation − CC (95 % interval)", "diamond"),
)


def simulation_figure(result: dict[str, Any]) -> go.Figure:
    """Median AP over labels against the number of labels, one line per strategy; with VA and
    CC both simulated, a second panel of the per-label VA − CC and its interval."""
    diff = result.get("va_minus_cc_interval")
    fig = make_subplots(
        rows=2 if diff else 1,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.7, 0.3] if diff else None,
        vertical_spacing=0.08,
    )
    points = result["checkpoints"]
    for key, name in result["strategies"].items():
        values = [result["median_ap"][key][str(n)] for n in points]
        fig.add_trace(
            go.Scatter(
                x=points,
                y=values,
                mode="lines+markers",
                name=name,
                line={"dash": "solid" if key.startswith("va") else "dot"},
            ),
            row=1,
            col=1,
        )
    fig.update_yaxes(title_text="average precision on held-out shots", row=1, col=1)
    if diff:
        _add_difference(fig, result, points)
    n_labels = len(result["labels"])
    title = f"Simulated expert: median AP over {n_labels} labels ({result['seeds']} seeds each)"
    fig.update_layout(
        template="plotly_white",
        title={"text": title, "x": 0.01},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1.0, "xanchor": "right"},
    )
    fig.update_xaxes(title_text="labelled shots", row=2 if diff else 1, col=1)
    return fig


def _add_difference(fig: go.Figure, result: dict[str, Any], points: list[int]) -> None:
    for (prefix, name, symbol), shift in zip(DIFFERENCES, (-1.5, 1.5)):
        if f"{prefix}_minus_cc_interval" in result:
            _add_one_difference(fig, result, points, prefix, name, symbol, shift)
    fig.add_hline(y=0, line={"color": "#9e9e9e", "width": 1}, row=2, col=1)
    fig.update_yaxes(title_text="VA − CC", row=2, col=1)


def _add_one_difference(
    fig: go.Figure,
    result: dict[str, Any],
    points: list[int],
    prefix: str,
    name: str,
    symbol: str,
    shift: float,
) -> None:
    minus, interval = result[f"{prefix}_minus_cc"], result[f"{prefix}_minus_cc_interval"]
    points = [n for n in points if minus[str(n)] is not None]
    keys = [str(n) for n in points]
    y = [minus[k] for k in keys]
    spans = [interval[k] or [v, v] for k, v in zip(keys, y)]
    verdicts = [result[f"{prefix}_vs_cc"][k] or "tie" for k in keys]
    fig.add_trace(
        go.Scatter(
            x=[n + shift for n in points],
            y=y,
            mode="markers",
            name=name,
            marker={"color": [VERDICT_COLOURS[v] for v in verdicts], "size": 9, "symbol": symbol},
            error_y={
                "type": "data",
                "array": [hi - v for (_, hi), v in zip(spans, y)],
                "arrayminus": [v - lo for (lo, _), v in zip(spans, y)],
            },
            text=verdicts,
            customdata=points,
            hovertemplate=f"n = %{{customdata}}: {name.split(' (')[0]} %{{y:+.3f}} (%{{text}})"
            "<extra></extra>",
        ),
        row=2,
        col=1,
    )


def write_figure(result: dict[str, Any], out: str | Path) -> Path:
    """The figure as a self-contained HTML file (works offline)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    simulation_figure(result).write_html(out, include_plotlyjs=True, full_html=True)
    return out
