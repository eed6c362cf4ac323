"""Oracle simulator: how much does the Video Annotator workflow save on a corpus with ground truth?

A simulated expert who always answers correctly (the corpus's ground truth, e.g. the demo's)
labels shots in batches, following one strategy, and after every ``n`` labels a classifier is
trained on what it has labelled and scored by average precision (AP) on held-out shots. The
strategies (paper §4–5):

- ``va`` — Video Annotator: search to bootstrap (text search with the label's words — the
  encoder's text tower, or keywords over titles and tags when it has none — and "more like
  this" from the positives found) until 10 positives and 10 negatives, then build and label
  from the four feeds in the shares of :data:`FEED_SHARES`, one build per batch.
- ``va_rec`` — the same bootstrap, then every batch from the one source the next-action
  recommender (:mod:`va_app.learn.recommender`) suggests after each build.
- ``cc`` — combined classifier: half random shots, half search results in rank order.
- ``zsc`` — search results only, in rank order ("zero-shot" ranking with a text tower).
- ``rcc`` — random shots only.

Protocol: per label, a deterministic split stratified on the label's truth keeps
:data:`TEST_SHARE` of the shots for the test; strategies see only the rest (search and feeds
run over the training part alone). At each checkpoint ``n``, a :class:`ShotClassifier` fitted
on the strategy's first ``n`` labels ranks the test shots; with one class only there is no
classifier and the AP is the test's positive rate (what a random ranking scores on average).
Each label runs ``seeds`` times (the randomness of random shots and the random feed); a
label's AP at ``n`` is the median over seeds, and the headline numbers are medians over labels.
Search results that run out are followed by random shots, as an expert with nothing left to
find would browse.
"""

from __future__ import annotations

import math
import os
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from sklearn.metrics import average_precision_score
from sklearn.model_selection import train_test_split

from va_app.config import Settings
from va_app.errors import VAError, ValidationError
from va_app.learn.classifier import MIN_NEGATIVES, MIN_POSITIVES, ShotClassifier
from va_app.learn.engine import CorpusMatrix, build
from va_app.learn.recommender import (
    DEFAULT_C,
    DEFAULT_PRIOR,
    DEFAULT_REWARD,
    QUALITY,
    REWARDS,
    Round,
    recommend_from_rounds,
)
from va_app.search.shots import MODE_SEMANTIC, ShotSearch, ShotTable
from va_app.store.labels import TrainingSet

Progress = Callable[[int, int, str], None]

#: Strategy keys in the order they are reported, with the names the figure uses.
STRATEGIES: dict[str, str] = {
    "va": "VA (search, then the four feeds)",
    "va_rec": "VA + recommender",
    "cc": "CC (half random, half search)",
    "zsc": "ZSC (search only)",
    "rcc": "RCC (random only)",
}
DEFAULT_BUDGET = 200
DEFAULT_SEEDS = 5
#: Labels per batch: one page of a feed, and one build per batch.
DEFAULT_BATCH = 10
#: Share of each label's shots held out for the AP (stratified on the label).
TEST_SHARE = 0.3
#: Where AP is measured (those up to the budget, and the budget itself).
CHECKPOINTS = (20, 40, 60, 100, 150, 200)
#: "More like this" neighbours labelled per positive before the next positive is used.
SIMILAR_PER_SEED = 5
#: Text-search hits labelled per page before turning to "more like this" again.
SEARCH_PAGE = 5
#: A label needs this many test positives for its AP to mean something.
MIN_TEST_POSITIVES = 3
#: How the simulated expert splits a batch between the feeds after the bootstrap. The paper
#: built VA to "focus users on progressively harder examples" (the borderline feed), with the
#: top feeds to check early that the model picked up the right concept and spot bias, and the
#: random feed for diversity. Measured on the version-1 demo (13 concepts × 5 seeds, budget 200,
#: median AP over labels at n = 40 / 60 / 100): equal shares 0.78 / 0.84 / 0.96,
#: borderline .5 / positive .2 / random .2 / negative .1: 0.83 / 0.96 / 0.98, these shares
#: 0.85 / 0.96 / 0.99, borderline alone 0.92 / 0.99 / 1.00; CC 0.91 / 0.92 / 0.96. The top
#: feeds mostly show shots the model already gets right, so each share of them costs labels.
FEED_SHARES: dict[str, float] = {"borderline": 0.6, "positive": 0.1, "random": 0.2,
                                 "negative": 0.1}
