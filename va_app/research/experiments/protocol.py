"""The paper's evaluation protocol, shared by both experiments.

Reproduces Netflix/videoannotator (commit 526d38d: ``data.py``, ``models.py``,
``experiments.py``); the files are read by :mod:`va_app.datasets.netflix.format`:

- **split**: a shot key goes to validation iff ``mmh3.hash(key, seed) % 5 < 1`` (the
  fraction 2/10 reduces to 1/5); a split without positives on either side is refused.
- **labelled sets** keep the reference's row order (sorted positives, then sorted negatives),
  which the classifier's shuffled CV folds depend on.
- **ordered sets** and ``get_n(n)``: ``cnt_pos = min(|pos|, max(round(pos_rate·n), 1))``,
  ``cnt_neg = min(|neg|, n − cnt_pos)``, taken from the front.
- **bootstraps**: 5 resamples of the validation set; resample 0 is the set itself, resample k
  draws n rows with replacement from the legacy generator seeded k.
- **models**: scikit-learn ``LogisticRegressionCV`` (5 stratified shuffled folds, seed 0,
  scoring AP or balanced accuracy, 1,000 iterations, otherwise defaults); ``fast=True`` swaps
  in the app's own :class:`~va_app.learn.classifier.ShotClassifier`. Zero-shot = cosine with the
  label's text embedding.
- **AP baseline**: the positive rate when the validation set has ≥ 1,000 shots, else the mean
  AP of 1,000 random score vectors (legacy generator seeded 0).

Draws use ``np.random.RandomState`` instances (never the global seed): the legacy generator is
what the reference seeded, and it gives the very same numbers.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import h5py
import mmh3
import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning, UndefinedMetricWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import average_precision_score, balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold

from va_app.datasets.netflix.format import (
    EMBEDDINGS_DATASET,
    NetflixFiles,
    read_checkpoints,
    read_cmp,
    read_text_embeddings,
)
from va_app.errors import ValidationError
from va_app.formats.netflix_agg import read_agg
from va_app.learn.classifier import ShotClassifier, single_threaded

log = logging.getLogger(__name__)

#: Share of the aggregated labels held out for validation (reduces to 1/5).
VALIDATION_FRACTION = Fraction(2, 10)
#: Seed of the hash split in experiment 1 (experiment 2 uses 1).
SPLIT_SEED = 0
#: Resamples of the validation set per evaluation.
N_BOOTSTRAP = 5
#: Folds, seed and iteration cap of the paper's LogisticRegressionCV.
N_SPLITS = 5
MODEL_SEED = 0
MAX_ITER = 1_000
#: Validation sets at least this large use the positive rate as the AP baseline ...
AP_BASELINE_MIN_N = 1_000
#: ... smaller ones the mean AP of this many random score vectors.
AP_BASELINE_DRAWS = 1_000
#: Labels the paper left out ("very low pos rate").
PAPER_EXCLUDED_LABELS = frozenset({"fast-motion"})
SCORINGS = ("average_precision", "balanced_accuracy")


class ProtocolError(ValidationError):
    """A label's data cannot go through a step of the protocol (the label is left out)."""


# -- the split -----------------------------------------------------------------------------
def in_validation(
    key: str, *, seed: int = SPLIT_SEED, fraction: Fraction = VALIDATION_FRACTION
) -> bool:
    """Whether a shot key lies on the validation side: signed murmur3 hash, Python modulo."""
    return mmh3.hash(key, seed) % fraction.denominator < fraction.numerator


