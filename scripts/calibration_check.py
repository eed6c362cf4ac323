"""Calibration on a corpus with ground truth (the demo): raw vs calibrated scores after a build.

For every ground-truth concept and seed: 20 positives + 20 negatives drawn at random from the
truth, one build (the app's engine), then over every *other* shot of the corpus: Brier score,
expected calibration error (10 bins), average precision of raw and calibrated scores, and the
median calibrated probability of the top-positive feed. Prints one JSON object (medians over
concepts × seeds, and per concept).

    VA_DATA_DIR=/tmp/demo .venv/bin/python -m va_app demo
    PYTHONPATH=. .venv/bin/python scripts/calibration_check.py --data-dir /tmp/demo [--seeds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics

import numpy as np
from scipy.special import expit
from sklearn.metrics import average_precision_score

from va_app.config import Settings
from va_app.learn.calibration import brier_score, expected_calibration_error
from va_app.learn.engine import build
from va_app.learn.matrix import CorpusMatrix
from va_app.store.corpus import open_corpus
from va_app.store.labels import LabelledSet

N_EACH = 20


def check_concept(matrix: CorpusMatrix, truth: dict[str, bool], seed: int) -> dict | None:
    rng = np.random.default_rng(seed)
    pos = sorted(s for s, v in truth.items() if v and s in matrix.row_of)
    neg = sorted(s for s, v in truth.items() if not v and s in matrix.row_of)
    if len(pos) < N_EACH + 5 or len(neg) < N_EACH + 5:
        return None
    picked_pos = list(rng.choice(pos, N_EACH, replace=False))
    picked_neg = list(rng.choice(neg, N_EACH, replace=False))
    result = build(matrix, LabelledSet(picked_pos, picked_neg), n=20, seed=seed)
    held = np.ones(matrix.n_shots, dtype=bool)
    held[matrix.rows(picked_pos + picked_neg)] = False
    y = np.array([truth.get(s, False) for s in matrix.ids], dtype=int)[held]
    raw_all = expit(result.classifier.decision_function(matrix.X))
    raw, cal = raw_all[held], result.probabilities[held]
    top = matrix.rows(result.feeds["positive"])
    return {
        "brier_raw": brier_score(y, raw),
        "brier": brier_score(y, cal),
        "ece_raw": expected_calibration_error(y, raw),
        "ece": expected_calibration_error(y, cal),
        "ap_raw": average_precision_score(y, raw),
        "ap": average_precision_score(y, cal),
        "top20_median_raw": float(np.median(raw_all[top])),
        "top20_median": float(np.median(result.probabilities[top])),
        "prevalence": float(y.mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    corpus = open_corpus(Settings.from_env().with_data_dir(args.data_dir))
    matrix = CorpusMatrix.load(corpus)
    per_concept, rows = {}, []
    for concept in corpus.catalog.ground_truth_concepts():
        truth = corpus.catalog.ground_truth(concept)
        runs = [r for seed in range(args.seeds) if (r := check_concept(matrix, truth, seed))]
        if runs:
            per_concept[concept] = {
                k: round(statistics.median(r[k] for r in runs), 4) for k in runs[0]
            }
            rows += runs
    overall = {k: round(statistics.median(r[k] for r in rows), 4) for k in rows[0]}
    overall["max_abs_ap_change"] = max(abs(r["ap"] - r["ap_raw"]) for r in rows)
    print(json.dumps({"runs": len(rows), "median": overall, "per_concept": per_concept}, indent=1))
    corpus.close()


if __name__ == "__main__":
    main()
