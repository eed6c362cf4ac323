"""The simulated expert's strategies: VA (a tuned feed mix, a plain rotation of the feeds, the
recommender's picks) and the paper's baselines.

Owns :class:`Session` (what one expert has labelled, in order, and from where), the ways an
expert finds shots (text search, "more like this", browsing, the four feeds), how the simulated
builds are made (:class:`ModelOptions`), the near-duplicates a feed's page shows, and one runner
per strategy of :data:`STRATEGIES` (see :mod:`va_app.research.simulate.runner` for the protocol).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from va_app.domain import Source, TrainingSet
from va_app.errors import ValidationError
from va_app.learn.classifier import MIN_NEGATIVES, MIN_POSITIVES
from va_app.learn.engine import DEFAULT_FEED_SIZE, DEFAULT_POOL, DEFAULT_SPREAD, build
from va_app.learn.feeds import build_feeds, meaning_depth, meaning_page
from va_app.learn.pool import PoolRule
from va_app.learn.recommender import DEFAULT_REWARD, QUALITY, Round, recommend_from_rounds
from va_app.research.simulate.task import LabelTask

#: Strategy keys in the order they are reported, with the names the figure uses.
STRATEGIES: dict[str, str] = {
    "va": "VA (search, then the four feeds)",
    "va_rec": "VA + recommender",
    "va_rot": "VA, the feeds in plain rotation",
    "cc": "CC (half random, half search)",
    "zsc": "ZSC (search only)",
    "rcc": "RCC (random only)",
}
#: "More like this" neighbours labelled per positive before the next positive is used.
SIMILAR_PER_SEED = 5
#: Text-search hits labelled per page before turning to "more like this" again.
SEARCH_PAGE = 5
#: An expert who has paged through this many text hits without finding one positive stops
#: trusting the words and browses instead. Without this rule the simulated expert paged on
#: for the whole budget where the text tower ranks a concept below chance: on the 2,000-shot
#: demo "close up" (14 % of shots) found none in 200 hits, so VA never built (AP 0.14 at every
#: n, CC 0.62–0.94). Two pages (10 hits), not four: with 20, the first 20 labels were all text
#: hits for a concept the words cannot find, so at n = 20 VA had no positive and scored chance
#: (2,000-shot demo, 15 seeds: close-up 0.15 at n = 20, 0.69 with 10, CC 0.73; median AP over
#: labels at n = 40 / 60: 0.88 / 0.92 with 20, 0.91 / 0.95 with 10, CC 0.88 / 0.91).
SEARCH_GIVE_UP = 10
#: How the simulated expert splits a batch between the feeds after the bootstrap. The paper
#: built VA to "focus users on progressively harder examples" (the borderline feed), with the
#: top feeds to check early that the model picked up the right concept and spot bias, and the
#: random feed for diversity. Measured on the version-1 demo (13 concepts × 5 seeds, budget 200,
#: median AP over labels at n = 40 / 60 / 100): equal shares 0.78 / 0.84 / 0.96,
#: borderline .5 / positive .2 / random .2 / negative .1: 0.83 / 0.96 / 0.98, these shares
#: 0.85 / 0.96 / 0.99, borderline alone 0.92 / 0.99 / 1.00; CC 0.91 / 0.92 / 0.96. The top
#: feeds mostly show shots the model already gets right, so each share of them costs labels.
FEED_SHARES: dict[str, float] = {"borderline": 0.6, "positive": 0.1, "random": 0.2, "negative": 0.1}
#: The plain rotation (``va_rot``): a whole batch from each feed in turn, in the order the
#: Active-learning page shows them, as an expert who simply works through the page would.
ROTATION = ("borderline", "positive", "negative", "random")
#: The first build needs this many positives and negatives (as in the app).
_MIN_POS, _MIN_NEG = MIN_POSITIVES, MIN_NEGATIVES
#: A page of the app's borderline feed, for counting near-duplicates on it.
PAGE = DEFAULT_FEED_SIZE
#: Two shots on one page are near-duplicates when their embeddings' cosine is at least this:
#: on the 2,000-shot demo 5.6 % of shots have such a neighbour in the whole corpus (median
#: nearest-neighbour cosine 0.90); on a page they are one scene shown twice.
NEAR_DUPLICATE_COSINE = 0.95


@dataclass(frozen=True)
class ModelOptions:
    """How the simulated builds (and the checkpoint classifiers) are made: pool negatives
    (:mod:`va_app.learn.pool`) and which feeds are spread over the clusters."""

    pool: PoolRule = DEFAULT_POOL
    spread: tuple[str, ...] = DEFAULT_SPREAD

    def to_dict(self) -> dict[str, Any]:
        return {
            "pool_size": self.pool.size if self.pool.active else 0,
            "pool_prior": self.pool.prior if self.pool.active else 0.0,
            "pool_screen": self.pool.screen,
            "spread_feeds": list(self.spread),
        }


# -- the simulated expert -------------------------------------------------------------------
@dataclass(eq=False)
class Session:
    """What one simulated expert has labelled so far, in order, and from where."""

    task: LabelTask
    rng: np.random.Generator
    model: ModelOptions = field(default_factory=ModelOptions)
    order: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    arms: list[str] = field(default_factory=list)
    #: Per feed, near-duplicate pairs on one app page of each build: (plain, spread) feed.
    page_pairs: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
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

    def label(self, rows: Iterable[int], source: str, room: int) -> int:
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
        return TrainingSet(
            positives=[ids[r] for r in self.order if truth[r]],
            negatives=[ids[r] for r in self.order if not truth[r]],
        )

    # -- where shots come from ------------------------------------------------------------
    def next_search_hits(self, n: int) -> list[int]:
        hits = self.task.search_rows
        picked: list[int] = []
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

    def meaning_hits(self, n: int) -> list[int]:
        """The "by meaning" page before the first build (:func:`meaning_page`): the label's
        text hits within :func:`meaning_depth`, unlabelled ones, the best then spread down."""
        depth = meaning_depth(self.task.n_train)
        window = [int(r) for r in self.task.search_rows[:depth] if not self.taken[int(r)]]
        return meaning_page(window, n)

    @property
    def exhausted(self) -> bool:
        return bool(self.taken.all())


def search_batch(session: Session, n: int, *, bootstrap: bool) -> int:
    """Label ``n`` shots the way an expert uses the search page; returns how many were new.

    Pages of text-search hits alternate with "more like this" from the positives found (one
    positive in turn); with neither left, or :data:`SEARCH_GIVE_UP` hits and no positive, the
    expert browses (random shots). While
    bootstrapping with enough positives but too few negatives, the expert browses for them.
    """
    added = 0
    while added < n and not session.exhausted:
        room = n - added
        if bootstrap and session.n_pos >= _MIN_POS and session.n_neg < _MIN_NEG:
            added += session.label(session.random_rows(room), "browse", room)
            continue
        step = 0
        if not session.positives and session.search_cursor >= SEARCH_GIVE_UP:
            added += session.label(session.random_rows(room), "browse", room)
            continue
        if session.text_turn or not session.positives:
            step = session.label(session.next_search_hits(min(room, SEARCH_PAGE)), "search", room)
        session.text_turn = not session.text_turn
        if step == 0 and session.positives:
            step = session.label(
                session.more_like_this(min(room, SIMILAR_PER_SEED)), "similar", room
            )
        if step == 0:
            step = session.label(session.random_rows(min(room, SEARCH_PAGE)), "browse", room)
        added += step
    return added


def first_labels_batch(session: Session, n: int) -> int:
    """Label ``n`` shots as the Active-learning page offers them before the first build: pages
    of the label's words spread down their ranking ("by meaning", :func:`meaning_page`); with
    enough positives but too few negatives, random shots (the page's random tab). Returns how
    many were new.

    Measured against the top text hits with "more like this" from the positives (the paper's
    search bootstrap, :func:`search_batch`) on the 2,000-shot study corpus, common concepts,
    15 seeds, VA − CC at n = 20 / 40: −0.014 [−0.029, +0.015] / +0.008 → +0.008 [+0.001,
    +0.040] / +0.004; without "more like this" alone +0.002 (a tie); top hits spread over the
    k-means clusters −0.018, random pages interleaved −0.021 (README, "First labels")."""
    added = 0
    while added < n and not session.exhausted:
        room = n - added
        if session.n_pos >= _MIN_POS and session.n_neg < _MIN_NEG:
            added += session.label(session.random_rows(room), "browse", room)
            continue
        page = min(room, SEARCH_PAGE)
        step = session.label(session.meaning_hits(page), str(Source.MEANING), room)
        if step == 0:  # no hit left within reach: browse
            step = session.label(session.random_rows(page), "browse", room)
        added += step
    return added


def _bootstrap(session: Session, budget: int, batch: int) -> None:
    """Label until the first build is allowed (10 positives and 10 negatives) or budget."""
    while len(session.order) < budget and (session.n_pos < _MIN_POS or session.n_neg < _MIN_NEG):
        if first_labels_batch(session, min(batch, budget - len(session.order))) == 0:
            break


def _build(session: Session, batch: int) -> Any:
    seed = int(session.rng.integers(2**31))
    result = build(
        session.task.matrix,
        session.labelled_set(),
        n=batch,
        seed=seed,
        hide_labelled=True,
        min_pos=_MIN_POS,
        min_neg=_MIN_NEG,
        pool=session.model.pool,
        spread=session.model.spread,
    )
    _count_page_pairs(session, result.probabilities)
    return result


def _count_page_pairs(session: Session, probabilities: np.ndarray) -> None:
    """Near-duplicate pairs on one app page of each score-ranked feed, plain and spread over
    the clusters (the same scores, so the difference is the spreading's alone)."""
    matrix, taken = session.task.matrix, session.taken
    feeds = [Source.BORDERLINE, Source.POSITIVE, Source.NEGATIVE]
    plain = build_feeds(probabilities, PAGE, seed=0, exclude=taken, spread=())
    spread = build_feeds(
        probabilities, PAGE, seed=0, exclude=taken, clusters=matrix.clusters, spread=tuple(feeds)
    )
    for feed in feeds:
        session.page_pairs.setdefault(feed, []).append(
            (
                near_duplicate_pairs(matrix.X, plain[feed]),
                near_duplicate_pairs(matrix.X, spread[feed]),
            )
        )


def near_duplicate_pairs(
    X: np.ndarray, rows: np.ndarray, *, threshold: float = NEAR_DUPLICATE_COSINE
) -> int:
    """Pairs among ``rows`` of unit vectors ``X`` whose cosine is at least ``threshold``."""
    page = X[np.asarray(rows, dtype=np.intp)]
    cosines = page @ page.T
    return int(np.count_nonzero(np.triu(cosines >= threshold, k=1)))


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


def _label_feed_mix(
    session: Session, feeds: dict[str, list[str]], n: int, shares: Mapping[str, float]
) -> int:
    """Label ``n`` shots from the feeds by ``shares``; random shots fill what a feed lacks."""
    row_of = session.task.matrix.row_of
    added = 0
    for name, quota in feed_quotas(shares, n).items():
        added += session.label([row_of[i] for i in feeds[name]], name, quota)
    if added < n:
        added += session.label(session.random_rows(n - added), "random", n - added)
    return added


def run_va(
    task: LabelTask,
    *,
    budget: int,
    batch: int,
    seed: int,
    shares: Mapping[str, float] = FEED_SHARES,
    model: ModelOptions = ModelOptions(),
) -> Session:
    """Search to bootstrap, then the four feeds by ``shares``, one build per batch."""
    session = Session(task, np.random.default_rng(seed), model)
    _bootstrap(session, budget, batch)
    while len(session.order) < budget and session.n_pos >= _MIN_POS and session.n_neg >= _MIN_NEG:
        result = _build(session, batch)
        room = min(batch, budget - len(session.order))
        if _label_feed_mix(session, result.feeds, room, shares) == 0:
            break
    return session


def run_va_rotation(
    task: LabelTask, *, budget: int, batch: int, seed: int, model: ModelOptions = ModelOptions()
) -> Session:
    """Search to bootstrap, then a whole batch from each feed of :data:`ROTATION` in turn."""
    session = Session(task, np.random.default_rng(seed), model)
    _bootstrap(session, budget, batch)
    turn = 0
    while len(session.order) < budget and session.n_pos >= _MIN_POS and session.n_neg >= _MIN_NEG:
        result = _build(session, batch)
        room = min(batch, budget - len(session.order))
        feed = ROTATION[turn % len(ROTATION)]
        turn += 1
        if _label_feed_mix(session, result.feeds, room, {feed: 1.0}) == 0:
            break
    return session


def run_va_recommended(
    task: LabelTask,
    *,
    budget: int,
    batch: int,
    seed: int,
    reward: str = DEFAULT_REWARD,
    c: float | None = None,
    model: ModelOptions = ModelOptions(),
) -> Session:
    """Search to bootstrap, then each batch from the source the recommender suggests.

    The recommender sees what it would see in the app: after each batch, the change of the
    build's model-quality score (``reward="quality"``) or the share of the batch the model
    before it had wrong (``"mistakes"``) — never the held-out truth.
    """
    session = Session(task, np.random.default_rng(seed))
    _bootstrap(session, budget, batch)
    if session.n_pos < _MIN_POS or session.n_neg < _MIN_NEG:
        return session
    result = _build(session, batch)
    rounds: list[Round] = []
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
            added += session.label(
                session.next_search_hits(1) or session.random_rows(1), "search", 1
            )
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


def run_strategy(
    name: str,
    task: LabelTask,
    *,
    budget: int,
    batch: int,
    seed: int,
    shares: Mapping[str, float] = FEED_SHARES,
    reward: str = DEFAULT_REWARD,
    c: float | None = None,
    model: ModelOptions = ModelOptions(),
) -> Session:
    """One simulated session of strategy ``name`` (a key of :data:`STRATEGIES`)."""
    if name == "va":
        return run_va(task, budget=budget, batch=batch, seed=seed, shares=shares, model=model)
    if name == "va_rot":
        return run_va_rotation(task, budget=budget, batch=batch, seed=seed, model=model)
    if name == "va_rec":
        return run_va_recommended(
            task, budget=budget, batch=batch, seed=seed, reward=reward, c=c, model=model
        )
    runners = {"cc": run_cc, "zsc": run_zsc, "rcc": run_rcc}
    if name not in runners:
        raise ValidationError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    return runners[name](task, budget=budget, seed=seed)