#: The first build needs this many positives and negatives (as in the app).
_MIN_POS, _MIN_NEG = MIN_POSITIVES, MIN_NEGATIVES
_WORD = re.compile(r"[^\W_]+")


# -- one label's world ----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LabelTask:
    """One label: the training part the strategies see, the held-out test, the search ranking."""

    concept: str
    matrix: CorpusMatrix
    search: ShotSearch
    truth: np.ndarray  # bool per training row
    X_test: np.ndarray
    y_test: np.ndarray
    search_rows: np.ndarray  # training rows the label's text search finds, best first

    @property
    def n_train(self) -> int:
        return self.matrix.n_shots

    def summary(self) -> dict[str, Any]:
        return {"train": self.n_train, "test": int(self.y_test.size),
                "train_positives": int(self.truth.sum()),
                "test_positives": int(self.y_test.sum()),
                "search_hits": int(self.search_rows.size),
                "search_precision": _round(float(self.truth[self.search_rows].mean()))
                if self.search_rows.size else None}


def split_rows(truth: np.ndarray, *, test_share: float = TEST_SHARE,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices, stratified on ``truth``; the same inputs, the same split."""
    rows = np.arange(truth.size)
    train, test = train_test_split(rows, test_size=test_share, stratify=truth,
                                   random_state=seed)
    return np.sort(train), np.sort(test)


def make_task(concept: str, full: CorpusMatrix, table_shots: Sequence[Any],
              truth_of: dict[str, bool], *, encoder: Any | None, test_share: float = TEST_SHARE,
              queries: Sequence[str] | None = None) -> LabelTask:
    """Split the corpus for ``concept`` and rank its training part by the label's text search."""
    rows = np.fromiter((full.row_of[i] for i in truth_of if i in full.row_of), dtype=np.intp)
    rows.sort()
    truth = np.fromiter((truth_of[full.ids[r]] for r in rows), dtype=bool, count=rows.size)
    train, test = split_rows(truth, test_share=test_share, seed=zlib.crc32(concept.encode()))
    ids = [full.ids[r] for r in rows[train]]
    matrix = CorpusMatrix(ids, full.X[rows[train]], full.clusters[rows[train]], full.encoder_id,
                          {i: r for r, i in enumerate(ids)})
    search = ShotSearch(matrix, None, ShotTable.from_shots(ids, table_shots))
    found = search_ranking(search, queries or label_queries(concept), encoder)
    return LabelTask(concept, matrix, search, truth[train], full.X[rows[test]], truth[test], found)


def label_queries(concept: str) -> list[str]:
    """What the expert types: the label's words as a phrase, then each word alone."""
    words = _WORD.findall(concept.replace("_", " "))
    phrase = " ".join(words) or concept
    return [phrase] + [w for w in words if len(words) > 1]


def search_ranking(search: ShotSearch, queries: Sequence[str], encoder: Any | None) -> np.ndarray:
    """Rows the queries find, best first, each once: the semantic ranking of the first query
    with a text tower, else the keyword hits of every query in turn."""
    row_of = {shot_id: row for row, shot_id in enumerate(search.ids)}
    found: dict[int, None] = {}
    for query in queries:
        result = search.search_text(query, encoder, search.n_shots)
        for hit in result.hits:
            found.setdefault(row_of[hit.shot_id])
        if result.mode == MODE_SEMANTIC:
            break
    return np.fromiter(found, dtype=np.intp, count=len(found))


# -- the simulated expert -------------------------------------------------------------------
@dataclass(eq=False)
class Session:
    """What one simulated expert has labelled so far, in order, and from where."""

    task: LabelTask
    rng: np.random.Generator
    order: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    arms: list[str] = field(default_factory=list)
    taken: np.ndarray = field(init=False)
    search_cursor: int = 0  # how far down the text-search ranking the expert has paged
    seed_turn: int = 0  # which positive "more like this" starts from next
    text_turn: bool = True  # text search and "more like this" take turns

    def __post_init__(self) -> None:
        self.taken = np.zeros(self.task.n_train, dtype=bool)

    @property
    def positives(self) -> list[int]:
        return [r for r in self.order if self.task.truth[r]]

    @property
    def n_pos(self) -> int:
        return int(self.task.truth[self.order].sum()) if self.order else 0

    @property
    def n_neg(self) -> int:
        return len(self.order) - self.n_pos

    def label(self, rows: Sequence[int], source: str, room: int) -> int:
        """Label up to ``room`` of ``rows`` not labelled yet; returns how many were new."""
        added = 0
        for row in rows:
            if added == room:
                break
            if not self.taken[row]:
                self.taken[row] = True
                self.order.append(int(row))
                self.sources.append(source)
                added += 1
        return added

    def labelled_set(self) -> TrainingSet:
        ids = self.task.matrix.ids
        truth = self.task.truth
        return TrainingSet(positives=[ids[r] for r in self.order if truth[r]],
                           negatives=[ids[r] for r in self.order if not truth[r]])

    # -- where shots come from ------------------------------------------------------------
    def next_search_hits(self, n: int) -> list[int]:
        hits = self.task.search_rows
        picked = []
        while self.search_cursor < hits.size and len(picked) < n:
            row = int(hits[self.search_cursor])
            self.search_cursor += 1
            if not self.taken[row]:
                picked.append(row)
        return picked

    def more_like_this(self, n: int) -> list[int]:
        """Nearest unlabelled neighbours of the next positive in turn ("more like this")."""
        positives = self.positives
        if not positives:
            return []
        seed = positives[self.seed_turn % len(positives)]
        self.seed_turn += 1
        search, ids = self.task.search, self.task.matrix.ids
        k = min(n + int(self.taken.sum()), self.task.n_train - 1)
        while True:
            hits = search.similar_to(ids[seed], k)
            rows = [self.task.matrix.row_of[h.shot_id] for h in hits]
            fresh = [r for r in rows if not self.taken[r]][:n]
            if len(fresh) == n or k >= self.task.n_train - 1:
                return fresh
            k = min(4 * k, self.task.n_train - 1)

    def random_rows(self, n: int) -> list[int]:
        left = np.flatnonzero(~self.taken)
        return [int(r) for r in self.rng.choice(left, size=min(n, left.size), replace=False)]

    @property
    def exhausted(self) -> bool:
        return bool(self.taken.all())


def search_batch(session: Session, n: int, *, bootstrap: bool) -> int:
    """Label ``n`` shots the way an expert uses the search page; returns how many were new.

    Pages of text-search hits alternate with "more like this" from the positives found (one
    positive in turn); with neither left, the expert browses (random shots). While
    bootstrapping with enough positives but too few negatives, the expert browses for them.
    """
    added = 0
    while added < n and not session.exhausted:
        room = n - added
        if bootstrap and session.n_pos >= _MIN_POS and session.n_neg < _MIN_NEG:
            added += session.label(session.random_rows(room), "browse", room)
            continue
        step = 0
        if session.text_turn or not session.positives:
            step = session.label(session.next_search_hits(min(room, SEARCH_PAGE)), "search", room)
        session.text_turn = not session.text_turn
        if step == 0 and session.positives:
            step = session.label(session.more_like_this(min(room, SIMILAR_PER_SEED)),
                                 "similar", room)
        if step == 0:
            step = session.label(session.random_rows(min(room, SEARCH_PAGE)), "browse", room)
        added += step
    return added


def _bootstrap(session: Session, budget: int, batch: int) -> None:
    """Search until the first build is allowed (10 positives and 10 negatives) or budget."""
    while len(session.order) < budget and (session.n_pos < _MIN_POS or session.n_neg < _MIN_NEG):
        if search_batch(session, min(batch, budget - len(session.order)), bootstrap=True) == 0:
            break


def _build(session: Session, batch: int) -> Any:
    seed = int(session.rng.integers(2**31))
    return build(session.task.matrix, session.labelled_set(), n=batch, seed=seed,
                 hide_labelled=True, min_pos=_MIN_POS, min_neg=_MIN_NEG)


def feed_quotas(shares: Mapping[str, float], n: int) -> dict[str, int]:
    """Split ``n`` shots between feeds in proportion to ``shares`` (largest remainders)."""
    total = sum(shares.values())
    if total <= 0 or any(v < 0 for v in shares.values()):
        raise ValidationError(f"feed shares must be non-negative and not all zero: {dict(shares)}")
    raw = {name: n * share / total for name, share in shares.items()}
    quotas = {name: math.floor(value) for name, value in raw.items()}
    by_remainder = sorted(raw, key=lambda name: quotas[name] - raw[name])
    for name in by_remainder[: n - sum(quotas.values())]:
        quotas[name] += 1
    return quotas


def _label_feed_mix(session: Session, feeds: dict[str, list[str]], n: int,
                    shares: Mapping[str, float]) -> int:
    """Label ``n`` shots from the feeds by ``shares``; random shots fill what a feed lacks."""
    row_of = session.task.matrix.row_of
    added = 0
    for name, quota in feed_quotas(shares, n).items():
        added += session.label([row_of[i] for i in feeds[name]], name, quota)
    if added < n:
        added += session.label(session.random_rows(n - added), "random", n - added)
    return added


def run_va(task: LabelTask, *, budget: int, batch: int, seed: int,
           shares: Mapping[str, float] = FEED_SHARES) -> Session:
    """Search to bootstrap, then the four feeds by ``shares``, one build per batch."""
    session = Session(task, np.random.default_rng(seed))
    _bootstrap(session, budget, batch)
    while len(session.order) < budget and session.n_pos >= _MIN_POS and session.n_neg >= _MIN_NEG:
        result = _build(session, batch)
        room = min(batch, budget - len(session.order))
        if _label_feed_mix(session, result.feeds, room, shares) == 0:
            break
    return session


def run_va_recommended(task: LabelTask, *, budget: int, batch: int, seed: int,
                       reward: str = DEFAULT_REWARD, c: float | None = None) -> Session:
    """Search to bootstrap, then each batch from the source the recommender suggests.

    The recommender sees what it would see in the app: after each batch, the change of the
    build's model-quality score (``reward="quality"``) or the share of the batch the model
    before it had wrong (``"mistakes"``) — never the held-out truth.
    """
    session = Session(task, np.random.default_rng(seed))
    _bootstrap(session, budget, batch)
    if session.n_pos < _MIN_POS or session.n_neg < _MIN_NEG:
        return session
    result, rounds = _build(session, batch), []
    while len(session.order) < budget:
        arm = recommend_from_rounds(rounds, reward=reward, c=c).source
        start, room = len(session.order), min(batch, budget - len(session.order))
        if arm == "search":
            added = search_batch(session, room, bootstrap=False)
        else:
            added = session.label([task.matrix.row_of[i] for i in result.feeds[arm]], arm, room)
        if added < room:
            added += session.label(session.random_rows(room - added), "random", room - added)
        if added == 0:
            break
        session.arms.append(arm)
        after = _build(session, batch)
        rounds.append(Round(arm, _round_reward(session, start, result, after, reward), added))
        result = after
    return session


def _round_reward(session: Session, start: int, before: Any, after: Any, reward: str) -> float:
    if reward == QUALITY:
        return after.model_score - before.model_score
    rows = np.asarray(session.order[start:], dtype=np.intp)
    return float(np.mean((before.probabilities[rows] > 0.5) != session.task.truth[rows]))


def run_cc(task: LabelTask, *, budget: int, seed: int) -> Session:
    """Random shots and search results, alternating (half and half), then random."""
    session = Session(task, np.random.default_rng(seed))
    while len(session.order) < budget and not session.exhausted:
        added = session.label(session.random_rows(1), "random", 1)
        if len(session.order) < budget:
            added += session.label(session.next_search_hits(1) or session.random_rows(1),
                                   "search", 1)
        if added == 0:
            break
    return session


def run_zsc(task: LabelTask, *, budget: int, seed: int) -> Session:
    """Search results in rank order; random shots once they run out."""
    session = Session(task, np.random.default_rng(seed))
    session.label(task.search_rows, "search", budget)
    session.label(session.random_rows(budget - len(session.order)), "random", budget)
    return session


def run_rcc(task: LabelTask, *, budget: int, seed: int) -> Session:
    """Random shots."""
    session = Session(task, np.random.default_rng(seed))
    session.label(session.random_rows(budget), "random", budget)
    return session


def run_strategy(name: str, task: LabelTask, *, budget: int, batch: int, seed: int,
                 shares: Mapping[str, float] = FEED_SHARES, reward: str = DEFAULT_REWARD,
                 c: float | None = None) -> Session:
    """One simulated session of strategy ``name`` (a key of :data:`STRATEGIES`)."""
    if name == "va":
        return run_va(task, budget=budget, batch=batch, seed=seed, shares=shares)
    if name == "va_rec":
        return run_va_recommended(task, budget=budget, batch=batch, seed=seed, reward=reward,
                                  c=c)
    runners = {"cc": run_cc, "zsc": run_zsc, "rcc": run_rcc}
    if name not in runners:
        raise ValidationError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    return runners[name](task, budget=budget, seed=seed)


# -- scoring --------------------------------------------------------------------------------
def ap_curve(task: LabelTask, order: Sequence[int], checkpoints: Sequence[int]) -> list[float]:
    """Test AP of a classifier fitted on the first ``n`` labelled rows, for each ``n``."""
    curve = []
    for n in checkpoints:
        rows = np.asarray(order[:n], dtype=np.intp)
        y = task.truth[rows]
        if y.all() or not y.any():
            curve.append(float(task.y_test.mean()))  # no classifier: a random ranking's AP
            continue
        clf = ShotClassifier().fit(task.matrix.X[rows], y)
        scores = clf.decision_function(task.X_test)
        curve.append(float(average_precision_score(task.y_test, scores)))
    return curve


def checkpoints_for(budget: int) -> list[int]:
    """:data:`CHECKPOINTS` below the budget, and the budget itself."""
    return sorted({n for n in CHECKPOINTS if n < budget} | {budget})


# -- the whole run --------------------------------------------------------------------------
@dataclass(frozen=True)
class SimulationOptions:
    """How every label is simulated (see :func:`run_simulation`)."""

    budget: int = DEFAULT_BUDGET
    seeds: int = DEFAULT_SEEDS
    batch: int = DEFAULT_BATCH
    strategies: tuple[str, ...] = tuple(STRATEGIES)
    shares: Mapping[str, float] = field(default_factory=lambda: dict(FEED_SHARES))
    reward: str = DEFAULT_REWARD
    c: float | None = None

    def __post_init__(self) -> None:
        if self.budget < 2 or self.seeds < 1 or self.batch < 1:
            raise ValidationError(f"budget must be at least 2, seeds and batch at least 1 (got "
                                  f"budget={self.budget}, seeds={self.seeds}, batch={self.batch})")
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown or not self.strategies:
            raise ValidationError(f"unknown strategies {unknown}; choose from "
                                  f"{', '.join(STRATEGIES)}")
        if self.reward not in REWARDS:
            raise ValidationError(f"the recommender's reward is one of {', '.join(REWARDS)}, "
                                  f"got {self.reward!r}")
        unknown_feeds = set(self.shares) - set(FEED_SHARES)
        if unknown_feeds:
            raise ValidationError(f"unknown feeds {sorted(unknown_feeds)} in the feed shares")
        feed_quotas(self.shares, self.batch)  # validates the shares


def run_simulation(settings: Settings, *, labels: Sequence[str] | None = None,
                   budget: int = DEFAULT_BUDGET, seeds: int = DEFAULT_SEEDS,
                   batch: int = DEFAULT_BATCH, out_html: str | Path | None = None,
                   progress: Progress | None = None, test_share: float = TEST_SHARE,
                   strategies: Sequence[str] = tuple(STRATEGIES),
                   feed_shares: Mapping[str, float] | None = None, reward: str = DEFAULT_REWARD,
                   c: float | None = None, workers: int | None = 1) -> dict[str, Any]:
    """Simulate every strategy on every label with ground truth; JSON-ready results.

    ``labels`` defaults to every concept with ground truth; ``feed_shares`` to
    :data:`FEED_SHARES`; ``reward`` and ``c`` configure the recommender of ``va_rec``
    (:mod:`va_app.learn.recommender`). Labels run in ``workers`` processes (None: one per CPU
    core); the default 1 runs in this process. More than one starts fresh interpreters that
    import the caller's main module: a script calling this needs an
    ``if __name__ == "__main__":`` guard (``python -m va_app`` has what it needs).
    ``progress(done, total, label)`` is called as each label finishes.

    Keys: ``corpus``, ``budget``, ``seeds``, ``batch``, ``test_share``, ``feed_shares``,
    ``recommender`` ({reward, c}), ``checkpoints``, ``strategies`` ({key: name}),
    ``median_ap`` ({strategy: {n: AP}}: median over labels of each label's median over
    seeds), ``va_minus_cc`` and ``recommender_lift`` ({n: median over labels of the
    per-label difference VA − CC, VA+recommender − VA}), ``va_at_least_cc`` ({n: bool}) and
    ``va_at_least_cc_at_every_n`` (on the medians), ``labels`` ({label: split sizes, search
    hits, ``ap`` per strategy per n, ``ap_per_seed``, ``sources`` labelled from,
    ``recommended`` arms}), ``excluded`` ([{label, reason}]), ``html`` (the figure's path or
    None) and ``seconds``. Checkpoints ``n`` are JSON strings.
    """
    options = SimulationOptions(budget, seeds, batch, tuple(strategies),
                                dict(FEED_SHARES if feed_shares is None else feed_shares),
                                reward, c)
    if not 0 < test_share < 1:
        raise ValidationError(f"the test share must lie between 0 and 1, got {test_share}")
    started = time.perf_counter()
    tasks, excluded, corpus = load_tasks(settings, labels, test_share=test_share)
    per_label = _simulate_all(tasks, options, workers=workers, progress=progress)
    points = checkpoints_for(budget)
    result = {"corpus": corpus, "budget": budget, "seeds": seeds, "batch": batch,
              "test_share": test_share, "feed_shares": dict(options.shares),
              "recommender": {"reward": reward, "c": c if c is not None else DEFAULT_C[reward],
                              "prior": DEFAULT_PRIOR[reward]},
              "checkpoints": points,
              "strategies": {s: STRATEGIES[s] for s in options.strategies},
              **_summarise(per_label, options.strategies, points),
              "labels": per_label, "excluded": excluded}
    result["html"] = str(write_figure(result, out_html)) if out_html else None
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


def load_tasks(settings: Settings, labels: Sequence[str] | None = None, *,
               test_share: float = TEST_SHARE) -> tuple[list[LabelTask], list[dict], dict]:
    """Every wanted label's task, the labels left out (with why), and facts about the corpus."""
    from va_app.services.workspace import Workspace

    ws = Workspace(settings)
    try:
        return _tasks(ws, settings, labels, test_share)
    finally:
        ws.close()


def _simulate_all(tasks: list[LabelTask], options: SimulationOptions, *, workers: int | None,
                  progress: Progress | None) -> dict[str, dict]:
    workers = min(workers or os.cpu_count() or 1, len(tasks)) if tasks else 1
    results: dict[str, dict] = {}

    def report(concept: str) -> None:
        if progress is not None:
            progress(len(results), len(tasks), concept)

    if workers <= 1:
        for task in tasks:
            results[task.concept] = simulate_label(task, options)
            report(task.concept)
    else:
        # spawn, not fork: a forked child can hang on locks held by the parent's threads
        # (BLAS/OpenMP pools, the vector index's client).
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(simulate_label, task, options): task.concept for task in tasks}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                report(futures[future])
    return {task.concept: results[task.concept] for task in tasks}


