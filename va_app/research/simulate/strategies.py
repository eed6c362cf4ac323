"""The simulated expert's strategies: VA, VA + recommender, and the paper's baselines.

Owns :class:`Session` (what one expert has labelled, in order, and from where), the ways an
expert finds shots (text search, "more like this", browsing, the four feeds) and one runner per
strategy of :data:`STRATEGIES` (see :mod:`va_app.research.simulate.runner` for the protocol).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from va_app.domain import TrainingSet
from va_app.errors import ValidationError
from va_app.learn.classifier import MIN_NEGATIVES, MIN_POSITIVES
from va_app.learn.engine import build
from va_app.learn.recommender import DEFAULT_REWARD, QUALITY, Round, recommend_from_rounds
from va_app.research.simulate.task import LabelTask

#: Strategy keys in the order they are reported, with the names the figure uses.
STRATEGIES: dict[str, str] = {
    "va": "VA (search, then the four feeds)",
    "va_rec": "VA + recommender",
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
#: The first build needs this many positives and negatives (as in the app).
_MIN_POS, _MIN_NEG = MIN_POSITIVES, MIN_NEGATIVES


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
        return TrainingSet(
            positives=[ids[r] for r in self.order if truth[r]],
            negatives=[ids[r] for r in self.order if not truth[r]],
        )

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


def _bootstrap(session: Session, budget: int, batch: int) -> None:
    """Search until the first build is allowed (10 positives and 10 negatives) or budget."""
    while len(session.order) < budget and (session.n_pos < _MIN_POS or session.n_neg < _MIN_NEG):
        if search_batch(session, min(batch, budget - len(session.order)), bootstrap=True) == 0:
            break


def _build(session: Session, batch: int) -> Any:
    seed = int(session.rng.integers(2**31))
    return build(
        session.task.matrix,
        session.labelled_set(),
        n=batch,
        seed=seed,
        hide_labelled=True,
        min_pos=_MIN_POS,
        min_neg=_MIN_NEG,
    )


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
) -> Session:
    """Search to bootstrap, then the four feeds by ``shares``, one build per batch."""
    session = Session(task, np.random.default_rng(seed))
    _bootstrap(session, budget, batch)
    while len(session.order) < budget and session.n_pos >= _MIN_POS and session.n_neg >= _MIN_NEG:
        result = _build(session, batch)
        room = min(batch, budget - len(session.order))
        if _label_feed_mix(session, result.feeds, room, shares) == 0:
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
) -> Session:
    """One simulated session of strategy ``name`` (a key of :data:`STRATEGIES`)."""
    if name == "va":
        return run_va(task, budget=budget, batch=batch, seed=seed, shares=shares)
    if name == "va_rec":
        return run_va_recommended(task, budget=budget, batch=batch, seed=seed, reward=reward, c=c)
    runners = {"cc": run_cc, "zsc": run_zsc, "rcc": run_rcc}
    if name not in runners:
        raise ValidationError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    return runners[name](task, budget=budget, seed=seed)
