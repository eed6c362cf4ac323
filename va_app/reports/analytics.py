"""The numbers behind the managers' dashboard and the review page (pure core, no streamlit).

Each function takes plain values (annotation histories, verdicts, model versions, the corpus
matrix — gathered by ``va_app.services.dashboard``) and returns a pandas DataFrame or a small
frozen dataclass; :mod:`va_app.reports.charts` turns them into Plotly
figures. Frames always carry their columns, also when empty, so a page can render them
before anything was labelled. Times are naive UTC, as stored in the catalog.

Agreement statistics use each annotator's *current* word on a shot (their latest click,
cleared ones left out), the same words that make up the label's majority.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.metrics import cohen_kappa_score

from va_app.domain import Annotation, ModelVersion, ShotVerdict, TrainingSet, fold_votes
from va_app.errors import ValidationError
from va_app.learn.classifier import single_threaded
from va_app.learn.matrix import CorpusMatrix
from va_app.learn.scores import DEFAULT_CAP, Readiness, readiness

POSITIVE, NEGATIVE, TIE, UNLABELLED = "positive", "negative", "tie", "unlabelled"
#: Probability at which the model's call flips from negative to positive.
DECISION_THRESHOLD = 0.5
#: Points of the corpus map: enough to show the corpus's shape, few enough for the browser.
DEFAULT_MAP_POINTS = 5000

PROGRESS_COLUMNS = [
    "label",
    "annotations",
    "positives",
    "negatives",
    "annotators",
    "conflicts",
    "model_score",
    "data_score",
    "versions",
    "last_activity",
    "ready",
    "readiness",
]
HISTORY_COLUMNS = [
    "version",
    "created_at",
    "n_annotations",
    "n_pos",
    "n_neg",
    "model_score",
    "data_score",
]
ACTIVITY_COLUMNS = ["day", "annotator", "count"]
AGREEMENT_COLUMNS = [
    "label",
    "n_shots",
    "n_shots_multi",
    "agreement_rate",
    "cohen_kappa",
    "cohen_pair",
    "fleiss_kappa",
]
#: Agreement statistics are floats in every table (NaN where undefined), also when empty.
_RATES = {"agreement_rate": float, "cohen_kappa": float}
PAIR_COLUMNS = ["annotator_a", "annotator_b", "n_shared", "agreement_rate", "cohen_kappa"]
AGREEMENT_HISTORY_COLUMNS = ["day", *PAIR_COLUMNS]
DISAGREEMENT_COLUMNS = ["shot_id", "annotation", "probability", "disagreement", "n_annotators"]
CONFLICT_COLUMNS = ["shot_id", "majority", "positive_votes", "negative_votes"]
COVERAGE_COLUMNS = [
    "cluster",
    "shots",
    "positives",
    "negatives",
    "positives_capped",
    "negatives_capped",
]
MAP_COLUMNS = ["x", "y", "shot_id", "cluster", "annotation"]
DISTRIBUTION_COLUMNS = ["shot_id", "probability", "since_model"]
RELIABILITY_COLUMNS = ["scores", "bin", "count", "mean_predicted", "observed"]
#: The two curves of the reliability frame: the classifier's own σ(logit), and calibrated.
RAW, CALIBRATED = "raw", "calibrated"


# -- per-label progress ------------------------------------------------------------------
@dataclass(frozen=True)
class LabelFacts:
    """What a label's progress row is made of: its clicks, its majority set, its latest build."""

    name: str
    history: list[Annotation]
    labelled: TrainingSet
    latest: ModelVersion | None


def label_progress_table(facts: Iterable[LabelFacts]) -> pd.DataFrame:
    """One row per label: clicks, majority counts, scores of the latest model, readiness.

    ``annotations`` counts clicks (every row of the log, clears included); ``positives`` /
    ``negatives`` count shots by majority; ``readiness`` applies the paper's stopping rule
    (:func:`va_app.learn.scores.readiness`) to today's counts and the latest model's scores.
    """
    return pd.DataFrame([_label_progress(f) for f in facts], columns=PROGRESS_COLUMNS)


