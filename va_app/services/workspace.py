"""Service layer: the one way in for every user action (the app's views and the CLI).

:class:`Workspace` bundles one corpus's stores and the in-memory embedding matrix, loaded
once and reused by every build; the app keeps one per data directory in
``st.cache_resource``, the CLI makes one per command. Each action method (annotate, bulk
annotate, create / edit / delete a label, build, export a model, score, import / export
annotations) is one unit of work: the access check (:class:`~va_app.services.access.
AccessPolicy`, for the ``user`` passed), the change and its line in the event log, committed
in one transaction. Corpus-wide jobs (ingest, demo, reindex, Netflix import, backup, restore)
are in :mod:`va_app.services.jobs`.

``user=None`` is a trusted in-process caller (a script, a test, the research tools): nothing
is checked and the event names no actor. Views and CLI commands always pass the acting user
(``tests/unit/test_layers.py`` makes sure).
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from va_app.config import Settings
from va_app.domain import Annotation
from va_app.encoders.base import Encoder, require_same_encoder, same_encoder
from va_app.errors import NotFoundError, VAError, ValidationError
from va_app.learn.classifier import score_corpus
from va_app.learn.engine import BuildResult, CorpusMatrix, finish_build, train
from va_app.learn.feeds import build_feeds, random_feed
from va_app.learn.recommender import MISTAKES, Recommendation, recommend, shots_to_predict
from va_app.learn.versions import ModelVersion, load_model
from va_app.search.index_progress import IndexProgress, IndexWatch
from va_app.search.label_words import zero_shot_texts
from va_app.search.shots import (
    SearchFilters,
    SearchQuery,
    SearchResult,
    ShotSearch,
)
from va_app.services.access import AccessPolicy, Action, User
from va_app.services.decisions import Decision
from va_app.store.catalog import Event
from va_app.store.corpus import Corpus, open_corpus
from va_app.store.index import forget_cached_clients
from va_app.store.labels import Label, LabelStore
from va_app.store.models import ModelRegistry
from va_app.store.schema import AnnotationRow, LabelRow, VideoRow
from va_app.video.clips import clip_of_shot


@dataclass(frozen=True, eq=False)
class FeedView:
    """A stored model version's feeds, exactly as its build made them."""

    version: ModelVersion
    previous: ModelVersion | None
    probabilities: np.ndarray
    feeds: dict[str, list[str]]


@dataclass(frozen=True, eq=False)
class BuildOutcome:
    version: ModelVersion
    result: BuildResult
    previous: ModelVersion | None

    @property
    def feeds(self) -> dict[str, list[str]]:
        return self.result.feeds


