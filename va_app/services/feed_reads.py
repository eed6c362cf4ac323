"""Reads of the active-learning loop: the feeds of a model version (as its build made them),
the probabilities the feeds show, random shots before the first build, and where the next
batch should come from (the recommender)."""

from __future__ import annotations

import numpy as np

from va_app.encoders.base import same_encoder
from va_app.errors import NotFoundError
from va_app.learn.classifier import ShotClassifier
from va_app.learn.engine import DEFAULT_SPREAD
from va_app.learn.feeds import feed_seed, meaning_depth, meaning_page, random_feed
from va_app.learn.recommender import MISTAKES, Recommendation, recommend, shots_to_predict
from va_app.learn.scoring import score_matrix
from va_app.services import reads
from va_app.services.bootstrap import Services
from va_app.services.corpus_view import FeedView


def feeds_for(
    app: Services,
    label: str,
    *,
    version: int | None = None,
    n: int = 20,
    hide_labelled: bool = False,
) -> FeedView | None:
    """The feeds of a stored version (default latest); None when nothing was built yet.

    The latest build of each label is handed out as it was built — from this process, or
    from disk after a restart (:meth:`CorpusView.stored_build`); any other version is
    recomputed — same classifier, same seed: the same feeds as its build showed.
    """
    repos = app.uow()
    name = repos.labels.get_label(label).name
    stored = repos.models.versions(name)
    if not stored:
        return None
    wanted = next((v for v in stored if v.version == (version or stored[-1].version)), None)
    if wanted is None:
        raise NotFoundError(f"label {name!r} has no model version {version}")
    built = app.view.remembered_build(wanted, n=n, hide_labelled=hide_labelled)
    if built is not None:
        return built
    earlier = [v for v in stored if v.version < wanted.version]
    previous = earlier[-1] if earlier else None
    kept = app.view.stored_build(wanted, n=n, hide_labelled=hide_labelled)
    if kept is not None:  # its build's own feeds, left by this or an earlier server process
        feeds, probabilities = kept
        return FeedView(wanted, previous, probabilities, feeds)
    meta, params = repos.models.parameters(name, wanted.version)
    matrix = app.view.matrix
    scored = score_matrix(matrix, ShotClassifier.from_dict(params))  # as the build scored
    rows = scored.feeds(
        n,
        seed=feed_seed(name, meta.version),
        exclude=_labelled_rows(app, name) if hide_labelled else None,
        clusters=matrix.clusters if matrix.clusters.size else None,
        spread=DEFAULT_SPREAD,
    )
    feeds = {feed: [matrix.ids[i] for i in idx] for feed, idx in rows.items()}
    return FeedView(meta, previous, scored.probabilities, feeds)


def feed_scores(app: Services, view: FeedView, shot_ids: list[str]) -> dict[str, float]:
    """The probabilities ``view``'s version gave these shots."""
    rows = app.view.matrix.row_of
    return {i: float(view.probabilities[rows[i]]) for i in shot_ids if i in rows}


def random_shots(
    app: Services, label: str, *, n: int = 20, hide_labelled: bool = False
) -> list[str]:
    """Random shots for ``label`` before its first build: the random feed needs no model.

    Seeded as version 0 of the label's feeds, so a reload shows the same shots; with
    ``hide_labelled`` the shots already labelled make room for new ones. Labelling some
    while searching gives the first model the whole corpus, not only what the words found.
    """
    name = app.uow().labels.get_label(label).name
    matrix = app.view.matrix
    exclude = _labelled_rows(app, name) if hide_labelled else None
    rows = random_feed(
        np.zeros(matrix.n_shots, np.float32), n, rng=feed_seed(name, 0), exclude=exclude
    )
    return [matrix.ids[i] for i in rows]


def meaning_shots(app: Services, label: str, *, n: int = 20) -> list[str]:
    """Shots for ``label`` before its first build, chosen by meaning: the label's words (its
    name, description and hints, as a zero-shot search reads them) ranked over the corpus,
    and of the unlabelled hits within :func:`meaning_depth` the best then the rest spread down
    the ranking (:func:`meaning_page`) — clear positives beside near misses, not one corner of
    the concept. Labelled shots make room for the next ones."""
    labels = app.uow().labels
    name = labels.get_label(label).name
    depth = meaning_depth(app.view.matrix.n_shots)
    hits = reads.search(app, reads.zero_shot_query(app, name), k=depth).hits
    labelled = labels.labelled_set(name)
    seen = set(labelled.positives) | set(labelled.negatives) | set(labelled.ties)
    return meaning_page([h.shot_id for h in hits if h.shot_id not in seen], n)


def _labelled_rows(app: Services, name: str) -> np.ndarray:
    """Matrix rows of every shot labelled for ``name`` (what "hide labelled" hides)."""
    labelled = app.uow().labels.labelled_set(name)
    return app.view.matrix.rows(labelled.positives + labelled.negatives + labelled.ties)


def next_batch_advice(app: Services, label: str) -> Recommendation:
    """Where the label's next batch should come from (the recommender, mistakes reward).

    Each batch's reward is the share of it the model before it had wrong: every version
    with a batch after it scores just that batch's shots (a few rows each).
    """
    repos = app.uow()
    name = repos.labels.get_label(label).name
    stored, clicks = repos.models.versions(name), repos.labels.history(name)
    wanted = shots_to_predict(stored, clicks)
    matrix = app.view.matrix
    predictions: dict[int, dict[str, float]] = {}
    for number, (meta, params) in repos.models.parameters_of(name, wanted).items():
        if not same_encoder(meta.encoder_id, matrix.encoder_id):
            continue  # built on another encoder's vectors: it cannot score these
        rows = matrix.rows(wanted[number])
        if rows.size:
            p = ShotClassifier.from_dict(params).predict_proba(matrix.X[rows])[:, 1]
            predictions[number] = {matrix.ids[r]: float(v) for r, v in zip(rows, p)}
    return recommend(stored, clicks, reward=MISTAKES, predictions=predictions)
