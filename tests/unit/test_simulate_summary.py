"""The simulator's verdict on VA against CC: a difference the seeds' noise explains is a tie, a
loss beyond it is a loss, and the text table says which."""

from __future__ import annotations

import numpy as np
import pytest

from va_app.research.simulate.summary import summarise, summarise_groups, summary_lines

POINTS = [20, 40]


def _labels(va: np.ndarray, cc: np.ndarray, positives: int = 100) -> dict[str, dict]:
    """Per-label results as the runner writes them, from AP arrays (labels × seeds × points)."""
    out = {}
    for i in range(va.shape[0]):
        runs = {"va": va[i].round(4).tolist(), "cc": cc[i].round(4).tolist()}
        out[f"label{i}"] = {
            "train": 1000,
            "train_positives": positives,
            "checkpoints": POINTS,
            "ap_per_seed": runs,
            "ap": {
                s: {str(n): float(np.median(np.asarray(r)[:, j])) for j, n in enumerate(POINTS)}
                for s, r in runs.items()
            },
        }
    return out


def _result(va: np.ndarray, cc: np.ndarray) -> dict:
    per_label = _labels(va, cc)
    return {
        "strategies": {"va": "VA", "cc": "CC"},
        "checkpoints": POINTS,
        "excluded": [],
        **summarise(per_label, ("va", "cc"), POINTS),
    }


def test_the_same_strategy_twice_is_a_tie_even_where_its_medians_differ() -> None:
    # Two draws of one noisy strategy: AP jumps between a classifier's and chance by luck.
    rng = np.random.default_rng(1)

    def draw():
        return np.where(rng.random((12, 5, 2)) < 0.6, 0.85, 0.2) + 0.05 * rng.standard_normal(
            (12, 5, 2)
        )

    result = _result(draw(), draw())
    medians = result["median_ap"]
    assert any(medians["va"][n] != medians["cc"][n] for n in ("20", "40"))
    assert result["va_vs_cc"] == {"20": "tie", "40": "tie"}, result["va_minus_cc_interval"]
    assert result["va_at_least_cc_at_every_n"]
    low, high = result["va_minus_cc_interval"]["20"]
    assert low < 0 < high
    line = summary_lines(result)[1]
    assert line.split()[0] == "20" and line.endswith("tie") and "[" in line


def test_a_loss_beyond_the_seeds_noise_is_a_loss() -> None:
    rng = np.random.default_rng(2)
    cc = 0.8 + 0.05 * rng.random((12, 5, 2))
    va = cc.copy()
    va[:, :, 0] -= 0.1  # VA worse at n = 20 on every label and seed, level at 40
    result = _result(va, cc)
    assert result["va_vs_cc"]["20"] == "below" and result["va_minus_cc_interval"]["20"][1] < 0
    assert result["va_vs_cc"]["40"] == "tie"
    assert result["va_at_least_cc"] == {"20": False, "40": True}
    assert not result["va_at_least_cc_at_every_n"]
    assert summary_lines(result)[-1].endswith("NO")


def test_a_win_beyond_the_noise_is_a_win() -> None:
    rng = np.random.default_rng(3)
    cc = 0.7 + 0.05 * rng.random((12, 5, 2))
    result = _result(cc + 0.1, cc)
    assert result["va_vs_cc"] == {"20": "above", "40": "above"}
    assert result["va_minus_cc_interval"]["20"][0] > 0


def test_with_one_seed_there_is_no_interval_and_the_point_decides() -> None:
    cc = np.full((4, 1, 2), 0.8)
    va = cc.copy()
    va[:, :, 1] -= 0.01
    result = _result(va, cc)
    assert result["va_minus_cc_interval"] == {"20": None, "40": None}
    assert result["va_vs_cc"] == {"20": "tie", "40": "below"}
    assert not result["va_at_least_cc_at_every_n"]