def _label_progress(facts: LabelFacts) -> dict:
    labelled, latest = facts.labelled, facts.latest
    model_score = latest.model_score if latest else None
    data_score = latest.data_score if latest else None
    verdict = readiness(len(labelled.positives), len(labelled.negatives), model_score, data_score)
    times = [a.created_at for a in facts.history] + ([latest.created_at] if latest else [])
    return {
        "label": facts.name,
        "annotations": len(facts.history),
        "positives": len(labelled.positives),
        "negatives": len(labelled.negatives),
        "annotators": len(labelled.annotators),
        "conflicts": len(labelled.conflicts),
        "model_score": model_score,
        "data_score": data_score,
        "versions": latest.version if latest else 0,
        "last_activity": max((t for t in times if t is not None), default=None),
        "ready": verdict.ready,
        "readiness": readiness_text(verdict),
    }


def readiness_text(verdict: Readiness) -> str:
    """Short table form of a readiness verdict: "ready" or "needs 37 more positives; ..."."""
    if verdict.ready:
        return "ready"
    return verdict.reason.removeprefix("Not ready: ").rstrip(".")


def score_history(versions: Iterable[ModelVersion]) -> pd.DataFrame:
    """One row per model version, oldest first; ``n_annotations`` = labelled shots it saw."""
    rows = [
        {
            "version": v.version,
            "created_at": v.created_at,
            "n_annotations": v.n_annotations,
            "n_pos": v.n_pos,
            "n_neg": v.n_neg,
            "model_score": v.model_score,
            "data_score": v.data_score,
        }
        for v in versions
    ]
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def activity_table(history: list[Annotation]) -> pd.DataFrame:
    """Clicks per (UTC day, annotator) of ``history`` (clears count: each is a click)."""
    if not history:
        return pd.DataFrame(columns=ACTIVITY_COLUMNS)
    frame = pd.DataFrame(
        {
            "day": pd.to_datetime([a.created_at for a in history]).normalize(),
            "annotator": [a.annotator for a in history],
        }
    )
    counts = frame.groupby(["day", "annotator"]).size().reset_index(name="count")
    return counts.sort_values(["day", "annotator"], ignore_index=True)


# -- agreement between annotators ----------------------------------------------------------
@dataclass(frozen=True)
class PairAgreement:
    """Two annotators on the shots both of them labelled."""

    annotator_a: str
    annotator_b: str
    n_shared: int
    agreement_rate: float
    cohen_kappa: float | None


@dataclass(frozen=True)
class Agreement:
    """How much the annotators of a label agree (None where a statistic is undefined)."""

    label: str
    n_shots: int  # shots with at least one current word
    n_shots_multi: int  # ... with at least two
    agreement_rate: float | None
    cohen_kappa: float | None
    cohen_pair: tuple[str, str] | None
    fleiss_kappa: float | None
    pairs: tuple[PairAgreement, ...] = ()

    def pairs_table(self) -> pd.DataFrame:
        """The pairs as a table (annotator_a, annotator_b, n_shared, agreement_rate,
        cohen_kappa), most shared shots first."""
        return pd.DataFrame(
            [asdict(p) for p in self.pairs], columns=[f.name for f in fields(PairAgreement)]
        ).astype(_RATES)

    def summary_table(self) -> pd.DataFrame:
        """One row: the label's statistics (``cohen_pair`` as "a & b"), as the dashboard
        shows them."""
        row = {
            "label": self.label,
            "n_shots": self.n_shots,
            "n_shots_multi": self.n_shots_multi,
            "agreement_rate": self.agreement_rate,
            "cohen_kappa": self.cohen_kappa,
            "cohen_pair": " & ".join(self.cohen_pair) if self.cohen_pair else None,
            "fleiss_kappa": self.fleiss_kappa,
        }
        return pd.DataFrame([row], columns=AGREEMENT_COLUMNS).astype(
            {**_RATES, "fleiss_kappa": float}
        )


def agreement_over_time(history: Iterable[Annotation]) -> pd.DataFrame:
    """Per UTC day with clicks and per annotator pair: their agreement as of that day's end.

    Each day's row is :func:`agreement_from_votes` of the words current at midnight after it
    (every click up to then, in time order), so the last day's rows are today's pairs. Pairs
    appear from the first day they share a shot.
    """
    dated = [(a.created_at, a) for a in history if a.created_at is not None]
    timed = [a for _, a in sorted(dated, key=lambda pair: pair[0])]
    if not timed:
        return pd.DataFrame(columns=AGREEMENT_HISTORY_COLUMNS)
    days = sorted({pd.Timestamp(a.created_at).normalize() for a in timed})
    rows, upto = [], 0
    for day in days:
        end = day + timedelta(days=1)
        while upto < len(timed) and timed[upto].created_at < end:
            upto += 1
        pairs = agreement_from_votes(fold_votes(timed[:upto])).pairs
        rows += [{"day": day, **asdict(p)} for p in pairs]
    frame = pd.DataFrame(rows, columns=AGREEMENT_HISTORY_COLUMNS).astype(_RATES)
    return frame.sort_values(["annotator_a", "annotator_b", "day"], ignore_index=True)


