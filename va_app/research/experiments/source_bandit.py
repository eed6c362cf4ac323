"""Experiment 2 of the paper: picking the source of each next batch of annotations with a bandit.

Per label (Netflix/videoannotator ``dp.py`` and ``exp2.ipynb``): the aggregated labels are split
by key hash with seed 1; three ordered sources of labelled shots remain, validation shots
removed — **agg** (the VA session: each checkpoint's new shots in a seeded permutation, labelled
by the aggregate), **zero_shot** and **random** (the comparison lists, in their order). Each of
:data:`ROUNDS` rounds adds ``get_n(25)`` shots of the chosen source to the training set (used
shots leave every source), fits the paper's logistic regression and records the mean AP over 5
bootstraps. The algorithms (:data:`ALGORITHMS`):

- RoundRobin, ε-greedy on the mean reward (ε = 0.1, 0.25, 0.5), UCB on the mean reward
  (c = 0.01, 0.1): each first plays every source once, in order. ε-greedy and UCB start with a
  warm-up that tries every source on a copy; a source's first reward is its warm-up AP minus
  the worst warm-up AP, later rewards are the AP minus the previous round's AP.
- GreedyOracle: every round tries every source on a copy and keeps the best.

The lift of a label is the best AP any round reached minus the best AP of the VA checkpoints
(evaluated, as in the paper, on experiment 1's split, seed 0). Table 3 gives its percentiles
over labels (in AP points) for RoundRobin, GreedyOracle, ε-greedy with ε = 0.25 and UCB (the
better of its two c per label, as the paper's notebook grouped them). The combined gain adds
experiment 1's gain of VA over CC at n = 1000 to the UCB lift.

Where the reference would stop with an error (every source used up, two sources disagreeing on
a shot), a run here ends early and keeps the rounds it played.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from va_app.errors import ValidationError
from va_app.research.experiments.protocol import (
    N_BOOTSTRAP,
    Evaluation,
    ExperimentData,
    LabelKeys,
    OrderedSet,
    ProtocolError,
    ValidationSet,
    VectorTable,
    fit_and_evaluate,
    json_ready,
    make_model,
    select_labels,
    split,
)
from va_app.research.experiments.sample_efficiency import CHECKPOINT_SLACK, cmp_training_set

#: Sources, in the order they are first played and scanned.
CHOICES = ("agg", "zero_shot", "random")
#: Shots added per round (the paper overrides its default of 50 with 25) ...
STEP = 25
#: ... for 1000 // 25 rounds.
ROUNDS = 40
#: Seed of the hash split and of the ε-greedy draws (round i draws with seed SEED + i).
SEED = 1
#: Seed of the split on which VA checkpoints are scored for the lift (experiment 1's).
VA_SPLIT_SEED = 0
#: The size at which experiment 1's gain enters the combined gain.
EXP1_N = 1000
PERCENTILES = (10, 25, 50, 75, 90)
Progress = Callable[[int, int, str], None]
Evaluate = Callable[[LabelKeys | None], Evaluation]


class SourcesExhausted(ProtocolError):
    """No source has shots left."""


# -- the sources -------------------------------------------------------------------------------
def agg_order(
    checkpoints: Sequence[LabelKeys], agg: LabelKeys, drop: set[str], *, seed: int = 0
) -> OrderedSet:
    """The VA session as an ordered source: each checkpoint's new shots, permuted (seed 0),
    labelled by the aggregate, validation shots and shots outside the aggregate left out."""

    def ordered(checkpoint: LabelKeys) -> OrderedSet:
        shuffled = OrderedSet.shuffled(checkpoint, seed=seed)
        keys = shuffled.pos + shuffled.neg
        return OrderedSet(
            agg.label,
            tuple(k for k in keys if k in agg.pos and k not in drop),
            tuple(k for k in keys if k in agg.neg and k not in drop),
        )

    if not checkpoints:
        return OrderedSet(agg.label, (), ())
    order = ordered(checkpoints[0])
    for checkpoint in checkpoints[1:]:
        if len(checkpoint) > len(order):
            order = order.plus(ordered(checkpoint).minus(order))
    return order


class SourcePool:
    """What is left of each source, and the training set built so far (``DatasetManager``)."""

    def __init__(
        self, sources: Mapping[str, OrderedSet | None], train: LabelKeys | None = None
    ) -> None:
        self.sources = dict(sources)
        self.train = train

    def copy(self) -> SourcePool:
        return SourcePool(self.sources, self.train)

    def has_data(self, which: str) -> bool:
        return self.sources[which] is not None

    def extend(self, which: str, n: int) -> LabelKeys | None:
        """Add the next ``get_n(n)`` shots of ``which``; a used-up source adds nothing."""
        source = self.sources[which]
        if source is None:
            return self.train
        new = source.get_n(n)
        done = len(new) < n or len(new) == len(source)
        self.sources[which] = None if done else source.minus(new)
        self.train = new.labeled if self.train is None else self.train.union(new.labeled)
        for name, other in self.sources.items():
            if other is not None:
                self.sources[name] = other.minus(new)
        return self.train


# -- the algorithms ----------------------------------------------------------------------------
class Policy:
    """How the next source is chosen; subclasses override :meth:`select` and the hooks."""

    plays_each_first = True

    def __init__(self, *, step: int = STEP, seed: int = SEED) -> None:
        self.step, self.seed = step, seed
        self.exhausted: set[str] = set()

    def available(self) -> tuple[str, ...]:
        return tuple(c for c in CHOICES if c not in self.exhausted)

    def start(self, pool: SourcePool, evaluate: Evaluate) -> None:
        return None

    def choose(self, i: int, pool: SourcePool, evaluate: Evaluate) -> str:
        if self.plays_each_first and i < len(CHOICES):
            return CHOICES[i]
        while True:
            choice = self.select(i, pool, evaluate)
            if pool.has_data(choice):
                return choice
            self.exhausted.add(choice)
            if not self.available():
                raise SourcesExhausted("every source is used up")

    def select(self, i: int, pool: SourcePool, evaluate: Evaluate) -> str:
        raise NotImplementedError

    def update(self, choice: str, ap: float) -> None:
        return None


class RoundRobin(Policy):
    def select(self, i: int, pool: SourcePool, evaluate: Evaluate) -> str:
        available = self.available()
        return available[i % len(available)]


class EpsilonGreedy(Policy):
    """Best mean reward, except with probability ε a random source (draws seeded per round)."""

    def __init__(self, epsilon: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.rewards: dict[str, list[float]] = {c: [] for c in CHOICES}
        self.last_ap = 0.0

    def start(self, pool: SourcePool, evaluate: Evaluate) -> None:
        """Warm-up: each source tried on a copy; rewards relative to the worst of them."""
        values = {}
        for choice in CHOICES:
            try:
                trial = pool.copy().extend(choice, self.step)
                values[choice] = evaluate(trial).average_precision.mean
            except (ProtocolError, ValueError):
                values[choice] = 0.0
        worst = min((v, c) for c, v in values.items())[0]
        self.last_ap = worst
        for choice in CHOICES:
            self.rewards[choice].append(values[choice] - worst)

    def mean_reward(self, choice: str) -> float:
        finite = [r for r in self.rewards[choice] if math.isfinite(r)]
        return float(np.mean(finite)) if finite else 0.0

    def best_choice(self) -> str:
        return max((self.mean_reward(c), c) for c in self.available())[1]

    def select(self, i: int, pool: SourcePool, evaluate: Evaluate) -> str:
        rng = np.random.RandomState(self.seed + i)
        if rng.rand() < self.epsilon:
            return str(rng.choice(self.available()))
        return self.best_choice()

    def update(self, choice: str, ap: float) -> None:
        self.rewards[choice].append(ap - self.last_ap)
        self.last_ap = ap


class UCB(EpsilonGreedy):
    """Mean reward plus ``c·sqrt(ln t / plays)``; an unplayed source first."""

    def __init__(self, c: float, **kwargs) -> None:
        super().__init__(epsilon=0.0, **kwargs)
        self.c = c
        self.plays = {choice: 0 for choice in CHOICES}

    def select(self, i: int, pool: SourcePool, evaluate: Evaluate) -> str:
        t, best, best_score = i + 1, None, float("-inf")
        for choice in CHOICES:
            if choice not in self.available():
                continue
            if self.plays[choice] == 0:
                return choice
            score = self.mean_reward(choice) + self.c * math.sqrt(math.log(t) / self.plays[choice])
            if score > best_score:
                best, best_score = choice, score
        assert best is not None  # choose() stops before no source is available
        return best

    def update(self, choice: str, ap: float) -> None:
        self.plays[choice] += 1
        super().update(choice, ap)


class GreedyOracle(Policy):
    """Tries every source each round (on a copy) and keeps the one with the best AP."""

    plays_each_first = False

    def select(self, i: int, pool: SourcePool, evaluate: Evaluate) -> str:
        best, best_score = None, float("-inf")
        for choice in self.available():
            try:
                score = evaluate(pool.copy().extend(choice, self.step)).average_precision.mean
            except (ProtocolError, ValueError):
                continue
            if math.isfinite(score) and score > best_score:
                best, best_score = choice, score
        if best is None:
            raise ProtocolError(f"no source could be tried in round {i + 1}")
        return best


@dataclass(frozen=True)
class Algorithm:
    name: str
    family: str
    make: Callable[..., Policy]


ALGORITHMS = {
    a.name: a
    for a in (
        Algorithm("eps0.1", "EpsilonGreedyMean", lambda **kw: EpsilonGreedy(0.1, **kw)),
        Algorithm("eps0.25", "EpsilonGreedyMean", lambda **kw: EpsilonGreedy(0.25, **kw)),
        Algorithm("eps0.5", "EpsilonGreedyMean", lambda **kw: EpsilonGreedy(0.5, **kw)),
        Algorithm("rr", "RoundRobin", lambda **kw: RoundRobin(**kw)),
        Algorithm("greedy", "GreedyOracle", lambda **kw: GreedyOracle(**kw)),
        Algorithm("ucb", "UCBMean", lambda **kw: UCB(0.01, **kw)),
        Algorithm("ucb.1", "UCBMean", lambda **kw: UCB(0.1, **kw)),
    )
}
#: Rows of Table 3 and the algorithms each takes its best from (per label).
TABLE3_ROWS = {
    "RoundRobin": ("rr",),
    "GreedyOracle": ("greedy",),
    "EpsilonGreedyMean": ("eps0.25",),
    "UCBMean": ("ucb", "ucb.1"),
}


# -- running -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BanditRun:
    algorithm: str
    choices: tuple[str, ...]
    evaluations: tuple[Evaluation, ...]
    stopped: str = ""

    @property
    def best_round(self) -> int | None:
        means = [_sortable(e.average_precision.mean) for e in self.evaluations]
        return int(np.argmax(means)) if means else None

    @property
    def best_ap(self) -> float:
        best = self.best_round
        return float("nan") if best is None else self.evaluations[best].average_precision.mean


def run_bandit(
    policy: Policy,
    sources: dict[str, OrderedSet],
    evaluate: Evaluate,
    *,
    rounds: int = ROUNDS,
    step: int = STEP,
    name: str = "",
) -> BanditRun:
    """Play ``rounds`` rounds; a failure ends the run early with the reason."""
    pool = SourcePool(sources)
    policy.start(pool, evaluate)
    choices, evaluations, stopped = [], [], ""
    for i in range(rounds):
        try:
            choice = policy.choose(i, pool, evaluate)
            evaluation = evaluate(pool.extend(choice, step))
        except (ProtocolError, ValueError) as exc:
            stopped = f"stopped in round {i + 1}: {exc}"
            break
        policy.update(choice, evaluation.average_precision.mean)
        choices.append(choice)
        evaluations.append(evaluation)
    return BanditRun(name, tuple(choices), tuple(evaluations), stopped)


def cached_evaluator(validation: ValidationSet, vectors: VectorTable, *, fast: bool) -> Evaluate:
    """Fit-and-evaluate, remembered per training set (algorithms share many of them)."""
    cache: dict[tuple[frozenset, frozenset], Evaluation] = {}

    def evaluate(train: LabelKeys | None) -> Evaluation:
        if train is None:
            raise ProtocolError("nothing to train on yet")
        key = (train.pos, train.neg)
        if key not in cache:
            cache[key] = fit_and_evaluate(make_model(fast=fast), train, validation, vectors)
        return cache[key]

    return evaluate


@dataclass(frozen=True, eq=False)
class LabelBandits:
    label: str
    runs: dict[str, BanditRun]
    va_best_ap: float
    va_best_size: int | None
    exp1_gain: float  # VA − CC at EXP1_N, AP points (NaN when not available)


def run_label(
    data: ExperimentData,
    vectors: VectorTable,
    label: str,
    *,
    algorithms: Sequence[str],
    rounds: int = ROUNDS,
    step: int = STEP,
    n_bootstrap: int = N_BOOTSTRAP,
    fast: bool = False,
    seed: int = SEED,
    va_split_seed: int = VA_SPLIT_SEED,
    exp1_n: int = EXP1_N,
) -> LabelBandits:
    """Every algorithm on one label, plus its VA reference; ProtocolError to exclude it."""
    agg, cmp, checkpoints = data.agg(label), data.cmp(label), data.checkpoints(label)
    _, val = split(agg, seed=seed)
    drop = set(val.pos | val.neg)
    sources = {
        "agg": agg_order(checkpoints, agg, drop),
        "zero_shot": OrderedSet.from_pairs(label, cmp["zero_shot"], drop),
        "random": OrderedSet.from_pairs(label, cmp["random"], drop),
    }
    evaluate = cached_evaluator(
        ValidationSet.build(val, vectors, n_bootstrap=n_bootstrap), vectors, fast=fast
    )
    runs = {
        name: run_bandit(
            ALGORITHMS[name].make(step=step, seed=seed),
            sources,
            evaluate,
            rounds=rounds,
            step=step,
            name=name,
        )
        for name in algorithms
    }
    va_ap, va_size, gain = _va_reference(
        agg,
        cmp,
        checkpoints,
        vectors,
        n_bootstrap=n_bootstrap,
        fast=fast,
        seed=va_split_seed,
        exp1_n=exp1_n,
    )
    return LabelBandits(label, runs, va_ap, va_size, gain)


def _va_reference(
    agg: LabelKeys,
    cmp,
    checkpoints: Sequence[LabelKeys],
    vectors: VectorTable,
    *,
    n_bootstrap: int,
    fast: bool,
    seed: int,
    exp1_n: int,
) -> tuple[float, int | None, float]:
    """Best VA checkpoint AP on the seed-``seed`` split, and experiment 1's VA − CC gain."""
    try:
        _, val = split(agg, seed=seed)
    except ProtocolError:
        return float("nan"), None, float("nan")
    validation = ValidationSet.build(val, vectors, n_bootstrap=n_bootstrap)
    drop = set(val.pos | val.neg)

    def fit(checkpoint: LabelKeys) -> Evaluation:
        return fit_and_evaluate(
            make_model(fast=fast), checkpoint.without(drop), validation, vectors
        )

    evaluations = [_try(partial(fit, cp)) for cp in checkpoints]
    done = [e for e in evaluations if e is not None]
    if not done:
        return float("nan"), None, float("nan")
    best = max(done, key=lambda e: _sortable(e.average_precision.mean))
    eligible = [e for e in done if e.n_train <= exp1_n + CHECKPOINT_SLACK]
    cc = _try(
        lambda: fit_and_evaluate(
            make_model(fast=fast),
            cmp_training_set(cmp, agg.label, "cc", exp1_n, drop=drop),
            validation,
            vectors,
        )
    )
    gain = float("nan")
    if eligible and cc is not None:
        va = max(e.average_precision.mean for e in eligible)
        if va != cc.average_precision.mean:
            gain = 100.0 * (va - cc.average_precision.mean)
    return best.average_precision.mean, best.n_train, gain