def _tasks(ws: Any, settings: Settings, labels: Sequence[str] | None,
           test_share: float) -> tuple[list[LabelTask], list[dict], dict]:
    catalog = ws.corpus.catalog
    concepts = catalog.ground_truth_concepts()
    if not concepts:
        raise ValidationError("this corpus has no ground truth to simulate an expert with: "
                              "build the demo corpus (python -m va_app demo) or give another "
                              "--data-dir")
    wanted = _wanted_labels(labels, concepts)
    full, shots = ws.matrix, catalog.shots()
    encoder, notes = _text_encoder(settings, full.encoder_id)
    tasks, excluded = [], []
    for concept in wanted:
        task = make_task(concept, full, shots, catalog.ground_truth(concept), encoder=encoder,
                         test_share=test_share)
        why = _why_excluded(task)
        if why:
            excluded.append({"label": concept, "reason": why})
        else:
            tasks.append(task)
    has_text = encoder is not None and getattr(encoder, "has_text", False)
    corpus = {"data_dir": str(settings.data_dir), "shots": full.n_shots,
              "encoder": full.encoder_id, "search": "semantic" if has_text else "keyword",
              "notes": notes}
    return tasks, excluded, corpus


def _wanted_labels(labels: Sequence[str] | None, concepts: list[str]) -> list[str]:
    if not labels:
        return concepts
    by_key = {c.casefold(): c for c in concepts}
    missing = [name for name in labels if name.casefold() not in by_key]
    if missing:
        raise ValidationError(f"no ground truth for {', '.join(missing)}; this corpus has "
                              f"{', '.join(concepts)}")
    return [by_key[name.casefold()] for name in labels]


