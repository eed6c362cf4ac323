"""The simulator's headline numbers: medians over labels, VA − CC, the recommender's lift, and
the text table the CLI prints."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from va_app.research.simulate.task import rounded


def summarise(per_label: dict[str, dict], strategies: Sequence[str],
               points: list[int]) -> dict[str, Any]:
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
    if {"va", "cc"} <= set(strategies):
        out["va_minus_cc"] = {str(n): over_labels(diff("va", "cc"), n) for n in points}
        ok = {str(n): _at_least(median_ap["va"][str(n)], median_ap["cc"][str(n)])
              for n in points}
        out["va_at_least_cc"] = ok
        out["va_at_least_cc_at_every_n"] = all(v for v in ok.values() if v is not None)
    if {"va", "va_rec"} <= set(strategies):
        out["recommender_lift"] = {str(n): over_labels(diff("va_rec", "va"), n) for n in points}
    return out


def _at_least(a: float | None, b: float | None) -> bool | None:
    return None if a is None or b is None else a >= b



# -- reporting ------------------------------------------------------------------------------
def summary_lines(result: dict[str, Any]) -> list[str]:
    """The median-AP table (rows n, columns strategies) and the two comparisons, as text."""
    strategies = list(result["strategies"])
    head = f"{'n':>5} " + " ".join(f"{s:>8}" for s in strategies)
    extra = [k for k in ("va_minus_cc", "recommender_lift") if k in result]
    head += "".join(f" {k:>17}" for k in extra)
    lines = [head]
    for n in map(str, result["checkpoints"]):
        cells = " ".join(_cell(result["median_ap"][s][n], 8) for s in strategies)
        cells += "".join(" " + _cell(result[k][n], 17, signed=True) for k in extra)
        lines.append(f"{n:>5} {cells}")
    if "va_at_least_cc_at_every_n" in result:
        verdict = "yes" if result["va_at_least_cc_at_every_n"] else "NO"
        lines.append(f"VA median AP ≥ CC median AP at every n: {verdict}")
    lines += [f"excluded {e['label']}: {e['reason']}" for e in result["excluded"]]
    return lines


def _cell(value: float | None, width: int, *, signed: bool = False) -> str:
    if value is None:
        return f"{'–':>{width}}"
    return f"{value:>+{width}.3f}" if signed else f"{value:>{width}.3f}"
