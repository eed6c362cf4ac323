"""Reads: the plain values the pages and the CLI show — one producer each.

Labels and their progress, the corpus's counts, shots and their clips, the votes on a label's
shots, search, the feeds of a model version, random shots before the first build and the
recommender's advice. Nothing here writes or checks access (everyone who can open the app
may look); the actions are ``va_app.services.labelling`` and ``.modelling``. The feeds of a
model version are in :mod:`va_app.services.feed_reads`, the dashboard's tables in
:mod:`va_app.services.dashboard`. This module imports no learning code, so the CLI's
``info``, ``shots`` and ``labels list`` start fast.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from va_app.config import Settings
from va_app.domain import Annotation, Label, ModelVersion, Shot, TrainingSet
from va_app.encoders.base import Encoder
from va_app.errors import NotFoundError
from va_app.search.index_progress import IndexProgress
from va_app.search.label_words import zero_shot_texts
from va_app.search.shots import SearchFilters, SearchQuery, SearchResult
from va_app.store.corpus import Corpus
from va_app.store.opening import open_corpus
from va_app.store.schema import AnnotationRow, LabelRow, VideoRow

if TYPE_CHECKING:  # types only: building the services imports the whole engine
    from va_app.services.bootstrap import Services
    from va_app.services.corpus_view import ByteProgress

log = logging.getLogger(__name__)


# -- the corpus ------------------------------------------------------------------------------
def is_empty(app: Services) -> bool:
    """No video in the corpus yet (the app then builds the demo)."""
    return app.corpus.catalog.count_rows(VideoRow) == 0


def corpus_summary(app: Services) -> dict:
    """:func:`describe_corpus` of the open corpus (no new connections)."""
    return describe_corpus(app.corpus)


def describe_corpus(corpus: Corpus) -> dict:
    """Counts of each store (they agree unless something is wrong), encoder, skipped files."""
    catalog = corpus.catalog
    return {
        "videos": catalog.count_videos(),
        "shots": catalog.count_shots(),
        "embeddings": corpus.matrix.count(),
        "index": _indexed(corpus),
        "labels": catalog.count_rows(LabelRow),
        "annotations": catalog.count_rows(AnnotationRow),
        "encoder": corpus.encoder_id,
        "data_dir": str(corpus.settings.data_dir),
        "skipped": [{"path": p, "reason": r} for p, r in catalog.skipped()],
        **cut_list_facts(catalog.cut_list_facts()),
    }


def _indexed(corpus: Corpus) -> int | None:
    """Vectors in the index; None when it cannot be read (derived data: search is exact
    without it; the page's check already names the fault and `check --repair`)."""
    try:
        return corpus.index.count()
    except Exception as exc:  # noqa: BLE001 — a damaged index fails in Chroma's own ways
        log.warning("the vector index cannot be read (%s); run `check --repair`", exc)
        return None


def cut_list_facts(facts: list[tuple[str, str, str, int]]) -> dict[str, list[dict]]:
    """``{"cut_lists": [{video, cut_list, shots}], "cut_list_fallbacks": [{video, reason}]}``:
    the videos whose shots are their editor's cuts, and those whose cut list was refused
    (their shots were detected), with the reason."""
    return {
        "cut_lists": [
            {"video": path, "cut_list": cuts, "shots": n} for path, cuts, _, n in facts if cuts
        ],
        "cut_list_fallbacks": [
            {"video": path, "reason": why} for path, cuts, why, _ in facts if not cuts and why
        ],
    }


def corpus_info(settings: Settings) -> dict:
    """:func:`describe_corpus` of the corpus in ``settings.data_dir`` (opened and closed)."""
    corpus = open_corpus(settings)
    try:
        return describe_corpus(corpus)
    finally:
        corpus.close()


def corpus_is_empty(settings: Settings) -> bool:
    """No video in the corpus in ``settings.data_dir`` (opened without repairs, and closed)."""
    corpus = open_corpus(settings, recover=False)
    try:
        return corpus.catalog.count_rows(VideoRow) == 0
    finally:
        corpus.close()


def shot_rows(settings: Settings) -> list[dict]:
    """Every shot as a row (``shots --json``): id, video, frames, times, cluster, title."""
    corpus = open_corpus(settings)
    try:
        return [
            {
                "id": s.id,
                "video": s.video_key,
                "start_frame": s.start_frame,
                "end_frame": s.end_frame,
                "start_s": round(s.start_s, 4),
                "end_s": round(s.end_s, 4),
                "cluster": s.cluster,
                "title": s.title,
            }
            for s in corpus.shots()
        ]
    finally:
        corpus.close()


def corpus_version(app: Services) -> str:
    """Changes whenever an ingest changed the corpus (a cache key for derived data)."""
    return app.view.corpus_version


def encoder_id(app: Services) -> str:
    """The id of the encoder that made the corpus's vectors ("" before the first ingest)."""
    return app.corpus.encoder_id or ""


def encoder(app: Services, *, progress: ByteProgress | None = None) -> Encoder | None:
    """The corpus's encoder (loaded once per process), or None where it cannot be had."""
    return app.view.encoder(progress=progress)


def encoder_problem(app: Services) -> str:
    """Why the corpus's encoder is not available here ("" when it is, or was not asked for)."""
    return app.view.encoder_problem


def shot_ids(app: Services) -> Sequence[str]:
    """Every visible shot's id in the matrix's row order (what a build's scores follow)."""
    return app.view.matrix.ids


def shots(app: Services, ids: list[str]) -> list[Shot]:
    """The shots with these ids, in the order given (unknown ids left out)."""
    return app.corpus.shots(ids)


def shot_clip(app: Services, shot_id: str) -> Path:
    """The shot's exact clip, first frame to last (cut on first call, then cached)."""
    from va_app.video.clips import clip_of_shot  # PyAV: only where a clip is cut

    found = app.corpus.shots([shot_id])
    if not found:
        raise NotFoundError(f"no shot {shot_id!r} in this corpus")
    return clip_of_shot(found[0], clips_dir=app.settings.previews_dir)


def events(app: Services, kind: str | None = None) -> list:
    """The activity log, oldest first: every action leaves one line."""
    return app.uow().events.all(kind)


# -- labels ----------------------------------------------------------------------------------
def labels(app: Services) -> list[Label]:
    return app.uow().labels.labels()


def label(app: Services, name: str) -> Label:
    return app.uow().labels.get_label(name)


def label_summaries(app: Services) -> list[dict]:
    """Per label: positives, negatives, clicks, annotators, conflicts and the latest build."""
    repos = app.uow()
    rows = []
    for item in repos.labels.labels():
        labelled = repos.labels.labelled_set(item.name)
        latest = repos.models.latest(item.name)
        rows.append(
            {
                "name": item.name,
                "description": item.description,
                "positives": len(labelled.positives),
                "negatives": len(labelled.negatives),
                "annotations": repos.labels.count_annotations(item.name),
                "annotators": labelled.annotators,
                "conflicts": len(labelled.conflicts),
                "versions": latest.version if latest else 0,
                "model_score": latest.model_score if latest else None,
                "data_score": latest.data_score if latest else None,
            }
        )
    return rows


def annotation_count(app: Services, label: str) -> int:
    """Clicks on ``label`` so far (every row of its log)."""
    return app.uow().labels.count_annotations(label)


@dataclass(frozen=True)
class LabelCounts:
    """A label's shots by majority: what the count-down to the first build reads."""

    positives: int
    negatives: int
    ties: int


def label_counts(app: Services, label: str) -> LabelCounts:
    """The label's shots by majority, counted by the database (the grid shows them after
    every decision: reading the label's whole log each time would not keep up)."""
    return LabelCounts(*app.uow().labels.verdict_counts(label))


def labelled_shots(app: Services, label: str) -> TrainingSet:
    """The label's shots by majority: positives, negatives, ties (and who annotated)."""
    return app.uow().labels.labelled_set(label)


def first_build_needs(app: Services) -> tuple[int, int]:
    """Positives and negatives a label needs before its first build (the settings')."""
    return app.settings.min_positives, app.settings.min_negatives


def votes(app: Services, label: str) -> dict[str, dict[str, bool]]:
    """Shot id -> annotator -> value, of the label's current annotations."""
    out: dict[str, dict[str, bool]] = {}
    for ann in app.uow().labels.current(label):
        out.setdefault(ann.shot_id, {})[ann.annotator] = bool(ann.value)
    return out


def history(app: Services, label: str) -> list[Annotation]:
    """Every click on ``label``, oldest first (clears included)."""
    return app.uow().labels.history(label)


def current_annotations(app: Services, label: str) -> list[Annotation]:
    """Each annotator's current word per shot of ``label`` (cleared ones left out)."""
    return app.uow().labels.current(label)


def versions(app: Services, label: str) -> list[ModelVersion]:
    """The label's model versions, oldest first."""
    return app.uow().models.versions(label)


def latest_version(app: Services, label: str) -> ModelVersion | None:
    return app.uow().models.latest(label)


# -- search ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FilterChoices:
    """What the search filters offer: videos (key, title), genres, tags, longest shot."""

    videos: tuple[tuple[str, str], ...]
    genres: tuple[str, ...]
    tags: tuple[str, ...]
    longest_s: float


def filter_choices(app: Services) -> FilterChoices:
    table = app.view.search.table
    durations = table.duration_s[np.isfinite(table.duration_s)]
    return FilterChoices(
        videos=tuple(zip(table.video_keys, table.titles)),
        genres=tuple(sorted({g for g in table.genres if g})),
        tags=tuple(sorted({t for ts in table.tags for t in ts})),
        longest_s=float(math.ceil(durations.max())) if durations.size else 1.0,
    )


def zero_shot_query(
    app: Services, label: str, *, filters: SearchFilters | None = None
) -> SearchQuery:
    """The label itself as a query: its stored text vector if the corpus has one (imported
    corpora), else its name, description and each search hint (ensembled)."""
    info = app.uow().labels.get_label(label)
    return SearchQuery(
        texts=zero_shot_texts(info.name, info.description, info.hints),
        vector=app.label_vector(info.name),
        filters=filters or SearchFilters(),
    )


def search(
    app: Services,
    query: SearchQuery,
    *,
    k: int = 20,
    offset: int = 0,
    progress: ByteProgress | None = None,
) -> SearchResult:
    """One page of shots for ``query`` (words, example, filters — any combination). Words are
    encoded through the on-disk text cache: the text tower loads (``progress`` follows a
    weights download) only for words never searched before."""
    words = query.texts and query.vector is None
    text = app.view.text_encoder(progress=progress) if words else None
    return app.view.search.search(query, text, k, offset=offset)


def describe_hits(app: Services, result: SearchResult) -> list[dict]:
    """``[{"id", "score", "title", "start_s", "end_s"}]`` in rank order (``search --json``)."""
    found = {s.id: s for s in app.corpus.shots([h.shot_id for h in result.hits])}
    return [
        {
            "id": hit.shot_id,
            "score": round(hit.similarity, 6),
            "title": found[hit.shot_id].title,
            "start_s": round(found[hit.shot_id].start_s, 4),
            "end_s": round(found[hit.shot_id].end_s, 4),
        }
        for hit in result.hits
    ]


def index_progress(app: Services) -> IndexProgress | None:
    """How far the vector index is behind (search is exact meanwhile), or None."""
    return app.view.index_progress()