@dataclass(frozen=True)
class LabelKeys:
    """Positive and negative shot keys of one label (the reference's ``LabeledDataset``)."""

    label: str
    pos: frozenset[str]
    neg: frozenset[str]

    def __post_init__(self) -> None:
        both = self.pos & self.neg
        if both:
            raise ProtocolError(
                f"{self.label}: {len(both)} shot(s) are both positive and "
                f"negative, e.g. {sorted(both)[0]}"
            )

    @classmethod
    def from_pairs(cls, label: str, pairs: Iterable[tuple[str, bool]]) -> LabelKeys:
        pairs = list(pairs)
        return cls(
            label, frozenset(k for k, v in pairs if v), frozenset(k for k, v in pairs if not v)
        )

    def __len__(self) -> int:
        return len(self.pos) + len(self.neg)

    @property
    def keys(self) -> list[str]:
        """Sorted positives, then sorted negatives: the order of the training rows."""
        return sorted(self.pos) + sorted(self.neg)

    @property
    def y(self) -> np.ndarray:
        return np.r_[np.ones(len(self.pos), bool), np.zeros(len(self.neg), bool)]

    @property
    def pos_rate(self) -> float:
        return len(self.pos) / len(self) if len(self) else 0.0

    def without(self, keys: Iterable[str]) -> LabelKeys:
        drop = frozenset(keys)
        return LabelKeys(self.label, self.pos - drop, self.neg - drop)

    def only(self, keys: Iterable[str]) -> LabelKeys:
        keep = frozenset(keys)
        return LabelKeys(self.label, self.pos & keep, self.neg & keep)

    def union(self, other: LabelKeys) -> LabelKeys:
        """Both sets together; raises ProtocolError when they disagree on a shot."""
        return LabelKeys(self.label, self.pos | other.pos, self.neg | other.neg)


def split(labeled: LabelKeys, *, seed: int = SPLIT_SEED) -> tuple[LabelKeys, LabelKeys]:
    """(train, validation) by :func:`in_validation`; raises when a side has no positives."""
    val = frozenset(k for k in labeled.pos | labeled.neg if in_validation(k, seed=seed))
    train, validation = labeled.without(val), labeled.only(val)
    for side, part in (("training", train), ("validation", validation)):
        if not part.pos:
            raise ProtocolError(
                f"{labeled.label}: the {side} side of the split (seed {seed}) "
                f"has no positives ({len(labeled.pos)} in all)"
            )
    return train, validation


@dataclass(frozen=True)
class OrderedSet:
    """Positives and negatives in the order they would be labelled (``DatasetOrdered``)."""

    label: str
    pos: tuple[str, ...]
    neg: tuple[str, ...]

    @classmethod
    def from_pairs(
        cls, label: str, pairs: Iterable[tuple[str, bool]], drop: Iterable[str] = ()
    ) -> OrderedSet:
        drop = frozenset(drop)
        pairs = [(k, v) for k, v in pairs if k not in drop]
        return cls(label, tuple(k for k, v in pairs if v), tuple(k for k, v in pairs if not v))

    @classmethod
    def shuffled(cls, labeled: LabelKeys, *, seed: int = 0) -> OrderedSet:
        """Sorted positives then sorted negatives, each permuted by one generator seeded once."""
        rng = np.random.RandomState(seed)
        pos = [str(k) for k in rng.permutation(sorted(labeled.pos))] if labeled.pos else []
        neg = [str(k) for k in rng.permutation(sorted(labeled.neg))] if labeled.neg else []
        return cls(labeled.label, tuple(pos), tuple(neg))

    def __len__(self) -> int:
        return len(self.pos) + len(self.neg)

    def get_n(self, n: int) -> OrderedSet:
        """The first ``n`` shots, positives in proportion (at least one while there are any)."""
        if not len(self):
            return self
        cnt_pos = min(len(self.pos), max(round(len(self.pos) / len(self) * n), 1))
        cnt_neg = min(len(self.neg), n - cnt_pos)
        return OrderedSet(self.label, self.pos[:cnt_pos], self.neg[: max(cnt_neg, 0)])

    def minus(self, other: OrderedSet) -> OrderedSet:
        """Drop ``other``'s positives from the positives and its negatives from the negatives."""
        pos, neg = set(other.pos), set(other.neg)
        return OrderedSet(
            self.label,
            tuple(k for k in self.pos if k not in pos),
            tuple(k for k in self.neg if k not in neg),
        )

    def plus(self, other: OrderedSet) -> OrderedSet:
        """``other``'s shots appended, those already here (same polarity) left out."""
        pos, neg = set(self.pos), set(self.neg)
        return OrderedSet(
            self.label,
            self.pos + tuple(k for k in other.pos if k not in pos),
            self.neg + tuple(k for k in other.neg if k not in neg),
        )

    @property
    def labeled(self) -> LabelKeys:
        return LabelKeys(self.label, frozenset(self.pos), frozenset(self.neg))


def bootstrap_rows(n: int, idx: int) -> np.ndarray:
    """Rows of resample ``idx``: all rows for 0, else n draws with replacement (seed idx)."""
    if idx == 0:
        return np.arange(n)
    return np.random.RandomState(idx).choice(n, n)


