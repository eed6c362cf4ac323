"""Experiment 1 of the paper: Video Annotator's classifiers against the baselines, per label.

For every label (Netflix/videoannotator ``experiments.Experiment`` and ``exp1.ipynb``):

1. the aggregated labels are split by key hash (seed 0); the validation side gives the AP
   baseline and the zero-shot score (**ZS**);
2. for each n in :data:`NS`, logistic regressions are trained on the label's comparison sets
   with the validation shots removed: the first n randomly drawn shots (**RCC**), the first n
   top zero-shot shots (**ZSC**), and round(n/2) random + the rest zero-shot (**CC**), once per
   CV scoring (average precision, balanced accuracy);
3. every VA checkpoint (the growing set the expert labelled), validation shots removed, is
   trained and evaluated the same way.

At each n, **VA** is the checkpoint with the best mean AP among those trained on at most
n + 10 shots; a label without such a checkpoint is "lost" at that n (counted). VA beats a
method when its mean AP is higher (a method that could not be trained counts as beaten, as in
the paper's notebook), significantly when ``VA.mean − VA.std > other.mean + other.std``. The
gain is ``VA.mean − other.mean`` in AP points; as in the notebook, exact ties are left out of
the medians. Table 2 is the median gain of VA over CC per label group and over all labels.
Labels whose split has no positive on one side are excluded (counted, with the reason).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from va_app.errors import ValidationError
from va_app.research.experiments.protocol import (
    N_BOOTSTRAP,
    SCORINGS,
    SPLIT_SEED,
    Evaluation,
    ExperimentData,
    LabelKeys,
    Metric,
    ProtocolError,
    ValidationSet,
    VectorTable,
    ZeroShotModel,
    ap_baseline,
    fit_and_evaluate,
    json_ready,
    make_model,
    select_labels,
    split,
)

log = logging.getLogger(__name__)

#: Training-set sizes compared (paper: 25, 50, 100, 500, 1000).
NS = (25, 50, 100, 500, 1000)
#: A VA checkpoint counts at n when it has at most n + this many training shots.
CHECKPOINT_SLACK = 10
#: Comparison methods: our short name → the reference's name of the training set.
CMP_METHODS = {"rcc": "random", "cc": "zero-shot-50-random-50", "zsc": "zero-shot"}
#: Every method of the tables, in display order.
METHODS = ("baseline", "zs", "zsc", "rcc", "cc", "va")
METHOD_NAMES = {
    "baseline": "Baseline (random scores)",
    "zs": "ZS (zero-shot)",
    "zsc": "ZSC (top zero-shot)",
    "rcc": "RCC (random)",
    "cc": "CC (combined)",
    "va": "VA (Video Annotator)",
}
#: The paper's label groups (config.LABEL_GROUPS); other labels fall in "other".
LABEL_GROUPS = {
    "motion": ("handheld", "jump-scare", "pan", "slow-motion", "timelapse", "zoom"),
    "genres": ("action", "drama", "fantasy", "horror", "romance", "sci-fi"),
    "emotions": ("anger", "happy", "laughter", "sad", "scared"),
    "shot_types": (
        "aerial",
        "closeup",
        "cowboy-shot",
        "dutch-angle",
        "establishing-shots",
        "extreme-close-up",
        "extreme-wide-shot",
        "eye-level",
        "group-shot",
        "high-angle",
        "insert-shot",
        "low-angle",
        "medium",
        "over-the-shoulder-shot",
        "overhead-shot",
        "point-of-view-shot",
        "shutter-shot",
        "single-shot",
        "static-shot",
        "tilt-shot",
        "two-shot",
        "wide",
    ),
    "sensitivities": ("alcohol", "drugs", "gore", "intimacy", "nudity", "smoking", "violence"),
    "events_actions": ("car-chase", "fight", "interview", "run"),
    "time_location": ("day", "golden-hour", "interior"),
    "focus": ("animal", "character-focus", "object"),
}
GROUP_OF = {label: group for group, labels in LABEL_GROUPS.items() for label in labels}
OTHER, OVERALL = "other", "overall"
Progress = Callable[[int, int, str], None]


def label_group(label: str) -> str:
    return GROUP_OF.get(label, OTHER)


# -- running one label ------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LabelRuns:
    """Everything fitted for one label."""

    label: str
    n_validation: int
    n_validation_pos: int
    baseline: Metric
    zero_shot: Evaluation | None
    cmp: dict[tuple[int, str, str], Evaluation]
    checkpoints: list[Evaluation | None]
    failures: list[str] = field(default_factory=list)


def cmp_training_set(
    cmp: dict[str, list[tuple[str, bool]]], label: str, method: str, n: int, *, drop: set[str]
) -> LabelKeys:
    """The first n shots of a comparison method, validation shots removed first."""
    lists = {name: [(k, v) for k, v in items if k not in drop] for name, items in cmp.items()}
    if method == "cc":
        n_random = round(n * 0.5)
        return _first(lists, "random", n_random, label).union(
            _first(lists, "zero_shot", n - n_random, label)
        )
    return _first(lists, "random" if method == "rcc" else "zero_shot", n, label)


def _first(lists: dict[str, list[tuple[str, bool]]], name: str, n: int, label: str) -> LabelKeys:
    if n > len(lists[name]):
        log.info("%s: %s has %d shots, %d asked for", label, name, len(lists[name]), n)
    return LabelKeys.from_pairs(label, lists[name][:n])


def run_label(
    data: ExperimentData,
    vectors: VectorTable,
    label: str,
    *,
    ns: Sequence[int] = NS,
    scorings: Sequence[str] = SCORINGS,
    n_bootstrap: int = N_BOOTSTRAP,
    fast: bool = False,
) -> LabelRuns:
    """Fit and evaluate every model of experiment 1 for one label; ProtocolError to exclude."""
    _, val = split(data.agg(label), seed=SPLIT_SEED)
    validation = ValidationSet.build(val, vectors, n_bootstrap=n_bootstrap)
    drop = set(val.pos | val.neg)
    failures: list[str] = []
    text = data.text_embedding(label)
    zero_shot = validation.evaluate(ZeroShotModel(text)) if text is not None else None
    if zero_shot is None:
        failures.append("zs: no text embedding")
    cmp = data.cmp(label)
    results = {}
    for n, method, scoring in product(ns, CMP_METHODS, scorings):
        try:
            train = cmp_training_set(cmp, label, method, n, drop=drop)
            results[(n, method, scoring)] = fit_and_evaluate(
                make_model(scoring=scoring, fast=fast), train, validation, vectors
            )
        except (ProtocolError, ValueError) as exc:
            failures.append(f"{method} n={n} {scoring}: {exc}")
    checkpoints = [
        _checkpoint(cp.without(drop), validation, vectors, fast, failures, i)
        for i, cp in enumerate(data.checkpoints(label))
    ]
    return LabelRuns(
        label,
        len(val),
        len(val.pos),
        ap_baseline(len(val.pos), len(val)),
        zero_shot,
        results,
        checkpoints,
        failures,
    )


def _checkpoint(
    train: LabelKeys,
    validation: ValidationSet,
    vectors: VectorTable,
    fast: bool,
    failures: list[str],
    index: int,
) -> Evaluation | None:
    try:
        return fit_and_evaluate(make_model(fast=fast), train, validation, vectors)
    except (ProtocolError, ValueError) as exc:
        failures.append(f"checkpoint {index}: {exc}")
        return None


# -- analysis -----------------------------------------------------------------------------------
def _value(metric: Metric | None) -> float:
    return float("nan") if metric is None else metric.mean


def _present(metric: Metric | None) -> bool:
    return metric is not None and np.isfinite(metric.mean)


def analyse_label(runs: LabelRuns, n: int) -> dict:
    """One row of the per-label table: every method's AP at n, and how VA compares."""
    eligible = [
        (i, ev)
        for i, ev in enumerate(runs.checkpoints)
        if ev is not None and ev.n_train <= n + CHECKPOINT_SLACK
    ]
    metrics: dict[str, Metric | None] = {
        "baseline": runs.baseline,
        "zs": runs.zero_shot.average_precision if runs.zero_shot else None,
        **{
            m: (
                runs.cmp[(n, m, "average_precision")].average_precision
                if (n, m, "average_precision") in runs.cmp
                else None
            )
            for m in CMP_METHODS
        },
    }
    row = {
        "label": runs.label,
        "group": label_group(runs.label),
        "n": n,
        "va_available": bool(eligible),
        "va_checkpoint": None,
        "va_train_size": None,
        "va_max_train_size": eligible[-1][1].n_train if eligible else None,
    }
    va = None
    if eligible:
        best_index, best = max(eligible, key=lambda t: _sortable(t[1].average_precision.mean))
        va = best.average_precision
        row.update(va_checkpoint=best_index, va_train_size=best.n_train)
    metrics["va"] = va
    for m in METHODS:
        metric = metrics[m]
        row[f"{m}_ap"] = _value(metric)
        row[f"{m}_ap_std"] = float("nan") if metric is None else metric.std
    for m in METHODS[:-1]:
        row.update(_compare(va, metrics[m] if _present(metrics[m]) else None, m))
    return row