def _text_encoder(settings: Settings, corpus_encoder_id: str) -> tuple[Any | None, list[str]]:
    from va_app.encoders import encoder_for_corpus

    try:
        return encoder_for_corpus(settings, corpus_encoder_id), []
    except VAError as exc:
        return None, [f"text search uses keywords: the corpus's encoder is unavailable ({exc})"]


def _why_excluded(task: LabelTask) -> str:
    if task.truth.sum() < _MIN_POS:
        return (f"only {int(task.truth.sum())} positives in the training part: VA cannot "
                f"reach its first build ({_MIN_POS} needed)")
    if (~task.truth).sum() < _MIN_NEG:
        return f"only {int((~task.truth).sum())} negatives in the training part"
    if task.y_test.sum() < MIN_TEST_POSITIVES:
        return f"only {int(task.y_test.sum())} positives held out: too few for a stable AP"
    return ""


def simulate_label(task: LabelTask, options: SimulationOptions) -> dict[str, Any]:
    """Every strategy × seed on one label: AP per checkpoint, sources used, arms recommended."""
    budget = min(options.budget, task.n_train)
    points = checkpoints_for(budget)
    per_seed: dict[str, list[list[float]]] = {s: [] for s in options.strategies}
    sources: dict[str, Counter] = {s: Counter() for s in options.strategies}
    recommended: Counter = Counter()
    for seed in range(options.seeds):
        for name in options.strategies:
            # Every strategy gets the same seed: paired runs, so differences are the strategies'.
            session = run_strategy(name, task, budget=budget, batch=options.batch,
                                   seed=_session_seed(task.concept, seed), shares=options.shares,
                                   reward=options.reward, c=options.c)
            per_seed[name].append([_round(ap) for ap in ap_curve(task, session.order, points)])
            sources[name].update(session.sources)
            recommended.update(session.arms)
    medians = {name: {str(n): _round(float(np.median([run[i] for run in runs])))
                      for i, n in enumerate(points)} for name, runs in per_seed.items()}
    return {**task.summary(), "checkpoints": points, "ap": medians, "ap_per_seed": per_seed,
            "sources": {name: dict(counts) for name, counts in sources.items()},
            "recommended": dict(recommended)}