def agreement_from_votes(votes: Mapping[str, Mapping[str, bool]], *, label: str = "") -> Agreement:
    """Agreement of ``votes`` (shot id → annotator → value).

    - agreement rate = share of shots with ≥ 2 annotators on which all of them agree;
    - Cohen's κ of the two most active annotators (most current words; ties by name) on
      the shots both labelled (:func:`cohen_kappa`), and the same for every pair sharing a shot;
    - Fleiss' κ over the shots with ≥ 2 annotators (:func:`fleiss_kappa`).
    """
    multi = [v for v in votes.values() if len(v) >= 2]
    rate = float(np.mean([len(set(v.values())) == 1 for v in multi])) if multi else None
    counts = np.array([[sum(v.values()), len(v) - sum(v.values())] for v in multi]).reshape(-1, 2)
    activity = Counter(annotator for v in votes.values() for annotator in v)
    ranked = sorted(activity, key=lambda a: (-activity[a], a))
    pairs = _pair_agreements(multi)
    top = (min(ranked[:2]), max(ranked[:2])) if len(ranked) >= 2 else None
    top_pair = next((p for p in pairs if (p.annotator_a, p.annotator_b) == top), None)
    return Agreement(
        label=label,
        n_shots=len(votes),
        n_shots_multi=len(multi),
        agreement_rate=rate,
        cohen_kappa=top_pair.cohen_kappa if top_pair else None,
        cohen_pair=top,
        fleiss_kappa=fleiss_kappa(counts),
        pairs=tuple(pairs),
    )


def _pair_agreements(multi: list[Mapping[str, bool]]) -> list[PairAgreement]:
    """Every pair of annotators that shares a shot, from the shots with ≥ 2 words."""
    shared: dict[tuple[str, str], list[tuple[bool, bool]]] = {}
    for words in multi:
        for a, b in combinations(sorted(words), 2):
            shared.setdefault((a, b), []).append((words[a], words[b]))
    pairs = []
    for (a, b), both in shared.items():
        first, second = np.array(both, dtype=bool).T
        pairs.append(
            PairAgreement(
                a, b, len(both), float(np.mean(first == second)), cohen_kappa(first, second)
            )
        )
    return sorted(pairs, key=lambda p: (-p.n_shared, p.annotator_a, p.annotator_b))


