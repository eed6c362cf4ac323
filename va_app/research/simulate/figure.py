"""The simulator's figure: median AP against labelled shots, one line per strategy (Plotly)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.graph_objects as go


def simulation_figure(result: dict[str, Any]) -> go.Figure:
    """Median AP over labels against the number of labels, one line per strategy."""
    fig = go.Figure()
    points = result["checkpoints"]
    for key, name in result["strategies"].items():
        values = [result["median_ap"][key][str(n)] for n in points]
        fig.add_trace(go.Scatter(x=points, y=values, mode="lines+markers", name=name,
                                 line={"dash": "solid" if key.startswith("va") else "dot"}))
    n_labels = len(result["labels"])
    title = f"Simulated expert: median AP over {n_labels} labels ({result['seeds']} seeds each)"
    fig.update_layout(
        template="plotly_white", title={"text": title, "x": 0.01},
        xaxis_title="labelled shots", yaxis_title="average precision on held-out shots",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1.0, "xanchor": "right"})
    return fig


def write_figure(result: dict[str, Any], out: str | Path) -> Path:
    """The figure as a self-contained HTML file (works offline)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    simulation_figure(result).write_html(out, include_plotlyjs=True, full_html=True)
    return out
