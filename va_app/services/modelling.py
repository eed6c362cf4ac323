"""Actions on a label's models: build a version, export one as a file, score the corpus.

Each action is one unit of work: the access check (once, for the acting ``user``), the change
and its line in the activity log commit together or not at all. The matrix a build trains on
and scores comes from the corpus view (``va_app.services.corpus_view``), passed in as a
function; the actions hold no caches. A finished build is handed to ``on_built`` (bootstrap
connects it to the view, which shows the build's feeds without scoring the corpus again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from va_app.domain import ModelVersion
from va_app.encoders.base import require_same_encoder
from va_app.learn.classifier import ShotClassifier, score_corpus
from va_app.learn.engine import DEFAULT_SPREAD, BuildResult, finish_build, train
from va_app.learn.feeds import feed_seed
from va_app.learn.matrix import CorpusMatrix
from va_app.learn.versions import load_model, portable_model
from va_app.services.access import AccessPolicy, Action, User
from va_app.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, eq=False)
class BuildOutcome:
    version: ModelVersion
    result: BuildResult
    previous: ModelVersion | None

    @property
    def feeds(self) -> dict[str, list[str]]:
        return self.result.feeds


@dataclass(frozen=True)
class BuildRules:
    """What every build of the corpus follows: the labels a first build needs (the paper's
    10 + 10 by default) and the clusters of the data-diversity score."""

    min_positives: int = 10
    min_negatives: int = 10
    kmeans_k: int = 10


class Modelling:
    """The model actions of one corpus."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        policy: AccessPolicy,
        matrix: Callable[[], CorpusMatrix],
        *,
        rules: BuildRules = BuildRules(),
        on_built: Callable[[BuildOutcome, int, bool], None] | None = None,
    ) -> None:
        self._uow = uow
        self._policy = policy
        self._matrix = matrix
        self._rules = rules
        self._on_built = on_built

    def build(
        self, user: User, label: str, *, n: int = 20, hide_labelled: bool = False
    ) -> BuildOutcome:
        """Train, score every shot, store the next model version and return its feeds.

        The version number is assigned once, in the transaction that stores it, and seeds the
        random feed there (:func:`feed_seed`).
        """
        self._policy.require(user, Action.BUILD)
        matrix, rules = self._matrix(), self._rules
        with self._uow() as uow:
            name = uow.labels.get_label(label).name
            trained = train(
                matrix,
                uow.labels.labelled_set(name),
                hide_labelled=hide_labelled,
                min_pos=rules.min_positives,
                min_neg=rules.min_negatives,
            )

            def finish(number: int) -> BuildResult:
                seed = feed_seed(name, number)
                return finish_build(
                    matrix, trained, n=n, seed=seed, k=rules.kmeans_k, spread=DEFAULT_SPREAD
                )

            version, result = uow.models.save(name, finish, encoder_id=matrix.encoder_id)
            earlier = [v for v in uow.models.versions(name) if v.version < version.version]
            payload = {"label": name, "version": version.version}
            uow.events.add("build", actor=user.annotator, payload=payload)
        outcome = BuildOutcome(version, result, earlier[-1] if earlier else None)
        if self._on_built is not None:
            self._on_built(outcome, n, hide_labelled)
        return outcome

    def export_model(
        self, user: User, label: str, out: str | Path, *, version: int | None = None
    ) -> Path:
        """Write a stored version (default latest) as a portable ``.vamodel.json`` file."""
        self._policy.require(user, Action.EXPORT)
        with self._uow() as uow:
            meta, params = uow.models.parameters(label, version)
            path = portable_model(meta, ShotClassifier.from_dict(params)).save(out)
            payload = {"label": meta.label, "version": meta.version, "file": path.name}
            uow.events.add("model_exported", actor=user.annotator, payload=payload)
        return path

    def score(
        self,
        user: User,
        label: str | None = None,
        *,
        version: int | None = None,
        model_file: str | Path | None = None,
    ) -> pd.DataFrame:
        """Every shot's probability under a stored version or an exported model file:
        a frame of ``shot_id, probability`` in matrix order."""
        self._policy.require(user, Action.EXPORT)
        matrix = self._matrix()
        with self._uow() as uow:
            if model_file is not None:
                model = load_model(model_file, label=label)
                check_encoder(model.encoder_id, matrix.encoder_id)
                probabilities = model.predict_proba(matrix.X)
                scored = {"label": model.label, "version": model.version}
                scored["file"] = Path(model_file).name
            else:
                meta, params = uow.models.parameters(label or "", version)
                check_encoder(meta.encoder_id, matrix.encoder_id)
                probabilities = stored_scores(matrix, ShotClassifier.from_dict(params))
                scored = {"label": meta.label, "version": meta.version}
            payload = {**scored, "shots": matrix.n_shots}
            uow.events.add("scored", actor=user.annotator, payload=payload)
        import pandas as pd  # only `score` builds a table

        return pd.DataFrame({"shot_id": matrix.ids, "probability": probabilities})


def stored_scores(matrix: CorpusMatrix, classifier: ShotClassifier) -> np.ndarray:
    """Every shot's calibrated probability under ``classifier`` (empty for an empty corpus)."""
    if not matrix.n_shots:
        return np.zeros(0, np.float32)
    return score_corpus(matrix.X, classifier)


def check_encoder(model_encoder: str, corpus_encoder: str) -> None:
    """Refuse to score a corpus with a model trained on another encoder's vectors."""
    require_same_encoder(
        model_encoder,
        corpus_encoder,
        (
            f"the model was trained on {model_encoder!r} embeddings but this corpus holds "
            f"{corpus_encoder!r}: scores would be meaningless"
        ),
    )
