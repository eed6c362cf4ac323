"""The simulator's headline numbers: medians over labels, VA − CC with its seed-noise interval,
the recommender's lift, and the text table the CLI prints."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.stats import bootstrap

from va_app.research.simulate.task import rounded


def summarise(
    per_label: dict[str, dict], strategies: Sequence[str], points: list[int]
) -> dict[str, Any]:
    def over_labels(fn: Callable[[dict, str], float | None], n: int) -> float | None:
        values = [v for label in per_label.values() if (v := fn(label, str(n))) is not None]
        return rounded(float(np.median(values))) if values else None

    def ap(name: str) -> Callable[[dict, str], float | None]:
        return lambda label, n: label["ap"].get(name, {}).get(n)

    def diff(a: str, b: str) -> Callable[[dict, str], float | None]:
        def fn(label: dict, n: str) -> float | None:
            x, y = label["ap"].get(a, {}).get(n), label["ap"].get(b, {}).get(n)
            return None if x is None or y is None else x - y

        return fn

    median_ap = {s: {str(n): over_labels(ap(s), n) for n in points} for s in strategies}
    out: dict[str, Any] = {"median_ap": median_ap}
    for strategy, prefix in VERSUS_CC.items():
        if {strategy, "cc"} <= set(strategies):
            out.update(_versus_cc(per_label, strategy, prefix, points, median_ap, over_labels))
    if {"va", "va_rec"} <= set(strategies):
        out["recommender_lift"] = {str(n): over_labels(diff("va_rec", "va"), n) for n in points}
    if {"va_rot", "va_rec"} <= set(strategies):
        out["recommender_lift_over_rotation"] = {
            str(n): over_labels(diff("va_rec", "va_rot"), n) for n in points
        }
    duplicates = _page_duplicates(per_label)
    if duplicates:
        out["page_near_duplicates"] = duplicates
    return out


def _page_duplicates(per_label: dict[str, dict]) -> dict[str, dict[str, dict[str, float]]]:
    """Per strategy and feed, near-duplicate pairs per page (plain and spread over the
    clusters), averaged over labels."""
    found: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for label in per_label.values():
        for name, feeds in label.get("page_near_duplicates", {}).items():
            for feed, pairs in feeds.items():
                found.setdefault((name, feed), []).append((pairs["plain"], pairs["spread"]))
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (name, feed), values in found.items():
        plain, spread = np.mean(values, axis=0)
        out.setdefault(name, {})[feed] = {
            "plain": rounded(float(plain)),
            "spread": rounded(float(spread)),
        }
    return out


#: The VA strategies compared with CC, and the prefix of their keys in the summary.
VERSUS_CC = {"va": "va", "va_rot": "rotation"}
STRATEGY_WORDS = {"va_rot": "plain rotation"}


def _versus_cc(
    per_label: dict[str, dict],
    strategy: str,
    prefix: str,
    points: list[int],
    median_ap: dict[str, dict[str, float | None]],
    over_labels: Callable,
) -> dict[str, Any]:
    """``<prefix>_minus_cc``, its interval, the verdict per n and whether never below."""

    def diff(label: dict, n: str) -> float | None:
        x, y = label["ap"].get(strategy, {}).get(n), label["ap"].get("cc", {}).get(n)
        return None if x is None or y is None else x - y

    minus = {str(n): over_labels(diff, n) for n in points}
    interval = {str(n): va_minus_cc_interval(per_label, n, strategy=strategy) for n in points}
    verdict = {n: _verdict(minus[n], interval[n]) for n in interval}
    ok = {n: None if v is None else v != "below" for n, v in verdict.items()}
    return {
        f"{prefix}_minus_cc": minus,
        f"{prefix}_median_at_least_cc": {
            str(n): _at_least(median_ap[strategy][str(n)], median_ap["cc"][str(n)]) for n in points
        },
        f"{prefix}_minus_cc_interval": interval,
        f"{prefix}_vs_cc": verdict,
        f"{prefix}_at_least_cc": ok,
        f"{prefix}_at_least_cc_at_every_n": all(v for v in ok.values() if v is not None),
    }


#: A concept is rare when at most this share of its shots are positives (the paper's median
#: positive rate among random shots is 2.5 %); random labelling finds few of them.
RARE_SHARE = 0.05


def summarise_groups(
    per_label: dict[str, dict], strategies: Sequence[str], points: list[int]
) -> dict[str, dict[str, Any]]:
    """:func:`summarise` on the common and on the rare concepts (:data:`RARE_SHARE`) apart;
    each group also lists its labels. Groups without labels are left out."""

    def rare(label: dict) -> bool:
        return label["train_positives"] <= RARE_SHARE * label["train"]

    groups = {
        "common": {k: v for k, v in per_label.items() if not rare(v)},
        "rare": {k: v for k, v in per_label.items() if rare(v)},
    }
    return {
        name: {"labels": list(members), **summarise(members, strategies, points)}
        for name, members in groups.items()
        if members
    }


def _at_least(a: float | None, b: float | None) -> bool | None:
    return None if a is None or b is None else a >= b


#: Confidence of the interval around VA − CC, and the bootstrap's resamples.
CONFIDENCE = 0.95
N_RESAMPLES = 2000


def va_minus_cc_interval(
    per_label: dict[str, dict], n: int, *, strategy: str = "va"
) -> list[float] | None:
    """The :data:`CONFIDENCE` interval of ``va_minus_cc`` at ``n`` over the seeds' randomness
    (``strategy`` instead of ``va``: the same for that strategy).

    ``va_minus_cc`` is the median over labels of (VA's median over seeds − CC's). Which
    random shots a seed draws moves it: at n = 20 a label's AP jumps between a classifier's
    and chance by whether the few random shots held one positive. The interval resamples each
    label's seeds (VA's and CC's run of a seed together: they share the seed) and recomputes
    the statistic (scipy's percentile bootstrap, fixed seed). None with fewer than 2 seeds.
    """
    samples = []
    for label in per_label.values():
        at = label["checkpoints"].index(n) if n in label.get("checkpoints", ()) else None
        runs = label.get("ap_per_seed", {})
        if at is None or strategy not in runs or "cc" not in runs:
            continue
        samples.append(
            np.array(
                [[run[at] for run in runs[strategy]], [run[at] for run in runs["cc"]]],
                dtype=float,
            )
        )
    if not samples or samples[0].shape[1] < 2:
        return None

    def statistic(*per_seed: np.ndarray, axis: int = -1) -> np.ndarray:
        diffs = [np.median(s[0], axis=axis) - np.median(s[1], axis=axis) for s in per_seed]
        return np.median(np.stack(diffs), axis=0)

    ci = bootstrap(
        samples,
        statistic,
        vectorized=True,
        paired=False,
        axis=-1,
        confidence_level=CONFIDENCE,
        n_resamples=N_RESAMPLES,
        method="percentile",
        random_state=0,
    ).confidence_interval
    return [rounded(float(ci.low)), rounded(float(ci.high))]


def _verdict(diff: float | None, interval: list[float] | None) -> str | None:
    """VA against CC: "above" or "below" beyond the seeds' noise, else "tie"."""
    if diff is None:
        return None
    low, high = interval if interval is not None else (diff, diff)
    if high < 0:
        return "below"
    return "above" if low > 0 else "tie"


# -- reporting ------------------------------------------------------------------------------
def summary_lines(result: dict[str, Any]) -> list[str]:
    """The median-AP table (rows n, columns strategies), the two comparisons with VA − CC's
    interval and verdict, as text."""
    strategies = list(result["strategies"])
    head = f"{'n':>5} " + " ".join(f"{s:>8}" for s in strategies)
    extra = [k for k in ("va_minus_cc", "recommender_lift") if k in result]
    head += "".join(f" {k:>17}" for k in extra)
    if "va_vs_cc" in result:
        head += f" {'VA − CC ' + f'{CONFIDENCE:.0%}':>17}  VA vs CC"
    lines = [head]
    for n in map(str, result["checkpoints"]):
        cells = " ".join(_cell(result["median_ap"][s][n], 8) for s in strategies)
        cells += "".join(" " + _cell(result[k][n], 17, signed=True) for k in extra)
        if "va_vs_cc" in result:
            ci = result["va_minus_cc_interval"][n]
            span = f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "–"
            cells += f" {span:>17}  {result['va_vs_cc'][n] or '–'}"
        lines.append(f"{n:>5} {cells}")
    for strategy, prefix in VERSUS_CC.items():
        key = f"{prefix}_at_least_cc_at_every_n"
        if key not in result:
            continue
        verdict = "yes" if result[key] else "NO"
        who = "VA" if strategy == "va" else f"VA ({STRATEGY_WORDS.get(strategy, strategy)})"
        lines.append(f"{who} ≥ CC at every n (never below beyond the seeds' noise): {verdict}")
        for name, group in result.get("groups", {}).items():
            if key in group:
                ok = "yes" if group[key] else "NO"
                per_n = ", ".join(f"{n} {v}" for n, v in group[f"{prefix}_vs_cc"].items() if v)
                lines.append(f"  {name} concepts ({len(group['labels'])}): {ok} ({per_n})")
    for name, feeds in result.get("page_near_duplicates", {}).items():
        per_feed = ", ".join(
            f"{feed} {pairs['plain']:.2f} → {pairs['spread']:.2f}" for feed, pairs in feeds.items()
        )
        lines.append(f"near-duplicate pairs per page of 20 ({name}), plain → spread: {per_feed}")
    lines += [f"excluded {e['label']}: {e['reason']}" for e in result["excluded"]]
    return lines


def _cell(value: float | None, width: int, *, signed: bool = False) -> str:
    if value is None:
        return f"{'–':>{width}}"
    return f"{value:>+{width}.3f}" if signed else f"{value:>{width}.3f}"
