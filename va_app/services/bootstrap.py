"""Bootstrap: the one place that builds a corpus's stores, caches, access policy and actions
from :class:`~va_app.config.Settings` (cosmicpython's composition root).

The app keeps one :class:`Services` per data directory (``st.cache_resource``); each CLI
command makes one and closes it. Entrypoints then call the actions
(``services.labelling``, ``services.modelling``) and the reads
(:mod:`va_app.services.reads`, :mod:`va_app.services.dashboard`) and nothing below them.
This module alone wires concrete adapters: the Netflix release's stored text vectors reach
search through it (``label_vector``), so the rest of the service layer knows no data set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from va_app.config import Settings
from va_app.services.access import AccessPolicy
from va_app.services.corpus_view import CorpusView, FeedView
from va_app.services.labelling import Labelling
from va_app.services.unit_of_work import SqlUnitOfWork, UnitOfWork
from va_app.store.corpus import Corpus
from va_app.store.opening import open_corpus

if TYPE_CHECKING:
    from va_app.services.modelling import BuildOutcome, Modelling


@dataclass(eq=False)
class Services:
    """Everything one corpus's actions and reads need, built once (:func:`bootstrap`)."""

    settings: Settings
    policy: AccessPolicy
    corpus: Corpus
    view: CorpusView
    labelling: Labelling
    #: A label's text vector stored with the corpus (an imported release's), or None.
    label_vector: Callable[[str], np.ndarray | None]
    #: Builds :attr:`modelling` on first use: scikit-learn is imported by the commands that
    #: train or score, not by every read (the CLI's quick commands start in well under 1 s).
    make_modelling: Callable[[], Modelling] = field(repr=False)

    @cached_property
    def modelling(self) -> Modelling:
        """Builds, model exports and scoring (:class:`~va_app.services.modelling.Modelling`)."""
        return self.make_modelling()

    def uow(self) -> UnitOfWork:
        """A fresh unit of work over the corpus's catalog."""
        return SqlUnitOfWork(self.corpus.catalog)

    def close(self) -> None:
        self.corpus.close()


def bootstrap(
    settings: Settings,
    *,
    corpus: Corpus | None = None,
    policy: AccessPolicy | None = None,
    check_index: bool = True,
) -> Services:
    """Open the corpus (repairing leftovers of an interrupted ingest) and wire its services.

    ``check_index=False``: a caller that never searches skips the vector index's half-second
    start (:func:`~va_app.store.opening.open_corpus`)."""
    corpus = corpus or open_corpus(settings, check_index=check_index)
    policy = policy or AccessPolicy.from_settings(settings)
    view = CorpusView(settings, corpus)

    def uow() -> UnitOfWork:
        return SqlUnitOfWork(corpus.catalog)

    def remember(outcome: BuildOutcome, n: int, hide_labelled: bool) -> None:
        shown = FeedView(
            outcome.version, outcome.previous, outcome.result.probabilities, outcome.feeds
        )
        view.remember_build(shown, n=n, hide_labelled=hide_labelled)

    def modelling() -> Modelling:
        from va_app.services.modelling import BuildRules, Modelling

        rules = BuildRules(settings.min_positives, settings.min_negatives, settings.kmeans_k)
        return Modelling(uow, policy, lambda: view.matrix, rules=rules, on_built=remember)

    def label_vector(name: str) -> np.ndarray | None:
        from va_app.datasets.netflix.lookups import zero_shot_query  # pandas: on demand

        return zero_shot_query(settings, name)

    return Services(
        settings=settings,
        policy=policy,
        corpus=corpus,
        view=view,
        labelling=Labelling(uow, policy),
        label_vector=label_vector,
        make_modelling=modelling,
    )