def _try(fit: Callable[[], Evaluation]) -> Evaluation | None:
    try:
        return fit()
    except (ProtocolError, ValueError):
        return None


def _sortable(value: float) -> float:
    return value if math.isfinite(value) else float("-inf")


# -- tables and figures ------------------------------------------------------------------------
def per_label_frame(results: Sequence[LabelBandits]) -> pd.DataFrame:
    rows = []
    for res in results:
        for name, run in res.runs.items():
            best = run.best_round
            rows.append(
                {
                    "label": res.label,
                    "algorithm": name,
                    "family": ALGORITHMS[name].family,
                    "rounds_played": len(run.evaluations),
                    "best_round": best,
                    "best_ap": run.best_ap,
                    "best_train_size": None if best is None else run.evaluations[best].n_train,
                    "last_ap": run.evaluations[-1].average_precision.mean
                    if run.evaluations
                    else float("nan"),
                    "va_best_ap": res.va_best_ap,
                    "va_best_train_size": res.va_best_size,
                    "lift_points": 100.0 * (run.best_ap - res.va_best_ap),
                    "choices": ",".join(run.choices),
                    "stopped": run.stopped,
                }
            )
    return pd.DataFrame(rows)


def rounds_frame(results: Sequence[LabelBandits]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "label": res.label,
                "algorithm": name,
                "round": i + 1,
                "choice": choice,
                "n_train": ev.n_train,
                "ap_mean": ev.average_precision.mean,
                "ap_std": ev.average_precision.std,
            }
            for res in results
            for name, run in res.runs.items()
            for i, (choice, ev) in enumerate(zip(run.choices, run.evaluations))
        ]
    )