# -- metrics -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    """One score per bootstrap; mean and (population) std over the finite ones."""

    values: tuple[float, ...]

    @property
    def finite(self) -> np.ndarray:
        values = np.asarray(self.values, dtype=float)
        return values[np.isfinite(values)]

    @property
    def mean(self) -> float:
        finite = self.finite
        return float(finite.mean()) if finite.size else float("nan")

    @property
    def std(self) -> float:
        finite = self.finite
        return float(finite.std()) if finite.size else float("nan")


def average_precision(y: np.ndarray, scores: np.ndarray) -> float:
    """scikit-learn's AP; NaN when ``y`` has no positive (undefined, left out of means)."""
    if not np.any(y):
        return float("nan")
    return float(average_precision_score(y, scores))


def balanced_accuracy(y: np.ndarray, predicted: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # one class only in a resample
        return float(balanced_accuracy_score(y, predicted))


def ap_baseline(n_pos: int, n: int) -> Metric:
    """AP of a classifier that knows nothing, on a validation set of ``n`` with ``n_pos``."""
    if n >= AP_BASELINE_MIN_N:
        return Metric((n_pos / n,))
    y = np.r_[np.ones(n_pos, bool), np.zeros(n - n_pos, bool)]
    scores = np.random.RandomState(0).rand(AP_BASELINE_DRAWS, n)
    return Metric(tuple(_ap_of_rows(y, scores).tolist()))


def _ap_of_rows(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AP of each row of ``scores`` (ties-free): mean precision at each positive's rank."""
    if not y.any():
        return np.full(scores.shape[0], np.nan)
    hits = y[np.argsort(-scores, axis=1, kind="stable")]
    ranks = np.arange(1, y.size + 1)
    precision = np.cumsum(hits, axis=1) / ranks
    return (precision * hits).sum(axis=1) / y.sum()


# -- models --------------------------------------------------------------------------------
class Model(Protocol):
    def fit(self, X: np.ndarray, y: np.ndarray) -> Model: ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...


class PaperLogisticRegression:
    """The paper's classifier: ``LogisticRegressionCV`` over 10 Cs with stratified 5-fold CV.

    Fitted single-threaded (threadpoolctl): on few cores the parallel fit (the reference's
    ``n_jobs=-1``) is several times slower, and the result does not depend on it.
    """

    def __init__(self, *, scoring: str = "average_precision") -> None:
        self.scoring = scoring

    def fit(self, X: np.ndarray, y: np.ndarray) -> PaperLogisticRegression:
        cv = StratifiedKFold(n_splits=N_SPLITS, shuffle=True, random_state=MODEL_SEED)
        self.model_ = LogisticRegressionCV(cv=cv, scoring=self.scoring, max_iter=MAX_ITER)
        with warnings.catch_warnings(), single_threaded():
            # Newer scikit-learn announces parameter changes; tiny folds warn about classes.
            for kind in (FutureWarning, ConvergenceWarning, UndefinedMetricWarning, UserWarning):
                warnings.simplefilter("ignore", kind)
            self.model_.fit(X, y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(X)[:, 1]

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X).astype(bool)


class FastLogisticRegression:
    """The app's own classifier (one L2 logistic regression, C = 1, balanced): ``--fast``."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> FastLogisticRegression:
        self.model_ = ShotClassifier().fit(np.asarray(X, dtype=np.float32), y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(np.asarray(X, dtype=np.float32))[:, 1]

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(np.asarray(X, dtype=np.float32)).astype(bool)


class ZeroShotModel:
    """Cosine similarity with the label's text embedding; predicts nothing positive."""

    def __init__(self, text_embedding: np.ndarray) -> None:
        self.text = np.asarray(text_embedding, dtype=np.float64)

    def fit(self, X: np.ndarray, y: np.ndarray) -> ZeroShotModel:
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        norms = np.linalg.norm(X, axis=1) * np.linalg.norm(self.text)
        return (X @ self.text) / np.maximum(norms, 1e-12)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.zeros(len(X), dtype=bool)


def make_model(*, scoring: str = "average_precision", fast: bool = False) -> Model:
    if scoring not in SCORINGS:
        raise ValidationError(f"unknown scoring {scoring!r}; use one of {', '.join(SCORINGS)}")
    return FastLogisticRegression() if fast else PaperLogisticRegression(scoring=scoring)


# -- evaluating ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Evaluation:
    """A model's scores on the validation resamples, and what it was trained on."""

    n_train: int
    n_train_pos: int
    average_precision: Metric
    balanced_accuracy: Metric


@dataclass(frozen=True, eq=False)
class ValidationSet:
    """The validation shots as arrays, with the rows of every bootstrap resample."""

    labeled: LabelKeys
    X: np.ndarray
    y: np.ndarray
    resamples: tuple[np.ndarray, ...]

    @classmethod
    def build(
        cls, labeled: LabelKeys, vectors: VectorTable, *, n_bootstrap: int = N_BOOTSTRAP
    ) -> ValidationSet:
        n = len(labeled)
        return cls(
            labeled,
            vectors.take(labeled.keys),
            labeled.y,
            tuple(bootstrap_rows(n, i) for i in range(n_bootstrap)),
        )

    def evaluate(self, model: Model, *, n_train: int = 0, n_train_pos: int = 0) -> Evaluation:
        scores, predicted = model.predict_proba(self.X), model.predict(self.X)
        aps = tuple(average_precision(self.y[r], scores[r]) for r in self.resamples)
        bas = tuple(balanced_accuracy(self.y[r], predicted[r]) for r in self.resamples)
        return Evaluation(n_train, n_train_pos, Metric(aps), Metric(bas))


def fit_and_evaluate(
    model: Model, train: LabelKeys, validation: ValidationSet, vectors: VectorTable
) -> Evaluation:
    """Fit on ``train`` (rows in the reference's order), score the validation resamples."""
    if not train.pos or not train.neg:
        raise ProtocolError(
            f"{train.label}: a training set needs positives and negatives "
            f"(has {len(train.pos)} / {len(train.neg)})"
        )
    shared = (train.pos | train.neg) & (validation.labeled.pos | validation.labeled.neg)
    if shared:
        raise ProtocolError(f"{train.label}: {len(shared)} training shots are validation shots")
    model.fit(vectors.take(train.keys), train.y)
    return validation.evaluate(model, n_train=len(train), n_train_pos=len(train.pos))


# -- the data ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class VectorTable:
    """Vectors of the shots an experiment needs, by key."""

    row_of: Mapping[str, int]
    matrix: np.ndarray

    def __contains__(self, key: str) -> bool:
        return key in self.row_of

    def take(self, keys: Sequence[str]) -> np.ndarray:
        return self.matrix[[self.row_of[k] for k in keys]]


class ExperimentData:
    """Label files and shot vectors of a Netflix-format data dir, or of an imported corpus.

    ``path`` is either the Netflix data folder (``shot-data.csv``, ``embeddings.h5``, ``agg/``
    ...), used as released, or the data dir of a corpus made by ``import-netflix`` (label files
    from ``<dir>/netflix/``, vectors from its embedding matrix, which stores them L2-normalised:
    results then differ slightly from the paper's raw vectors).
    """

    def __init__(self, files: NetflixFiles, matrix_path: Path, *, keys_from_csv: bool) -> None:
        self.files = files
        self.matrix_path = matrix_path
        self._keys_from_csv = keys_from_csv
        self._keys: list[str] | None = None
        self._text: dict[str, np.ndarray] | None = None

    @classmethod
    def open(cls, path: str | Path) -> ExperimentData:
        root = Path(path).expanduser().resolve()
        if (root / "shot-data.csv").is_file():
            files = NetflixFiles.open(root, need=("shot-data.csv", "embeddings.h5", "agg"))
            return cls(files, files.embeddings, keys_from_csv=True)
        if (root / "netflix" / "agg").is_dir() and (root / "embeddings.h5").is_file():
            return cls(NetflixFiles(root / "netflix"), root / "embeddings.h5", keys_from_csv=False)
        raise ValidationError(
            f"{root} is neither a Netflix Video Annotator data folder "
            "(shot-data.csv, embeddings.h5, agg/, cmp/, checkpoints/) nor the "
            "data dir of a corpus made by import-netflix"
        )

    def labels(self) -> list[str]:
        return self.files.labels("agg")

    def missing_files(self, label: str, kinds: Sequence[str]) -> list[str]:
        return [
            f"{kind}/{label}.json"
            for kind in kinds
            if not self.files.label_file(kind, label).is_file()
        ]

    def agg(self, label: str) -> LabelKeys:
        items = read_agg(self.files.label_file("agg", label)).items
        # An item without a majority (a tie) reads as negative, as the reference's bool() did.
        return LabelKeys.from_pairs(label, ((i.key, bool(i.agg)) for i in items))

    def cmp(self, label: str) -> dict[str, list[tuple[str, bool]]]:
        return read_cmp(self.files.label_file("cmp", label))

    def checkpoints(self, label: str) -> list[LabelKeys]:
        path = self.files.label_file("checkpoints", label)
        return [LabelKeys(label, pos, neg) for pos, neg in read_checkpoints(path)]

    def text_embedding(self, label: str) -> np.ndarray | None:
        if self._text is None:
            path = self.files.text_embeddings
            self._text = read_text_embeddings(path) if path.is_file() else {}
        return self._text.get(label)

    def keys_named(self, label: str) -> set[str]:
        """Every shot key a label's files mention."""
        agg = self.agg(label)
        keys = set(agg.pos | agg.neg)
        if self.files.label_file("cmp", label).is_file():
            keys.update(k for items in self.cmp(label).values() for k, _ in items)
        if self.files.label_file("checkpoints", label).is_file():
            keys.update(k for c in self.checkpoints(label) for k in c.pos | c.neg)
        return keys

    def vectors(self, keys: Iterable[str], *, chunk_rows: int = 50_000) -> VectorTable:
        """The vectors of ``keys`` (unknown keys are left out), read in one pass over the file."""
        row_in_file = {key: row for row, key in enumerate(self._all_keys())}
        wanted = sorted({row_in_file[k] for k in keys if k in row_in_file})
        matrix = _read_rows(self.matrix_path, wanted, chunk_rows)
        file_keys = self._all_keys()
        return VectorTable({file_keys[r]: i for i, r in enumerate(wanted)}, matrix)

    def _all_keys(self) -> list[str]:
        """Shot key of every row of the vector file (read once)."""
        if self._keys is None:
            if self._keys_from_csv:
                self._keys = pd.read_csv(
                    self.files.shot_data, usecols=["key"], dtype=str, keep_default_na=False
                )["key"].tolist()
            else:
                with h5py.File(self.matrix_path, "r") as f:
                    self._keys = [s.decode() if isinstance(s, bytes) else s for s in f["ids"][:]]
        return self._keys


def _read_rows(path: Path, rows: list[int], chunk_rows: int) -> np.ndarray:
    """Rows (sorted) of the ``embeddings`` dataset, scanning it in chunks: bounded memory."""
    with h5py.File(path, "r") as f:
        ds = f[EMBEDDINGS_DATASET]
        out = np.empty((len(rows), ds.shape[1]), dtype=np.float32)
        picks = np.asarray(rows, dtype=np.int64)
        for start in range(0, ds.shape[0], chunk_rows):
            lo, hi = np.searchsorted(picks, [start, start + chunk_rows])
            if hi > lo:
                block = ds[start : min(start + chunk_rows, ds.shape[0])]
                out[lo:hi] = block[picks[lo:hi] - start]
    return out


# -- shared by the experiments' drivers ------------------------------------------------------
def select_labels(
    data: ExperimentData, labels: Sequence[str] | None, *, needs: Sequence[str]
) -> tuple[list[str], dict[str, str]]:
    """The labels to run and the ones left out (with why); unknown names raise."""
    available = data.labels()
    excluded: dict[str, str] = {}
    if labels:
        unknown = [lb for lb in labels if lb not in available]
        if unknown:
            raise ValidationError(
                f"no agg file for {', '.join(unknown)} in {data.files.root}; "
                f"labels there: {', '.join(available) or 'none'}"
            )
        chosen = list(dict.fromkeys(labels))
    else:
        chosen = [lb for lb in available if lb not in PAPER_EXCLUDED_LABELS]
        excluded.update(
            {
                lb: "left out by the paper (very low positive rate)"
                for lb in available
                if lb in PAPER_EXCLUDED_LABELS
            }
        )
    for label in list(chosen):
        missing = data.missing_files(label, needs)
        if missing:
            excluded[label] = f"missing {', '.join(missing)}"
            chosen.remove(label)
    return chosen, excluded


def json_ready(value):
    """``value`` with numpy scalars made plain and NaN made None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else round(float(value), 4)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