class Workspace:
    def __init__(
        self,
        settings: Settings,
        corpus: Corpus | None = None,
        *,
        policy: AccessPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.corpus = corpus or open_corpus(settings)
        self.labels = LabelStore(self.corpus.catalog)
        self.models = ModelRegistry(self.corpus.catalog)
        self.policy = policy or AccessPolicy.from_settings(settings)
        self._matrix: CorpusMatrix | None = None
        self._matrix_version = ""
        # The app shares one workspace between browser sessions (threads).
        self._lock = threading.Lock()
        #: How often the matrix was read from disk (the app must do it once per corpus change).
        self.matrix_loads = 0
        self._search: tuple[str, ShotSearch] | None = None
        self._index_watch = IndexWatch()
        self._encoder: tuple[str, Encoder | None] | None = None
        #: Why the corpus's encoder could not be loaded here ("" when it could, or not tried).
        self.encoder_problem = ""
        self._encoder_lock = threading.Lock()
        # Each label's latest build in this process, as shown: feeds_for hands it out instead
        # of scoring the corpus a second time.
        self._built: dict[tuple[str, int, bool], FeedView] = {}

    def close(self) -> None:
        self.corpus.close()

    @property
    def matrix(self) -> CorpusMatrix:
        """The whole corpus in memory; re-read only when an ingest changed the corpus."""
        version = self.corpus_version
        with self._lock:
            if self._matrix is None or version != self._matrix_version:
                self._matrix = CorpusMatrix.load(self.corpus)
                self._matrix_version = version
                self.matrix_loads += 1
                self._built.clear()  # feeds of the old corpus
            return self._matrix

    @property
    def corpus_version(self) -> str:
        """Changes whenever an ingest changed the corpus (cache key for derived data)."""
        return self.corpus.catalog.corpus_version()

    # -- search ----------------------------------------------------------------------------
    @property
    def shot_search(self) -> ShotSearch:
        """Search over the matrix in memory; rebuilt only when an ingest changed the corpus."""
        matrix, version = self.matrix, self.corpus_version
        with self._lock:
            if self._search is None or self._search[0] != version:
                self._search = (version, ShotSearch.from_corpus(self.corpus, matrix))
            return self._search[1]

    def index_progress(self) -> IndexProgress | None:
        """How far the vector index is behind the matrix, with an ETA; None while search does
        not wait for it (the index is in step, or the corpus is small enough to scan).

        When the index has caught up (filled by another process), search switches to it.
        """
        search = self.shot_search
        if not search.needs_index or search.index_in_step:
            return None
        try:
            indexed = self.corpus.index.count()
        except Exception:  # noqa: BLE001 — an unusable index: search is exact, says so itself
            return None
        progress = self._index_watch.look(indexed, search.n_shots)
        if progress.complete:
            self._reopen_index()
        return progress

    def _reopen_index(self) -> None:
        """Reopen the Chroma client (a long-lived one does not see other processes' vectors in
        queries) and rebuild search over it."""
        with self._lock:
            self.corpus.index.close()
            forget_cached_clients()
            self._search = None

    def encoder(self, *, progress=None) -> Encoder | None:
        """The encoder of this corpus's vectors, loaded once; None when it cannot be had here.

        A CLIP corpus whose weights are missing gets them fetched once when the hub can be
        reached (``progress(done_bytes, total_bytes, note)`` follows the download). Without an
        encoder — e.g. an imported corpus's Clip4CLIP vectors — search still works by keywords,
        by example and by stored zero-shot vectors; :attr:`encoder_problem` says why.
        """
        from va_app.encoders import encoder_for_corpus

        corpus_id = self.corpus.encoder_id or ""
        if not corpus_id:  # nothing ingested yet: nothing to search, nothing worth a download
            self.encoder_problem = "the corpus has no shots yet"
            return None
        with self._encoder_lock:  # one download and one model load, however many sessions ask
            if self._encoder is None or self._encoder[0] != corpus_id:
                try:
                    loaded = encoder_for_corpus(self.settings, corpus_id, progress=progress)
                    self.encoder_problem = ""
                except VAError as exc:
                    loaded, self.encoder_problem = None, str(exc)
                self._encoder = (corpus_id, loaded)
            return self._encoder[1]

    def search(self, query: SearchQuery, *, k: int = 20, offset: int = 0) -> SearchResult:
        """One page of shots for ``query`` (words, example, filters — any combination)."""
        encoder = self.encoder() if query.texts and query.vector is None else None
        return self.shot_search.search(query, encoder, k, offset=offset)

    def zero_shot_query(self, label: str, *, filters: SearchFilters | None = None) -> SearchQuery:
        """The label itself as a query: its stored text vector if the corpus has one (imported
        corpora), else its name, description and each search hint (ensembled)."""
        from va_app.datasets.netflix.lookups import zero_shot_query

        info = self.labels.get_label(label)
        stored = zero_shot_query(self.settings, info.name)
        return SearchQuery(
            texts=zero_shot_texts(info.name, info.description, info.hints),
            vector=stored,
            filters=filters or SearchFilters(),
        )

    def describe_hits(self, result: SearchResult) -> list[dict]:
        """``[{"id", "score", "title", "start_s", "end_s"}]`` in rank order (``search --json``)."""
        shots = {shot.id: shot for shot in self.corpus.shots([h.shot_id for h in result.hits])}
        return [
            {
                "id": hit.shot_id,
                "score": round(hit.similarity, 6),
                "title": shots[hit.shot_id].title,
                "start_s": round(shots[hit.shot_id].start_s, 4),
                "end_s": round(shots[hit.shot_id].end_s, 4),
            }
            for hit in result.hits
        ]

    # -- reads the views need ------------------------------------------------------------------
    def is_empty(self) -> bool:
        """No video in the corpus yet (the app then builds the demo)."""
        return self.corpus.catalog.count_rows(VideoRow) == 0

    def describe(self) -> dict:
        """:func:`describe_corpus` of this workspace's open corpus (no new connections)."""
        return describe_corpus(self.corpus)

    def events(self, kind: str | None = None) -> list[Event]:
        """The activity log, oldest first: every action below leaves one line."""
        return self.corpus.catalog.events(kind)

    # -- the unit of work ----------------------------------------------------------------------
    def _require(self, user: User | None, action: Action, *, owner: str | None = None) -> None:
        if user is not None:
            self.policy.require(user, action, owner=owner)

    @contextmanager
    def _unit(self) -> Iterator[None]:
        """One transaction: the rows an action writes and its event commit together."""
        with self.corpus.catalog.unit_of_work():
            yield

    def _log(self, kind: str, user: User | None, payload: dict, *, actor: str = "") -> None:
        actor = actor or (user.annotator if user is not None else "")
        self.corpus.catalog.log_event(kind, actor=actor, payload=payload)

    # -- labels ----------------------------------------------------------------------------
    def create_label(
        self,
        name: str,
        *,
        description: str = "",
        hints: str = "",
        created_by: str | None = None,
        user: User | None = None,
    ) -> Label:
        """A new label; ``created_by`` defaults to the acting user."""
        self._require(user, Action.CREATE_LABEL)
        if created_by is None:
            created_by = user.annotator if user is not None else ""
        with self._unit():
            label = self.labels.create_label(
                name, description=description, hints=hints, created_by=created_by
            )
            self._log("label_created", user, {"label": label.name}, actor=created_by)
        return label

    def edit_label(
        self,
        name: str,
        *,
        description: str | None = None,
        hints: str | None = None,
        user: User | None = None,
    ) -> Label:
        """Change a label's guidelines (description) and search hints; None keeps a field."""
        self._require(user, Action.EDIT_LABEL)
        with self._unit():
            before = self.labels.get_label(name)
            label = self.labels.update_label(name, description=description, hints=hints)
            changed = [
                f for f in ("description", "hints") if getattr(before, f) != getattr(label, f)
            ]
            self._log("label_edited", user, {"label": label.name, "changed": changed})
        return label

    def delete_label(self, name: str, *, user: User | None = None) -> None:
        """Delete a label with all its annotations and model versions."""
        self._require(user, Action.DELETE_LABEL)
        with self._unit():
            label = self.labels.get_label(name)
            self.labels.delete_label(label.name)
            self._log("label_deleted", user, {"label": label.name})
        with self._lock:
            for key in [k for k in self._built if k[0] == label.name.casefold()]:
                del self._built[key]

    def label(self, name: str) -> Label:
        return self.labels.get_label(name)

    def record_decisions(
        self,
        label: str,
        decisions: Sequence[Decision],
        *,
        user: User,
        policy: AccessPolicy,
        source: str,
    ) -> list[Annotation]:
        """Write a batch of card-grid decisions as ``user``, in one transaction.

        The policy is checked here, not by the page: an event forged in a viewer's browser
        writes nothing. Every decision, bulk ones too, is one row of the append-only log
        (annotator, source, time).
        """
        annotator = user.annotator
        policy.require(user, Action.ANNOTATE, owner=annotator)
        if not annotator.strip():
            raise ValidationError("say who you are (sidebar) before labelling")
        if not decisions:
            return []
        with self._unit():  # the rows and their one event commit together
            stored = self.labels.annotate_many(
                label,
                [(d.shot_id, d.value) for d in decisions],
                annotator=annotator,
                source=source,
                decision_ids=[d.id for d in decisions],  # stored already: skipped
            )
            if stored:  # a batch sent again writes nothing and logs nothing
                self._log("annotate", user, _annotate_payload(stored, label, source))
        return stored

    def label_summaries(self) -> list[dict]:
        rows = []
        for label in self.labels.labels():
            labelled = self.labels.labelled_set(label.name)
            latest = self.models.latest(label.name)
            rows.append(
                {
                    "name": label.name,
                    "description": label.description,
                    "positives": len(labelled.positives),
                    "negatives": len(labelled.negatives),
                    "annotations": self.labels.count_annotations(label.name),
                    "annotators": labelled.annotators,
                    "conflicts": len(labelled.conflicts),
                    "versions": latest.version if latest else 0,
                    "model_score": latest.model_score if latest else None,
                    "data_score": latest.data_score if latest else None,
                }
            )
        return rows

    def shot_clip(self, shot_id: str) -> Path:
        """The shot's exact clip, first frame to last (cut on first call, then cached)."""
        shots = self.corpus.shots([shot_id])
        if not shots:
            raise NotFoundError(f"no shot {shot_id!r} in this corpus")
        return clip_of_shot(shots[0], clips_dir=self.settings.previews_dir)

    # -- annotations ---------------------------------------------------------------------------
    def annotate(
        self,
        label: str,
        shot_id: str,
        value: bool | None,
        *,
        user: User | None = None,
        annotator: str | None = None,
        source: str = "search",
    ) -> Annotation:
        """One click (``None`` clears), stored under ``annotator`` (default: the user)."""
        return self.annotate_many(
            label, [(shot_id, value)], user=user, annotator=annotator, source=source
        )[0]

    def annotate_many(
        self,
        label: str,
        items: Iterable[tuple[str, bool | None]],
        *,
        user: User | None = None,
        annotator: str | None = None,
        source: str = "import",
    ) -> list[Annotation]:
        """Several shots' words by one annotator, all or nothing, one event."""
        who = annotator or (user.annotator if user is not None else "")
        self._require(user, Action.ANNOTATE, owner=who)
        items = list(items)
        with self._unit():
            stored = self.labels.annotate_many(label, items, annotator=who, source=source)
            self._log("annotate", user, _annotate_payload(stored, label, source), actor=who)
        return stored

    def import_annotations(
        self,
        path: str | Path,
        *,
        fmt: str | None = None,
        label: str | None = None,
        create_labels: bool = False,
        user: User | None = None,
    ) -> int:
        """Read an annotation file (CSV / Parquet / JSON, or ``fmt="netflix"``: a Netflix VA
        per-label file into ``label``) and store it all or nothing, labels created with it."""
        from va_app.formats import annotations as io

        self._require(user, Action.ANNOTATE)
        store = self.labels if user is None else _CheckedLabels(self.labels, self.policy, user)
        with self._unit():
            if fmt == "netflix":
                n = io.import_netflix_agg(store, path, label=label, create_label=True)
            else:
                n = io.import_annotations(store, path, create_labels=create_labels)
            self._log(
                "annotations_imported",
                user,
                {"file": Path(path).name, "count": n, "format": fmt or "table"},
            )
        return n

    def export_annotations(
        self,
        out: str | Path,
        *,
        fmt: str | None = None,
        label: str | None = None,
        user: User | None = None,
    ) -> int:
        """Write annotations to ``out``; ``fmt="netflix"`` writes one label's Netflix VA file."""
        from va_app.formats import annotations as io

        self._require(user, Action.EXPORT)
        if fmt == "netflix":
            if not label:
                raise ValidationError("--format netflix exports one label: add --label NAME")
            n = io.export_netflix_agg(self.labels, label, out)
        else:
            n = io.export_annotations(self.labels, out, fmt=fmt, label=label)
        self._log(
            "annotations_exported",
            user,
            {"label": label, "count": n, "format": fmt or Path(out).suffix.lstrip(".")},
        )
        return n

    # -- the engine --------------------------------------------------------------------------
    @property
    def first_build_needs(self) -> tuple[int, int]:
        """Positives and negatives a label needs before its first build (the settings')."""
        return self.settings.min_positives, self.settings.min_negatives

    def build(
        self, label: str, *, n: int = 20, hide_labelled: bool = False, user: User | None = None
    ) -> BuildOutcome:
        """Train, score every shot, store the next model version and return its feeds.

        The version number is assigned once, in the transaction that stores the version, and
        seeds the random feed there; the feeds returned are the ones :meth:`feeds_for` hands
        out for this version (no second scoring).
        """
        self._require(user, Action.BUILD)
        name = self.labels.get_label(label).name
        matrix = self.matrix
        min_pos, min_neg = self.first_build_needs
        trained = train(
            matrix,
            self.labels.labelled_set(name),
            hide_labelled=hide_labelled,
            min_pos=min_pos,
            min_neg=min_neg,
        )

        def finish(number: int) -> BuildResult:
            return finish_build(
                matrix, trained, n=n, seed=feed_seed(name, number), k=self.settings.kmeans_k
            )

        with self._unit():
            version, result = self.models.save(name, finish, encoder_id=matrix.encoder_id)
            earlier = [v for v in self.models.versions(name) if v.version < version.version]
            self._log("build", user, {"label": name, "version": version.version})
        previous = earlier[-1] if earlier else None
        view = FeedView(version, previous, result.probabilities, result.feeds)
        with self._lock:
            for key in [k for k in self._built if k[0] == name.casefold()]:
                del self._built[key]  # one build per label is kept: the latest
            self._built[(name.casefold(), n, hide_labelled)] = view
        return BuildOutcome(version, result, previous)

    def feeds_for(
        self, label: str, *, version: int | None = None, n: int = 20, hide_labelled: bool = False
    ) -> FeedView | None:
        """The feeds of a stored version (default latest); None when nothing was built yet.

        The latest build made in this process is handed out as it was built; any other version
        is recomputed — same classifier, same seed: the same feeds as its build showed, after a
        reload too.
        """
        name = self.labels.get_label(label).name
        versions = self.models.versions(name)
        if not versions:
            return None
        wanted = version or versions[-1].version
        with self._lock:
            built = self._built.get((name.casefold(), n, hide_labelled))
        if built is not None and any(
            _same_version(built.version, v) for v in versions if v.version == wanted
        ):
            return built
        meta, clf = self.models.classifier(name, wanted)
        earlier = [v for v in versions if v.version < meta.version]
        matrix = self.matrix
        probabilities = score_corpus(matrix.X, clf)
        exclude = self._labelled_rows(name) if hide_labelled else None
        rows = build_feeds(probabilities, n, seed=feed_seed(name, meta.version), exclude=exclude)
        feeds = {feed: [matrix.ids[i] for i in idx] for feed, idx in rows.items()}
        return FeedView(meta, earlier[-1] if earlier else None, probabilities, feeds)

    def random_shots(self, label: str, *, n: int = 20, hide_labelled: bool = False) -> list[str]:
        """Random shots for ``label`` before its first build: the random feed needs no model.

        Seeded as version 0 of the label's feeds, so a reload shows the same shots; with
        ``hide_labelled`` the shots already labelled make room for new ones. Labelling some
        while searching gives the first model the whole corpus, not only what the words found.
        """
        name = self.labels.get_label(label).name
        matrix = self.matrix
        exclude = self._labelled_rows(name) if hide_labelled else None
        rows = random_feed(
            np.zeros(matrix.n_shots, np.float32), n, rng=feed_seed(name, 0), exclude=exclude
        )
        return [matrix.ids[i] for i in rows]

    def _labelled_rows(self, name: str) -> np.ndarray:
        """Matrix rows of every shot labelled for ``name`` (what "hide labelled" hides)."""
        labelled = self.labels.labelled_set(name)
        return self.matrix.rows(labelled.positives + labelled.negatives + labelled.ties)

    def next_batch_advice(self, label: str) -> Recommendation:
        """Where the label's next batch should come from (the recommender, mistakes reward).

        Each batch's reward is the share of it the model before it had wrong: every version
        with a batch after it scores just that batch's shots (a few rows each).
        """
        name = self.labels.get_label(label).name
        versions, history = self.models.versions(name), self.labels.history(name)
        wanted = shots_to_predict(versions, history)
        matrix = self.matrix
        predictions: dict[int, dict[str, float]] = {}
        for number, (meta, clf) in self.models.classifiers(name, wanted).items():
            if not same_encoder(meta.encoder_id, matrix.encoder_id):
                continue  # built on another encoder's vectors: it cannot score these
            rows = matrix.rows(wanted[number])
            if rows.size:
                p = clf.predict_proba(matrix.X[rows])[:, 1]
                predictions[number] = {matrix.ids[r]: float(v) for r, v in zip(rows, p)}
        return recommend(versions, history, reward=MISTAKES, predictions=predictions)

    def export_model(
        self, label: str, out: str | Path, *, version: int | None = None, user: User | None = None
    ) -> Path:
        """Write a stored version (default latest) as a portable ``.vamodel.json`` file."""
        self._require(user, Action.EXPORT)
        meta, _ = self.models.classifier(label, version)
        path = self.models.export(meta.label, out, version=meta.version)
        self._log(
            "model_exported",
            user,
            {"label": meta.label, "version": meta.version, "file": path.name},
        )
        return path

    def score_all(
        self,
        label: str | None = None,
        *,
        version: int | None = None,
        model_file: str | Path | None = None,
        user: User | None = None,
    ) -> pd.DataFrame:
        """Every shot's probability under a stored version or an exported model file."""
        self._require(user, Action.EXPORT)
        matrix = self.matrix
        if model_file is not None:
            model = load_model(model_file, label=label)
            _check_encoder(model.encoder_id, matrix.encoder_id)
            probabilities = model.predict_proba(matrix.X)
            scored = {"label": model.label, "version": model.version, "file": Path(model_file).name}
        else:
            meta, clf = self.models.classifier(label or "", version)
            _check_encoder(meta.encoder_id, matrix.encoder_id)
            probabilities = clf.predict_proba(matrix.X)[:, 1] if matrix.n_shots else np.zeros(0)
            scored = {"label": meta.label, "version": meta.version}
        if user is not None:  # a batch job someone ran; the app's own charts are not logged
            self._log("scored", user, {**scored, "shots": matrix.n_shots})
        return pd.DataFrame({"shot_id": matrix.ids, "probability": probabilities})


class _CheckedLabels:
    """The label store as an import sees it: each write access-checked for ``user`` first.

    Writing annotations under another person's name is ``annotate_others`` (admins), as the
    role table says; creating a label is ``create_label``.
    """

    def __init__(self, store: LabelStore, policy: AccessPolicy, user: User) -> None:
        self._store, self._policy, self._user = store, policy, user

    def __getattr__(self, name: str):
        return getattr(self._store, name)  # reads

    def create_label(self, name: str, **fields) -> Label:
        self._policy.require(self._user, Action.CREATE_LABEL)
        return self._store.create_label(name, **fields)

    def import_annotations(self, annotations: list[Annotation]) -> int:
        for owner in sorted({a.annotator for a in annotations}):
            self._policy.require(self._user, Action.ANNOTATE, owner=owner)
        return self._store.import_annotations(annotations)

    def delete_label(self, name: str) -> None:
        # Only a failed import undoing the label it created; the unit of work rolls it back.
        self._store.delete_label(name)


def _annotate_payload(stored: list[Annotation], label: str, source: str) -> dict:
    """The event of a click (its shot and value) or of a batch (how many)."""
    payload: dict = {
        "label": stored[0].label if stored else label,
        "source": source,
        "count": len(stored),
    }
    if len(stored) == 1:
        payload |= {"shot_id": stored[0].shot_id, "value": stored[0].value}
    return payload


def feed_seed(label: str, version: int) -> int:
    """Random-feed seed fixed per (label, version): a page reload shows the same feed."""
    return zlib.crc32(f"{label.casefold()}#{version}".encode())


def _same_version(a: ModelVersion, b: ModelVersion) -> bool:
    # The number alone is not enough: a label deleted and created again starts at 1 anew.
    return (a.label, a.version, a.created_at, a.fingerprint) == (
        b.label,
        b.version,
        b.created_at,
        b.fingerprint,
    )


def _check_encoder(model_encoder: str, corpus_encoder: str) -> None:
    require_same_encoder(
        model_encoder,
        corpus_encoder,
        (
            f"the model was trained on {model_encoder!r} embeddings but this corpus holds "
            f"{corpus_encoder!r}: scores would be meaningless"
        ),
    )


def write_table(frame: pd.DataFrame, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".parquet":
        frame.to_parquet(out, index=False)
    elif suffix == ".csv":
        frame.to_csv(out, index=False)
    else:
        raise ValidationError(f"{out.name}: use a .csv or .parquet file name")
    return out


def corpus_info(settings: Settings) -> dict:
    """:func:`describe_corpus` of the corpus in ``settings.data_dir`` (opened and closed)."""
    corpus = open_corpus(settings)
    try:
        return describe_corpus(corpus)
    finally:
        corpus.close()


def describe_corpus(corpus: Corpus) -> dict:
    """Counts of each store (they agree unless something is wrong), encoder, skipped files."""
    catalog = corpus.catalog
    return {
        "videos": len(catalog.videos()),
        "shots": catalog.count_shots(),
        "embeddings": corpus.matrix.count(),
        "index": corpus.index.count(),
        "labels": catalog.count_rows(LabelRow),
        "annotations": catalog.count_rows(AnnotationRow),
        "encoder": corpus.encoder_id,
        "data_dir": str(corpus.settings.data_dir),
        "skipped": [{"path": p, "reason": r} for p, r in catalog.skipped()],
    }


def list_shots(settings: Settings) -> list[dict]:
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


def corpus_is_empty(settings: Settings) -> bool:
    corpus = open_corpus(settings, recover=False)
    try:
        return corpus.catalog.count_rows(VideoRow) == 0
    finally:
        corpus.close()