def _sortable(value: float) -> float:
    return value if np.isfinite(value) else float("-inf")


def _compare(va: Metric | None, other: Metric | None, name: str) -> dict:
    if va is None:
        return {
            f"gain_vs_{name}": float("nan"),
            f"va_beats_{name}": None,
            f"va_beats_{name}_significant": None,
        }
    better = other is None or va.mean > other.mean
    significant = better and (other is None or va.mean - va.std > other.mean + other.std)
    gain = float("nan")
    if other is not None and va.mean != other.mean:
        gain = 100.0 * (va.mean - other.mean)
    return {
        f"gain_vs_{name}": gain,
        f"va_beats_{name}": bool(better),
        f"va_beats_{name}_significant": bool(significant),
    }


def runs_frame(all_runs: Sequence[LabelRuns]) -> pd.DataFrame:
    """Every fit: one row per (label, method, n, scoring) and per checkpoint."""
    rows = []
    for runs in all_runs:
        base = {
            "label": runs.label,
            "group": label_group(runs.label),
            "n_validation": runs.n_validation,
            "n_validation_pos": runs.n_validation_pos,
        }
        rows.append(
            {
                **base,
                "method": "baseline",
                "ap_mean": runs.baseline.mean,
                "ap_std": runs.baseline.std,
            }
        )
        if runs.zero_shot:
            rows.append({**base, "method": "zs", **_evaluation_columns(runs.zero_shot)})
        for (n, method, scoring), ev in runs.cmp.items():
            rows.append(
                {**base, "method": method, "n": n, "scoring": scoring, **_evaluation_columns(ev)}
            )
        for i, checkpoint in enumerate(runs.checkpoints):
            if checkpoint is not None:
                rows.append(
                    {
                        **base,
                        "method": "va",
                        "checkpoint": i,
                        "scoring": "average_precision",
                        **_evaluation_columns(checkpoint),
                    }
                )
    return pd.DataFrame(rows)