def cohen_kappa(ratings_a: np.ndarray, ratings_b: np.ndarray) -> float | None:
    """Cohen's κ of two raters on the same items: ``κ = (p_o − p_e) / (1 − p_e)``
    (scikit-learn's ``cohen_kappa_score``).

    ``p_o`` is the share of items on which they agree, ``p_e = Σ_c p_a(c)·p_b(c)`` the
    agreement expected by chance from each rater's own category shares. None when undefined
    (no items, or both raters always used one and the same category: ``p_e = 1``).
    """
    a, b = np.asarray(ratings_a), np.asarray(ratings_b)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError("ratings must be two 1-D arrays of the same length")
    categories = np.union1d(a, b)
    if categories.size < 2:
        return None  # one category between them: chance agreement is 1, κ undefined
    return float(cohen_kappa_score(a, b, labels=categories))


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' κ from ``counts[i, j]`` = raters who put item i in category j.

    ``P_i = Σ_j n_ij (n_ij − 1) / (n_i (n_i − 1))`` (agreeing rater pairs of item i),
    ``P̄ = mean_i P_i``, ``p_j = Σ_i n_ij / Σ_i n_i``, ``P_e = Σ_j p_j²`` and
    ``κ = (P̄ − P_e) / (1 − P_e)``. Items with fewer than 2 raters are left out. With the
    same number of raters on every item this is Fleiss (1971) exactly; with varying numbers
    each item weighs its own pairwise agreement equally. None when undefined (no item with
    2 raters, or every rating in one category: ``P_e = 1``).
    """
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 2:
        raise ValueError("counts must be a 2-D array (items × categories)")
    n = counts.sum(axis=1)
    counts, n = counts[n >= 2], n[n >= 2]
    if n.size == 0:
        return None
    p_bar = float(np.mean((counts * (counts - 1)).sum(axis=1) / (n * (n - 1))))
    p_e = float(np.sum((counts.sum(axis=0) / n.sum()) ** 2))
    return None if np.isclose(p_e, 1.0) else (p_bar - p_e) / (1 - p_e)


# -- review: where the model or the annotators disagree ------------------------------------
def disagreements_with_model(
    verdicts: Iterable[ShotVerdict], probability_of: Callable[[str], float | None]
) -> pd.DataFrame:
    """Labelled shots whose model score contradicts their majority, the strongest first.

    A positive with ``p < 0.5`` or a negative with ``p ≥ 0.5``; ``disagreement = |p − value|``
    (value 1 for positive, 0 for negative), so 1.0 is a confident contradiction. Ties have no
    majority and are left out, as are shots ``probability_of`` has no score for (None).
    """
    rows = []
    for verdict in verdicts:
        if verdict.value is None:
            continue
        p = probability_of(verdict.shot_id)
        if p is not None and (p >= DECISION_THRESHOLD) != verdict.value:
            rows.append(
                {
                    "shot_id": verdict.shot_id,
                    "annotation": POSITIVE if verdict.value else NEGATIVE,
                    "probability": p,
                    "disagreement": abs(p - float(verdict.value)),
                    "n_annotators": len(verdict.votes),
                }
            )
    frame = pd.DataFrame(rows, columns=DISAGREEMENT_COLUMNS)
    return frame.sort_values(
        ["disagreement", "shot_id"], ascending=[False, True], ignore_index=True
    )


def probability_lookup(
    row_of: Mapping[str, int], probabilities: np.ndarray | Mapping[str, float]
) -> Callable[[str], float | None]:
    """A shot id → p (or None) function over scores aligned with the matrix rows (``row_of``:
    shot id → row; as a build or ``score`` returns them) or over a shot id → p mapping."""
    if isinstance(probabilities, np.ndarray):
        if probabilities.shape != (len(row_of),):
            raise ValidationError(
                f"expected one probability per shot ({len(row_of)}), "
                f"got an array of shape {probabilities.shape}"
            )
        array = probabilities
        return lambda shot_id: float(array[row_of[shot_id]]) if shot_id in row_of else None
    scores = {k: float(v) for k, v in dict(probabilities).items()}
    return scores.get


def annotator_conflicts(verdicts: Iterable[ShotVerdict]) -> pd.DataFrame:
    """Shots on which annotators disagree: votes, the majority (or "tie"), one column per
    annotator holding "positive" / "negative" (empty where they did not label the shot).
    Ties first, then by shot id.
    """
    conflicts = [v for v in verdicts if v.conflict]
    annotators = sorted({a for v in conflicts for a in v.votes})
    columns = {a: a if a not in CONFLICT_COLUMNS else f"{a} (annotator)" for a in annotators}
    rows = [
        {
            "shot_id": v.shot_id,
            "majority": _word(v.value),
            "positive_votes": v.positive_votes,
            "negative_votes": v.negative_votes,
            **{columns[a]: _word(value) for a, value in v.votes.items()},
        }
        for v in conflicts
    ]
    frame = pd.DataFrame(rows, columns=CONFLICT_COLUMNS + list(columns.values()))
    frame = frame.assign(_decided=frame["majority"] != TIE)
    return frame.sort_values(["_decided", "shot_id"], ignore_index=True).drop(columns="_decided")


def _word(value: bool | None) -> str:
    return TIE if value is None else POSITIVE if value else NEGATIVE


# -- data diversity: clusters and the corpus map ------------------------------------------
def cluster_coverage(
    matrix: CorpusMatrix, labelled: TrainingSet, *, k: int, cap: int = DEFAULT_CAP
) -> pd.DataFrame:
    """Per diversity cluster: its shots, the label's positives and negatives, raw and capped.

    The data-diversity score is ``(Σ positives_capped + Σ negatives_capped) / (2·k·cap)``
    with ``k`` = the rows of this frame (paper §3.1, s = ``cap``). Shots without a cluster
    are not counted.
    """
    k = max(k, matrix.k)
    shots = np.bincount(matrix.clusters[matrix.clusters >= 0], minlength=k)
    pos = _cluster_counts(matrix, labelled.positives, k)
    neg = _cluster_counts(matrix, labelled.negatives, k)
    return pd.DataFrame(
        {
            "cluster": np.arange(k),
            "shots": shots,
            "positives": pos,
            "negatives": neg,
            "positives_capped": np.minimum(pos, cap),
            "negatives_capped": np.minimum(neg, cap),
        },
        columns=COVERAGE_COLUMNS,
    )


def _cluster_counts(matrix, shot_ids: list[str], k: int) -> np.ndarray:
    clusters = matrix.clusters[matrix.rows(shot_ids)]
    return np.bincount(clusters[clusters >= 0], minlength=k)


def corpus_map(
    matrix: CorpusMatrix,
    labelled: TrainingSet | None = None,
    *,
    max_points: int = DEFAULT_MAP_POINTS,
    seed: int = 0,
) -> pd.DataFrame:
    """2-D PCA map of the corpus (see :func:`project_2d`), the labelled shots always in, with
    ``annotation`` = "positive" / "negative" / "unlabelled" (ties count as unlabelled).
    """
    annotation: dict[str, str] = {}
    if labelled is not None:
        annotation = {
            **dict.fromkeys(labelled.negatives, NEGATIVE),
            **dict.fromkeys(labelled.positives, POSITIVE),
        }
    frame = project_2d(
        matrix.X,
        ids=matrix.ids,
        clusters=matrix.clusters,
        keep_rows=matrix.rows(list(annotation)),
        max_points=max_points,
        seed=seed,
    )
    frame["annotation"] = [annotation.get(s, UNLABELLED) for s in frame["shot_id"]]
    return frame[MAP_COLUMNS]


def project_2d(
    X: np.ndarray,
    *,
    ids: Sequence[str],
    clusters: np.ndarray,
    keep_rows: np.ndarray | None = None,
    max_points: int = DEFAULT_MAP_POINTS,
    seed: int = 0,
) -> pd.DataFrame:
    """Rows of ``X`` placed on their first two principal components (columns x, y, shot_id,
    cluster).

    A pure function of its inputs, so it caches well: PCA is fitted on a random sample of at
    most ``max_points`` rows drawn with ``np.random.default_rng(seed)`` — independent of
    ``keep_rows``, so labelling a shot never moves the map — and the rows shown are that
    sample plus ``keep_rows``.
    """
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    n = X.shape[0]
    if n == 0:
        return pd.DataFrame(columns=["x", "y", "shot_id", "cluster"])
    sample = np.sort(np.random.default_rng(seed).choice(n, size=min(n, max_points), replace=False))
    rows = np.union1d(sample, np.asarray(keep_rows if keep_rows is not None else [], np.intp))
    xy = _pca_2d(X[sample], X[rows])
    return pd.DataFrame(
        {
            "x": xy[:, 0],
            "y": xy[:, 1],
            "shot_id": [ids[r] for r in rows],
            "cluster": np.asarray(clusters)[rows],
        }
    )


def _pca_2d(fit_rows: np.ndarray, rows: np.ndarray) -> np.ndarray:
    n_components = min(2, fit_rows.shape[0] - 1, fit_rows.shape[1])
    out = np.zeros((rows.shape[0], 2), dtype=np.float64)
    if n_components >= 1:
        # numpy's and scipy's BLAS fight over 2 cores (measured: 0.4 s → 0.04 s at 5k×512).
        with single_threaded():
            pca = PCA(n_components=n_components, random_state=0).fit(fit_rows)
            out[:, :n_components] = pca.transform(rows)
    return out


# -- monitoring a deployed label ----------------------------------------------------------
def score_distribution(
    scores: pd.DataFrame, latest: ModelVersion | None, *, since_model: np.ndarray
) -> pd.DataFrame:
    """The latest model's probability for every shot (``scores``: shot_id, probability), with
    ``since_model`` (a bool per row of ``scores``) = the shot was added to the corpus after
    that version was built. Empty when nothing was built; ``attrs`` holds ``version`` and
    ``model_created_at``.
    """
    if latest is None:
        return pd.DataFrame(columns=DISTRIBUTION_COLUMNS)
    frame = scores.assign(since_model=np.asarray(since_model, dtype=bool))
    frame.attrs.update(version=latest.version, model_created_at=latest.created_at)
    return frame[DISTRIBUTION_COLUMNS]


# -- calibration ---------------------------------------------------------------------------
def reliability(latest: ModelVersion | None) -> pd.DataFrame:
    """The latest model's reliability curve: per probability bin, how many labelled shots,
    their mean predicted probability and the share that are positive — out of fold (each
    shot predicted by the cross-validation model that did not train on it), for the raw and
    the calibrated scores (column ``scores``). A calibrated model's points lie on the diagonal.

    ``attrs`` holds ``version``, ``n``, and ``brier`` / ``ece`` per kind of score. Empty when
    nothing was built, or the latest version predates calibration.
    """
    if latest is None or not latest.calibration:
        return pd.DataFrame(columns=RELIABILITY_COLUMNS)
    report = latest.calibration
    frame = pd.concat(
        [pd.DataFrame(report[kind]["bins"]).assign(scores=kind) for kind in (RAW, CALIBRATED)],
        ignore_index=True,
    )
    frame.attrs.update(
        version=latest.version,
        n=report["n"],
        brier={kind: report[kind]["brier"] for kind in (RAW, CALIBRATED)},
        ece={kind: report[kind]["ece"] for kind in (RAW, CALIBRATED)},
    )
    return frame[RELIABILITY_COLUMNS]


# -- the dashboard's tables, for download (the page's buttons and ``dashboard export``) -------
#: Formats the dashboard's tables download in.
EXPORT_FORMATS = ("csv", "parquet")
#: Per-label tables (each gets a ``label`` column when exported), after ``label_progress``.
LABEL_TABLES = (
    "annotator_activity",
    "agreement",
    "agreement_pairs",
    "agreement_over_time",
    "score_history",
)


def label_tables(
    name: str, history: list[Annotation], versions: Iterable[ModelVersion]
) -> dict[str, pd.DataFrame]:
    """The dashboard's tables of one label, by name (see :data:`LABEL_TABLES`), each with the
    label in its first column: clicks per annotator and day, agreement (the label's summary,
    per pair, per pair over time), the score history of its model versions."""
    result = agreement_from_votes(fold_votes(history), label=name)
    tables = {
        "annotator_activity": activity_table(history),
        "agreement": result.summary_table(),
        "agreement_pairs": result.pairs_table(),
        "agreement_over_time": agreement_over_time(history),
        "score_history": score_history(versions),
    }
    return {table: with_label(frame, name) for table, frame in tables.items()}


def dashboard_tables(
    progress: pd.DataFrame, per_label: Mapping[str, Mapping[str, pd.DataFrame]]
) -> dict[str, pd.DataFrame]:
    """Every table of the dashboard, as it downloads: ``label_progress`` (all labels), then
    each of :data:`LABEL_TABLES` with the labels' frames one after the other."""
    stacked = {
        table: _stack([tables[table] for tables in per_label.values()], table)
        for table in LABEL_TABLES
    }
    return {"label_progress": progress, **stacked}


