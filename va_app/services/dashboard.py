"""Reads for the managers' dashboard, the review and the timeline pages: progress, agreement,
score histories, disagreements, cluster coverage, the corpus map, score distributions,
calibration, every title's shots in time order — and the tables as files (the page's
downloads and ``dashboard export``).

This module gathers each table's inputs from the corpus (annotation histories, model versions,
the matrix); :mod:`va_app.reports.analytics` computes them and :mod:`va_app.reports.charts`
draws them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from va_app.learn.classifier import ShotClassifier
from va_app.learn.matrix import CorpusMatrix
from va_app.learn.scoring import corpus_probabilities
from va_app.reports import analytics, timeline
from va_app.services.bootstrap import Services
from va_app.services.modelling import check_encoder, stored_scores
from va_app.store.rowids import ShotIds


def progress_table(app: Services) -> pd.DataFrame:
    """One row per label: clicks, majority counts, the latest model's scores, readiness."""
    repos = app.uow()
    facts = [
        analytics.LabelFacts(
            label.name,
            repos.labels.history(label.name),
            repos.labels.labelled_set(label.name),
            repos.models.latest(label.name),
        )
        for label in repos.labels.labels()
    ]
    return analytics.label_progress_table(facts)


def label_tables(app: Services, label: str) -> dict[str, pd.DataFrame]:
    """One label's tables (activity, agreement, pairs, agreement over time, score history)."""
    repos = app.uow()
    name = repos.labels.get_label(label).name
    return analytics.label_tables(name, repos.labels.history(name), repos.models.versions(name))


def dashboard_tables(app: Services, *, label: str | None = None) -> dict[str, pd.DataFrame]:
    """Every table of the dashboard as it downloads, for ``label`` or every label."""
    progress = progress_table(app)
    names = [app.uow().labels.get_label(label).name] if label else list(progress.label)
    return analytics.dashboard_tables(progress, {n: label_tables(app, n) for n in names})


def export_tables(
    app: Services, out_dir: str | Path, *, fmt: str, label: str | None = None
) -> list[Path]:
    """Write :func:`dashboard_tables` into ``out_dir``, one ``<table>.<fmt>`` file each."""
    return analytics.write_tables(dashboard_tables(app, label=label), out_dir, fmt=fmt)


def shot_times(app: Services) -> timeline.ShotTimes:
    """Every title's shots in time order, for the timeline (one catalog read: cache it per
    corpus version)."""
    videos, shots = app.corpus.catalog.shot_columns()
    return timeline.build_shot_times(videos, shots, app.view.matrix.ids)


def latest_scores(app: Services, label: str) -> pd.DataFrame | None:
    """Every shot's probability under the label's latest model (shot_id, probability), or
    None before the first build."""
    repos = app.uow()
    latest = repos.models.latest(label)
    if latest is None:
        return None
    _, params = repos.models.parameters(label, latest.version)
    matrix = app.view.matrix
    probabilities = stored_scores(matrix, ShotClassifier.from_dict(params))
    return pd.DataFrame({"shot_id": shot_id_column(matrix), "probability": probabilities})


def shot_id_column(matrix: CorpusMatrix) -> pd.Series | list[str]:
    """The matrix's shot ids for a frame: an Arrow-backed Series made from the mapped file's
    bytes (0.5 s at 2M ids; a column of Python strs took ~2 s), or the ids as they are."""
    ids = matrix.ids
    return ids.series() if isinstance(ids, ShotIds) else list(ids)


def disagreements_with_model(app: Services, label: str) -> pd.DataFrame:
    """Labelled shots whose latest model score contradicts their majority, strongest first
    (empty before the first build)."""
    repos = app.uow()
    name = repos.labels.get_label(label).name
    verdicts = repos.labels.verdicts(name)
    scores = latest_scores(app, name)
    if scores is None:
        return analytics.disagreements_with_model(verdicts, lambda shot_id: None)
    lookup = analytics.probability_lookup(app.view.matrix.row_of, scores["probability"].to_numpy())
    return analytics.disagreements_with_model(verdicts, lookup)


def annotator_conflicts(app: Services, label: str) -> pd.DataFrame:
    """Shots on which the label's annotators disagree, with each one's word."""
    repos = app.uow()
    return analytics.annotator_conflicts(repos.labels.verdicts(repos.labels.get_label(label).name))


def cluster_coverage(app: Services, label: str) -> pd.DataFrame:
    """Per diversity cluster: its shots and the label's positives and negatives."""
    labelled = app.uow().labels.labelled_set(label)
    return analytics.cluster_coverage(app.view.matrix, labelled, k=app.settings.kmeans_k)


def corpus_map(app: Services, label: str | None = None) -> pd.DataFrame:
    """The corpus on a 2-D map, the label's labelled shots marked."""
    labelled = app.uow().labels.labelled_set(label) if label else None
    return analytics.corpus_map(app.view.matrix, labelled)


def score_distribution(app: Services, label: str) -> pd.DataFrame:
    """The latest model's scores of every shot, shots added since that build marked (found by
    row lookup, not by comparing every shot's id)."""
    repos = app.uow()
    name = repos.labels.get_label(label).name
    latest = repos.models.latest(name)
    if latest is None:
        return analytics.score_distribution(pd.DataFrame(), None, since_model=np.zeros(0, bool))
    scores = _histogram_scores(app, name, latest.version)
    since = np.zeros(len(scores), dtype=bool)
    added = app.corpus.catalog.shots_added_since(latest.created_at)
    since[app.view.matrix.rows(list(added))] = True
    return analytics.score_distribution(scores, latest, since_model=since)


def _histogram_scores(app: Services, label: str, version: int) -> pd.DataFrame:
    """Every shot's probability under a stored version: as the label's latest build left them
    on disk, else in one pass over the matrix's scoring representation (a float16 copy where
    the corpus keeps one: within its rounding, plenty for a histogram)."""
    meta, params = app.uow().models.parameters(label, version)
    matrix = app.view.matrix
    check_encoder(meta.encoder_id, matrix.encoder_id)
    probabilities = app.view.stored_probabilities(meta)  # as its build left them: no pass
    if probabilities is None:
        probabilities = (
            corpus_probabilities(matrix, ShotClassifier.from_dict(params))
            if matrix.n_shots
            else np.zeros(0, np.float32)
        )
    return pd.DataFrame({"shot_id": shot_id_column(matrix), "probability": probabilities})


def reliability(app: Services, label: str) -> pd.DataFrame:
    """The latest model's reliability curve, raw and calibrated (out of fold)."""
    repos = app.uow()
    return analytics.reliability(repos.models.latest(repos.labels.get_label(label).name))