def _session_seed(concept: str, seed: int) -> int:
    return int(np.random.SeedSequence([seed, zlib.crc32(concept.encode())]).generate_state(1)[0])


def _summarise(per_label: dict[str, dict], strategies: Sequence[str],
               points: list[int]) -> dict[str, Any]:
    def over_labels(fn: Callable[[dict, str], float | None], n: int) -> float | None:
        values = [v for label in per_label.values() if (v := fn(label, str(n))) is not None]
        return _round(float(np.median(values))) if values else None

    def ap(name: str) -> Callable[[dict, str], float | None]:
        return lambda label, n: label["ap"].get(name, {}).get(n)

    def diff(a: str, b: str) -> Callable[[dict, str], float | None]:
        def fn(label: dict, n: str) -> float | None:
            x, y = label["ap"].get(a, {}).get(n), label["ap"].get(b, {}).get(n)
            return None if x is None or y is None else x - y
        return fn

    median_ap = {s: {str(n): over_labels(ap(s), n) for n in points} for s in strategies}
    out: dict[str, Any] = {"median_ap": median_ap}
    if {"va", "cc"} <= set(strategies):
        out["va_minus_cc"] = {str(n): over_labels(diff("va", "cc"), n) for n in points}
        ok = {str(n): _at_least(median_ap["va"][str(n)], median_ap["cc"][str(n)])
              for n in points}
        out["va_at_least_cc"] = ok
        out["va_at_least_cc_at_every_n"] = all(v for v in ok.values() if v is not None)
    if {"va", "va_rec"} <= set(strategies):
        out["recommender_lift"] = {str(n): over_labels(diff("va_rec", "va"), n) for n in points}
    return out