def with_label(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """``frame`` with a first column ``label`` (kept as it is when it has one)."""
    if "label" in frame.columns:
        return frame
    return pd.concat(
        [pd.DataFrame({"label": [label] * len(frame)}, index=frame.index), frame], axis=1
    )


def _stack(frames: list[pd.DataFrame], table: str) -> pd.DataFrame:
    """The labels' frames one after the other (empty ones left out: pandas warns on them)."""
    full = [f for f in frames if not f.empty]
    if full:
        return pd.concat(full, ignore_index=True)
    columns = {
        "annotator_activity": ACTIVITY_COLUMNS,
        "agreement": AGREEMENT_COLUMNS,
        "agreement_pairs": PAIR_COLUMNS,
        "agreement_over_time": AGREEMENT_HISTORY_COLUMNS,
        "score_history": HISTORY_COLUMNS,
    }[table]
    return with_label(pd.DataFrame(columns=columns), "")


def table_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """``frame`` as a CSV (UTF-8, header, no index) or Parquet file's bytes."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationError(f"unknown table format {fmt!r}: use {' or '.join(EXPORT_FORMATS)}")
    if fmt == "csv":
        return frame.to_csv(index=False).encode("utf-8")
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def write_tables(
    tables: Mapping[str, pd.DataFrame], out_dir: str | Path, *, fmt: str
) -> list[Path]:
    """Write each table into ``out_dir`` (made if missing) as ``<name>.<fmt>``; returns the
    paths."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationError(f"unknown table format {fmt!r}: use {' or '.join(EXPORT_FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in tables.items():
        paths.append(out / f"{name}.{fmt}")
        paths[-1].write_bytes(table_bytes(frame, fmt))
    return paths