def _evaluation_columns(ev: Evaluation) -> dict:
    return {
        "n_train": ev.n_train,
        "n_train_pos": ev.n_train_pos,
        "ap_mean": ev.average_precision.mean,
        "ap_std": ev.average_precision.std,
        "ba_mean": ev.balanced_accuracy.mean,
        "ba_std": ev.balanced_accuracy.std,
    }


def per_label_frame(all_runs: Sequence[LabelRuns], ns: Sequence[int]) -> pd.DataFrame:
    return pd.DataFrame([analyse_label(runs, n) for runs in all_runs for n in ns])


def _group_order(groups: Sequence[str]) -> list[str]:
    known = [g for g in LABEL_GROUPS if g in groups]
    return known + ([OTHER] if OTHER in groups else [])


def gain_table(
    per_label: pd.DataFrame, ns: Sequence[int], *, versus: str = "cc"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 2: median gain of VA over ``versus`` (AP points) per group and n, and label counts."""
    column = f"gain_vs_{versus}"
    groups = _group_order(per_label["group"].unique().tolist()) if len(per_label) else []
    medians: dict[str, dict[int, float]] = {}
    counts: dict[str, dict[int, int]] = {}
    for group in [*groups, OVERALL]:
        rows = per_label if group == OVERALL else per_label[per_label["group"] == group]
        for n in ns:
            gains = rows.loc[rows["n"] == n, column].dropna() if len(rows) else pd.Series([])
            medians.setdefault(group, {})[n] = float(np.median(gains)) if len(gains) else np.nan
            counts.setdefault(group, {})[n] = int(len(gains))
    return (
        pd.DataFrame.from_dict(medians, orient="index").rename_axis("group"),
        pd.DataFrame.from_dict(counts, orient="index").rename_axis("group"),
    )


def wins_frame(per_label: pd.DataFrame, ns: Sequence[int]) -> pd.DataFrame:
    """Share of labels (with VA at n) where VA beats each method, and significantly."""
    rows = []
    for n, method in product(ns, METHODS[:-1]):
        at = _with_va(per_label, n)
        labels = len(at)
        better = at[f"va_beats_{method}"].astype(bool).mean() if labels else np.nan
        significant = at[f"va_beats_{method}_significant"].astype(bool).mean() if labels else np.nan
        rows.append(
            {
                "n": n,
                "method": method,
                "labels": labels,
                "share_better": float(better),
                "share_significant": float(significant),
            }
        )
    return pd.DataFrame(rows)


def _with_va(per_label: pd.DataFrame, n: int) -> pd.DataFrame:
    """Rows at ``n`` of the labels that have a VA checkpoint there."""
    if per_label.empty:
        return per_label
    return per_label[(per_label["n"] == n) & per_label["va_available"]]


# -- figures ---------------------------------------------------------------------------------
COLOURS = {
    "baseline": "#9e9e9e",
    "zs": "#76b7b2",
    "zsc": "#edc948",
    "rcc": "#f28e2b",
    "cc": "#b07aa1",
    "va": "#1f5fa8",
}


def ap_vs_n_figure(per_label: pd.DataFrame, ns: Sequence[int]) -> go.Figure:
    """Median AP over labels (those with a VA checkpoint at n) of every method, against n."""
    fig = _figure(
        "Average precision against the number of annotations",
        "annotations (n)",
        "median AP over labels",
    )
    for method in METHODS:
        medians = []
        for n in ns:
            at = _with_va(per_label, n)
            values = at[f"{method}_ap"].dropna()
            medians.append(float(np.median(values)) if len(values) else None)
        fig.add_trace(
            go.Scatter(
                x=list(ns),
                y=medians,
                mode="lines+markers",
                name=METHOD_NAMES[method],
                line={"color": COLOURS[method]},
            )
        )
    fig.update_xaxes(type="log", tickvals=list(ns))
    fig.update_yaxes(range=[0, 1])
    return fig


def va_wins_figure(wins: pd.DataFrame) -> go.Figure:
    """Share of labels where VA's AP is higher than each method's, per n."""
    fig = _figure(
        "Share of labels where Video Annotator wins", "annotations (n)", "share of labels"
    )
    for method in METHODS[:-1]:
        rows = wins[wins["method"] == method]
        fig.add_trace(
            go.Bar(
                x=[str(n) for n in rows["n"]],
                y=rows["share_better"],
                name=f"VA beats {METHOD_NAMES[method]}",
                marker_color=COLOURS[method],
                customdata=rows[["labels", "share_significant"]].to_numpy(),
                hovertemplate="%{y:.0%} of %{customdata[0]} labels "
                "(significant: %{customdata[1]:.0%})<extra></extra>",
            )
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    return fig


def _figure(title: str, x_title: str, y_title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        template="plotly_white",
        title={"text": title, "x": 0.01},
        xaxis_title=x_title,
        yaxis_title=y_title,
        legend={"orientation": "h", "yanchor": "top", "y": -0.2},
    )
    return fig


# -- the experiment ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SampleEfficiencyResult:
    """Per-label results, the Table-2 layout, the win shares, and the files written."""

    ns: tuple[int, ...]
    labels: list[str]
    excluded: dict[str, str]
    lost: dict[int, int]
    runs: pd.DataFrame
    per_label: pd.DataFrame
    table2: pd.DataFrame
    table2_counts: pd.DataFrame
    wins: pd.DataFrame
    fast: bool
    failures: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-ready (NaN → null)."""
        overall = self.table2.loc[OVERALL] if OVERALL in self.table2.index else {}
        return json_ready(
            {
                "experiment": "sample-efficiency",
                "fast": self.fast,
                "ns": list(self.ns),
                "labels_evaluated": self.labels,
                "labels_excluded": self.excluded,
                "labels_lost_for_lack_of_va_data": {str(n): c for n, c in self.lost.items()},
                "median_gain_va_over_cc_points": {str(n): overall[n] for n in self.ns}
                if len(overall)
                else {},
                "table2": {
                    g: {str(n): v for n, v in row.items()}
                    for g, row in self.table2.to_dict(orient="index").items()
                },
                "table2_labels": {
                    g: {str(n): v for n, v in row.items()}
                    for g, row in self.table2_counts.to_dict(orient="index").items()
                },
                "va_wins": {
                    str(n): {r["method"]: r["share_better"] for _, r in rows.iterrows()}
                    for n, rows in self.wins.groupby("n")
                },
                "fits_that_could_not_run": self.failures,
                "files": {k: str(v) for k, v in self.files.items()},
            }
        )

    def table2_text(self) -> str:
        """Table 2 as aligned text: median gain of VA over CC (AP points), labels in brackets."""
        head = f"{'group':<16}" + "".join(f"{'n=' + str(n):>14}" for n in self.ns)
        lines = [f"Median gain of VA over CC in AP points ({len(self.labels)} labels)", head]
        for group in self.table2.index:
            cells = []
            for n in self.ns:
                value, count = self.table2.loc[group, n], self.table2_counts.loc[group, n]
                text = "—" if not np.isfinite(value) else f"{value:+.1f}"
                cells.append(f"{text + f' ({count})':>14}")
            lines.append(f"{group:<16}" + "".join(cells))
        if self.excluded:
            lines.append(
                f"excluded: {len(self.excluded)} label(s) — "
                + "; ".join(f"{k}: {v}" for k, v in sorted(self.excluded.items()))
            )
        lost = ", ".join(f"n={n}: {c}" for n, c in self.lost.items() if c)
        if lost:
            lines.append(f"lost for lack of VA data: {lost}")
        return "\n".join(lines)


def run_sample_efficiency(
    data_dir: str | Path,
    *,
    labels: Sequence[str] | None = None,
    out_dir: str | Path,
    ns: Sequence[int] = NS,
    scorings: Sequence[str] = SCORINGS,
    n_bootstrap: int = N_BOOTSTRAP,
    fast: bool = False,
    progress: Progress | None = None,
) -> SampleEfficiencyResult:
    """Run experiment 1 on ``data_dir`` and write its tables and figures to ``out_dir``.

    ``data_dir``: a Netflix data folder or an imported corpus (see ``ExperimentData``).
    ``labels``: default every label with an agg file except those the paper left out.
    ``fast``: the app's single logistic regression instead of the paper's cross-validated one
    (then one fit serves both scorings). ``progress(done, total, label)`` after each label.
    """
    ns = tuple(sorted({int(n) for n in ns}))
    if not ns or ns[0] < 1:
        raise ValidationError("ns must be positive training-set sizes, e.g. 25 50 100")
    data = ExperimentData.open(data_dir)
    chosen, excluded = select_labels(data, labels, needs=("cmp", "checkpoints"))
    vectors = data.vectors(set().union(*(data.keys_named(lb) for lb in chosen)) if chosen else ())
    scorings = ("average_precision",) if fast else tuple(scorings)
    all_runs = []
    for done, label in enumerate(chosen, 1):
        try:
            all_runs.append(
                run_label(
                    data,
                    vectors,
                    label,
                    ns=ns,
                    scorings=scorings,
                    n_bootstrap=n_bootstrap,
                    fast=fast,
                )
            )
        except ProtocolError as exc:
            excluded[label] = str(exc).removeprefix(f"{label}: ")
        if progress:
            progress(done, len(chosen), label)
    return _finish(all_runs, excluded, ns, fast, Path(out_dir))


def _finish(
    all_runs: list[LabelRuns],
    excluded: dict[str, str],
    ns: tuple[int, ...],
    fast: bool,
    out_dir: Path,
) -> SampleEfficiencyResult:
    per_label = per_label_frame(all_runs, ns)
    table2, counts = gain_table(per_label, ns)
    wins = wins_frame(per_label, ns)
    lost = {
        n: int((~per_label.loc[per_label["n"] == n, "va_available"]).sum()) if len(per_label) else 0
        for n in ns
    }
    failures = {r.label: r.failures for r in all_runs if r.failures}
    result = SampleEfficiencyResult(
        ns,
        [r.label for r in all_runs],
        excluded,
        lost,
        runs_frame(all_runs),
        per_label,
        table2,
        counts,
        wins,
        fast,
        failures,
    )
    return _write(result, out_dir)


def _write(result: SampleEfficiencyResult, out_dir: Path) -> SampleEfficiencyResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "runs": out_dir / "runs.csv",
        "per_label": out_dir / "per_label.csv",
        "table2": out_dir / "table2.csv",
        "wins": out_dir / "va_wins.csv",
        "summary": out_dir / "summary.json",
        "ap_vs_n": out_dir / "ap_vs_n.html",
        "va_wins_figure": out_dir / "va_wins.html",
    }
    result.runs.to_csv(files["runs"], index=False)
    result.per_label.to_csv(files["per_label"], index=False)
    result.table2.round(1).to_csv(files["table2"])
    result.wins.to_csv(files["wins"], index=False)
    ap_vs_n_figure(result.per_label, result.ns).write_html(
        files["ap_vs_n"], include_plotlyjs="directory"
    )
    va_wins_figure(result.wins).write_html(files["va_wins_figure"], include_plotlyjs="directory")
    result.files.update(files)
    files["summary"].write_text(json.dumps(result.summary(), indent=2), encoding="utf-8")
    return result