def test_common_and_rare_concepts_get_their_own_verdicts() -> None:
    rng = np.random.default_rng(4)
    cc = 0.7 + 0.05 * rng.random((6, 5, 2))
    common = _labels(cc + 0.1, cc)  # VA wins on the common concepts
    rare = {f"rare{k}": v for k, v in _labels(cc[:3] - 0.2, cc[:3], positives=30).items()}
    per_label = {**common, **rare}
    groups = summarise_groups(per_label, ("va", "cc"), POINTS)
    assert groups["common"]["labels"] == list(common)
    assert groups["rare"]["labels"] == list(rare)  # 3 % positives: rare
    assert groups["common"]["va_at_least_cc_at_every_n"]
    assert groups["rare"]["va_vs_cc"] == {"20": "below", "40": "below"}
    result = {
        "strategies": {"va": "VA", "cc": "CC"},
        "checkpoints": POINTS,
        "excluded": [],
        **summarise(per_label, ("va", "cc"), POINTS),
        "groups": groups,
    }
    lines = summary_lines(result)
    assert "  common concepts (6): yes (20 above, 40 above)" in lines
    assert "  rare concepts (3): NO (20 below, 40 below)" in lines
    assert summarise_groups(common, ("va", "cc"), POINTS).keys() == {"common"}


def test_the_figure_draws_va_minus_cc_with_its_interval_coloured_by_verdict() -> None:
    from va_app.research.simulate.figure import DIFF_NAME, VERDICT_COLOURS, simulation_figure

    rng = np.random.default_rng(5)
    cc = 0.8 + 0.05 * rng.random((12, 5, 2))
    va = cc.copy()
    va[:, :, 0] -= 0.1  # below at n = 20
    va[:, :, 1] += 0.1  # above at n = 40
    result = {**_result(va, cc), "labels": _labels(va, cc), "seeds": 5}
    fig = simulation_figure(result)
    names = [trace.name for trace in fig.data]
    assert names == ["VA", "CC", DIFF_NAME]
    diff = fig.data[2]
    assert list(diff.marker.color) == [VERDICT_COLOURS["below"], VERDICT_COLOURS["above"]]
    low, high = result["va_minus_cc_interval"]["20"]
    assert diff.y[0] - diff.error_y.arrayminus[0] == pytest.approx(low)
    assert diff.y[0] + diff.error_y.array[0] == pytest.approx(high)
    # Without CC there is no difference to draw: one panel.
    only_va = {**result, "strategies": {"va": "VA"}}
    del only_va["va_minus_cc_interval"]
    assert [t.name for t in simulation_figure(only_va).data] == ["VA"]


def test_the_plain_rotation_gets_its_own_verdict_line_and_figure_series() -> None:
    from va_app.research.simulate.figure import DIFFERENCES, simulation_figure

    rng = np.random.default_rng(6)
    cc = 0.8 + 0.05 * rng.random((12, 5, 2))
    per_label = _labels(cc + 0.1, cc)
    for i, label in enumerate(per_label.values()):  # the rotation: below CC at both n
        runs = (cc[i] - 0.1).round(4).tolist()
        label["ap_per_seed"]["va_rot"] = runs
        label["ap"]["va_rot"] = {
            str(n): float(np.median(np.asarray(runs)[:, j])) for j, n in enumerate(POINTS)
        }
    strategies = ("va", "va_rot", "cc")
    result = {
        "strategies": {"va": "VA", "va_rot": "VA rotation", "cc": "CC"},
        "checkpoints": POINTS,
        "excluded": [],
        "labels": per_label,
        "seeds": 5,
        **summarise(per_label, strategies, POINTS),
    }
    assert result["va_vs_cc"] == {"20": "above", "40": "above"}
    assert result["rotation_vs_cc"] == {"20": "below", "40": "below"}
    assert not result["rotation_at_least_cc_at_every_n"]
    lines = summary_lines(result)
    assert "VA ≥ CC at every n (never below beyond the seeds' noise): yes" in lines
    assert "VA (plain rotation) ≥ CC at every n (never below beyond the seeds' noise): NO" in lines
    names = [trace.name for trace in simulation_figure(result).data]
    assert names[-2:] == [DIFFERENCES[0][1], DIFFERENCES[1][1]]