def _percentiles(values: pd.Series) -> dict:
    values = values.dropna()
    row = {
        f"p{q}": float(np.percentile(values, q)) if len(values) else float("nan")
        for q in PERCENTILES
    }
    row["labels"] = int(len(values))
    return row


def table3(results: Sequence[LabelBandits]) -> pd.DataFrame:
    """Percentiles over labels of the lift (AP points) per row of the paper's Table 3."""
    rows = {}
    for family, names in TABLE3_ROWS.items():
        lifts = []
        for res in results:
            bests = [res.runs[n].best_ap for n in names if n in res.runs]
            bests = [b for b in bests if math.isfinite(b)]
            if bests and math.isfinite(res.va_best_ap):
                lifts.append(100.0 * (max(bests) - res.va_best_ap))
        if any(n in res.runs for res in results for n in names):
            rows[family] = _percentiles(pd.Series(lifts, dtype=float))
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("algorithm")


def variants_table(per_label: pd.DataFrame) -> pd.DataFrame:
    """The same percentiles for every algorithm variant (each ε and c on its own)."""
    if per_label.empty:
        return pd.DataFrame()
    rows = {
        name: _percentiles(group["lift_points"])
        for name, group in per_label.groupby("algorithm", sort=False)
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("algorithm")


def combined_gain(results: Sequence[LabelBandits]) -> tuple[float, int]:
    """Median over labels of experiment 1's gain at n = 1000 plus the UCB lift (points)."""
    values = []
    for res in results:
        bests = [res.runs[n].best_ap for n in TABLE3_ROWS["UCBMean"] if n in res.runs]
        bests = [b for b in bests if math.isfinite(b)]
        if bests and math.isfinite(res.va_best_ap) and math.isfinite(res.exp1_gain):
            values.append(res.exp1_gain + 100.0 * (max(bests) - res.va_best_ap))
    return (float(np.median(values)) if values else float("nan")), len(values)


def lift_figure(per_label: pd.DataFrame) -> go.Figure:
    """Distribution over labels of each algorithm's lift over the best VA checkpoint."""
    fig = go.Figure()
    for name, group in per_label.groupby("algorithm", sort=False) if len(per_label) else []:
        fig.add_trace(
            go.Box(
                y=group["lift_points"],
                name=name,
                boxpoints="all",
                text=group["label"],
                hovertemplate="%{text}: %{y:.1f}<extra></extra>",
            )
        )
    fig.add_hline(y=0, line_dash="dot", line_color="#777777")
    fig.update_layout(
        template="plotly_white",
        showlegend=False,
        title={"text": "Lift of each bandit over the best VA checkpoint", "x": 0.01},
        yaxis_title="AP points (best round − best VA checkpoint)",
    )
    return fig


def rounds_figure(rounds: pd.DataFrame) -> go.Figure:
    """Median AP over labels after each round, per algorithm."""
    fig = go.Figure()
    if len(rounds):
        medians = rounds.groupby(["algorithm", "round"], sort=False)["ap_mean"].median()
        for name in rounds["algorithm"].unique():
            series = medians.loc[name]
            fig.add_trace(go.Scatter(x=series.index, y=series.to_numpy(), mode="lines", name=name))
    fig.update_layout(
        template="plotly_white",
        yaxis_range=[0, 1],
        title={"text": "AP after each round of 25 annotations", "x": 0.01},
        xaxis_title="round",
        yaxis_title="median AP over labels",
    )
    return fig


# -- the experiment ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SourceBanditResult:
    labels: list[str]
    excluded: dict[str, str]
    per_label: pd.DataFrame
    rounds: pd.DataFrame
    table3: pd.DataFrame
    variants: pd.DataFrame
    combined_median_gain: float
    combined_labels: int
    fast: bool
    files: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> dict:
        return json_ready(
            {
                "experiment": "source-bandit",
                "fast": self.fast,
                "labels_evaluated": self.labels,
                "labels_excluded": self.excluded,
                "table3": self.table3.to_dict(orient="index"),
                "variants": self.variants.to_dict(orient="index"),
                "combined_median_gain_points": self.combined_median_gain,
                "combined_labels": self.combined_labels,
                "files": {k: str(v) for k, v in self.files.items()},
            }
        )

    def table3_text(self) -> str:
        cols = [f"p{q}" for q in PERCENTILES]
        lines = [
            f"Lift over the best VA checkpoint in AP points ({len(self.labels)} labels)",
            f"{'algorithm':<20}" + "".join(f"{c:>8}" for c in cols) + f"{'labels':>8}",
        ]
        for name, row in self.table3.iterrows():
            cells = "".join(
                f"{row[c]:>8.1f}" if math.isfinite(row[c]) else f"{'—':>8}" for c in cols
            )
            lines.append(f"{name:<20}{cells}{int(row['labels']):>8}")
        gain = self.combined_median_gain
        lines.append(
            f"combined median gain (exp. 1 at n=1000 + UCB lift): "
            f"{'—' if not math.isfinite(gain) else f'{gain:+.1f}'} points "
            f"({self.combined_labels} labels)"
        )
        if self.excluded:
            lines.append(
                f"excluded: {len(self.excluded)} label(s) — "
                + "; ".join(f"{k}: {v}" for k, v in sorted(self.excluded.items()))
            )
        return "\n".join(lines)


def run_source_bandit(
    data_dir: str | Path,
    *,
    labels: Sequence[str] | None = None,
    out_dir: str | Path,
    algorithms: Sequence[str] | None = None,
    rounds: int = ROUNDS,
    step: int = STEP,
    n_bootstrap: int = N_BOOTSTRAP,
    fast: bool = False,
    seed: int = SEED,
    va_split_seed: int = VA_SPLIT_SEED,
    progress: Progress | None = None,
) -> SourceBanditResult:
    """Run experiment 2 on ``data_dir`` and write its tables and figures to ``out_dir``.

    ``algorithms``: names from :data:`ALGORITHMS` (default all seven). ``rounds`` / ``step`` /
    ``n_bootstrap`` default to the paper's 40 / 25 / 5. ``progress(done, total, label)``.
    """
    names = list(algorithms or ALGORITHMS)
    unknown = [n for n in names if n not in ALGORITHMS]
    if unknown:
        raise ValidationError(
            f"unknown algorithm(s) {', '.join(unknown)}; choose from {', '.join(ALGORITHMS)}"
        )
    if rounds < 1 or step < 1:
        raise ValidationError("rounds and step must be at least 1")
    data = ExperimentData.open(data_dir)
    chosen, excluded = select_labels(data, labels, needs=("cmp", "checkpoints"))
    vectors = data.vectors(set().union(*(data.keys_named(lb) for lb in chosen)) if chosen else ())
    results = []
    for done, label in enumerate(chosen, 1):
        try:
            results.append(
                run_label(
                    data,
                    vectors,
                    label,
                    algorithms=names,
                    rounds=rounds,
                    step=step,
                    n_bootstrap=n_bootstrap,
                    fast=fast,
                    seed=seed,
                    va_split_seed=va_split_seed,
                )
            )
        except ProtocolError as exc:
            excluded[label] = str(exc).removeprefix(f"{label}: ")
        if progress:
            progress(done, len(chosen), label)
    return _write(_result(results, excluded, fast), Path(out_dir))


def _result(
    results: list[LabelBandits], excluded: dict[str, str], fast: bool
) -> SourceBanditResult:
    per_label = per_label_frame(results)
    median, count = combined_gain(results)
    return SourceBanditResult(
        [r.label for r in results],
        excluded,
        per_label,
        rounds_frame(results),
        table3(results),
        variants_table(per_label),
        median,
        count,
        fast,
    )


def _write(result: SourceBanditResult, out_dir: Path) -> SourceBanditResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "per_label": out_dir / "bandit_per_label.csv",
        "rounds": out_dir / "bandit_rounds.csv",
        "table3": out_dir / "table3.csv",
        "variants": out_dir / "table3_variants.csv",
        "summary": out_dir / "bandit_summary.json",
        "lift": out_dir / "bandit_lift.html",
        "rounds_figure": out_dir / "bandit_rounds.html",
    }
    result.per_label.to_csv(files["per_label"], index=False)
    result.rounds.to_csv(files["rounds"], index=False)
    result.table3.round(1).to_csv(files["table3"])
    result.variants.round(1).to_csv(files["variants"])
    lift_figure(result.per_label).write_html(files["lift"], include_plotlyjs="directory")
    rounds_figure(result.rounds).write_html(files["rounds_figure"], include_plotlyjs="directory")
    result.files.update(files)
    files["summary"].write_text(json.dumps(result.summary(), indent=2), encoding="utf-8")
    return result