def _at_least(a: float | None, b: float | None) -> bool | None:
    return None if a is None or b is None else a >= b


def _round(value: float) -> float:
    return round(value, 4) if math.isfinite(value) else value


# -- reporting ------------------------------------------------------------------------------
def summary_lines(result: dict[str, Any]) -> list[str]:
    """The median-AP table (rows n, columns strategies) and the two comparisons, as text."""
    strategies = list(result["strategies"])
    head = f"{'n':>5} " + " ".join(f"{s:>8}" for s in strategies)
    extra = [k for k in ("va_minus_cc", "recommender_lift") if k in result]
    head += "".join(f" {k:>17}" for k in extra)
    lines = [head]
    for n in map(str, result["checkpoints"]):
        cells = " ".join(_cell(result["median_ap"][s][n], 8) for s in strategies)
        cells += "".join(" " + _cell(result[k][n], 17, signed=True) for k in extra)
        lines.append(f"{n:>5} {cells}")
    if "va_at_least_cc_at_every_n" in result:
        verdict = "yes" if result["va_at_least_cc_at_every_n"] else "NO"
        lines.append(f"VA median AP ≥ CC median AP at every n: {verdict}")
    lines += [f"excluded {e['label']}: {e['reason']}" for e in result["excluded"]]
    return lines


def _cell(value: float | None, width: int, *, signed: bool = False) -> str:
    if value is None:
        return f"{'–':>{width}}"
    return f"{value:>+{width}.3f}" if signed else f"{value:>{width}.3f}"


def simulation_figure(result: dict[str, Any]) -> go.Figure:
    """Median AP over labels against the number of labels, one line per strategy."""
    fig = go.Figure()
    points = result["checkpoints"]
    for key, name in result["strategies"].items():
        values = [result["median_ap"][key][str(n)] for n in points]
        fig.add_trace(go.Scatter(x=points, y=values, mode="lines+markers", name=name,
                                 line={"dash": "solid" if key.startswith("va") else "dot"}))
    n_labels = len(result["labels"])
    title = f"Simulated expert: median AP over {n_labels} labels ({result['seeds']} seeds each)"
    fig.update_layout(
        template="plotly_white", title={"text": title, "x": 0.01},
        xaxis_title="labelled shots", yaxis_title="average precision on held-out shots",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1.0, "xanchor": "right"})
    return fig


def write_figure(result: dict[str, Any], out: str | Path) -> Path:
    """The figure as a self-contained HTML file (works offline)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    simulation_figure(result).write_html(out, include_plotlyjs=True, full_html=True)
    return out
