"""Next-action advice: which source the next batch of labels should come from (paper §6).

After each build the expert may label from five sources ("arms"): ``search`` (text search and
"more like this"), and the ``positive``, ``negative``, ``borderline`` and ``random`` feeds.
A UCB bandit learns which source has lately paid off most and suggests it, with a one-line
reason. The advice is never forced: the page shows it, the expert decides.

Pure functions over a label's model versions and annotations (no store, no SQL):

- :func:`rounds_from_history` — a *round* is the batch of annotations made between two
  consecutive builds. It is credited to the source most of its annotations came from (the
  ``source`` field: ``similar`` counts as ``search``; ``review`` and ``import`` count for no
  arm). Its reward is, by ``reward``:

  * ``"quality"`` (default) — the change of the model-quality score from the build before to
    the build after the batch;
  * ``"mistakes"`` — the share of the batch the model before it had wrong (needs that model's
    probabilities for the batch's shots). What a model learns from is where it was wrong.

- :func:`recommend_from_rounds` — UCB over the arms:
  ``score(a) = recent(a) + c·sqrt(ln t / n_a)`` where ``recent(a)`` is the mean reward of arm
  a's last :data:`DEFAULT_WINDOW` rounds, ``n_a`` its rounds so far and ``t`` all rounds. A
  window (sliding-window UCB) because rewards shrink as a model matures: an arm's early rounds
  say little about what it gives now. A *prior* (:data:`DEFAULT_PRIOR`) gives an arm one
  pseudo-round of what its batch is expected to earn before it has been tried; arms without
  one are tried first, in :data:`ARMS` order.
- :func:`recommend` — both at once, from ``ModelRegistry.versions`` and ``LabelStore.history``.

The default reward is ``mistakes`` with its prior. Measured with the oracle simulator
(:mod:`va_app.research.simulate.runner`, the demo corpus of 400 shots, 13 concepts,
batches of 10, budget 200,
median over labels of the lift over VA's fixed feed mix at n = 40 / 60 / 100 / 150 / 200):

- ``quality`` — the quality score is cross-validated on the labelled set itself, so a batch of
  hard shots lowers it and a batch of easy ones raises it; its changes are mostly fold noise
  and the bandit spreads its picks almost evenly: −0.03 to 0.00 (version-1 demo).
- ``mistakes``, every arm tried once first: +0.015 / −0.023 / −0.014 / 0 / 0 (5 seeds):
  trying five arms costs five batches while the model is young.
- ``mistakes`` with the prior: +0.017 / +0.014 / 0 / −0.001 / 0 (10 seeds); ~40 % of its
  batches are borderline.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, Protocol

from va_app.domain import Source

#: The sources a batch can come from, in the order untried ones are suggested: the feeds
#: first (the first model was just bootstrapped by search), borderline leading because
#: uncertain shots are where a young model learns most, search last.
ARMS: tuple[str, ...] = (
    Source.BORDERLINE,
    Source.POSITIVE,
    Source.RANDOM,
    Source.NEGATIVE,
    Source.SEARCH,
)
#: Annotation source → arm; sources missing here (``review``, ``import``) credit no arm.
ARM_OF_SOURCE: dict[str, str] = {
    Source.SEARCH: Source.SEARCH,
    Source.SIMILAR: Source.SEARCH,
    Source.MEANING: Source.SEARCH,  # the label's words, before the first build
    Source.POSITIVE: Source.POSITIVE,
    Source.NEGATIVE: Source.NEGATIVE,
    Source.BORDERLINE: Source.BORDERLINE,
    Source.RANDOM: Source.RANDOM,
}
QUALITY, MISTAKES = "quality", "mistakes"
REWARDS = (QUALITY, MISTAKES)
#: Exploration weight per reward, on the reward's own scale: quality changes (balanced
#: accuracy, 0..1) are typically −0.05..+0.05 per batch, mistake shares 0..0.6. The paper's
#: UCB runs used c = 0.01 and 0.1 on AP changes, the scale of ``quality``. On the demo corpus
#: (module docstring) c ∈ {0.01, 0.03, 0.1, 0.3} were within noise of each other for both
#: rewards (quality: lift at n = 100 between −0.014 and −0.028); these are mid-range picks.
DEFAULT_C: dict[str, float] = {QUALITY: 0.03, MISTAKES: 0.1}
#: Rounds per arm whose rewards make its current estimate (sliding-window UCB).
DEFAULT_WINDOW = 3
#: The reward the app and the simulator use.
DEFAULT_REWARD = MISTAKES
#: Per reward: what one batch from each arm is expected to earn before any has been seen,
#: counted as one pseudo-round of that arm. Mistakes: borderline shots sit at p ≈ 0.5, so
#: about half are wrong; the confident feeds are rarely wrong; random shots and new search
#: results fall in between. Quality changes have no such prior: every arm is tried once.
DEFAULT_PRIOR: dict[str, dict[str, float]] = {
    QUALITY: {},
    MISTAKES: {
        Source.BORDERLINE: 0.5,
        Source.RANDOM: 0.2,
        Source.SEARCH: 0.2,
        Source.POSITIVE: 0.1,
        Source.NEGATIVE: 0.1,
    },
}
#: Why an arm is worth a batch before any batch from it has been seen (prior-only advice).
_UNTRIED_BECAUSE: dict[str, str] = {
    Source.BORDERLINE: "the shots the model is least sure of are where a young model is "
    "wrong most often",
    Source.POSITIVE: "its top-scoring shots show whether the model learned the right concept",
    Source.NEGATIVE: "its lowest-scoring shots show positives the model misses entirely",
    Source.RANDOM: "random shots show how the model does on the corpus as a whole",
    Source.SEARCH: 'new queries and "more like this" can find shots the model has not seen',
}

_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six")


class VersionLike(Protocol):
    """What the recommender reads of a model version (``ModelVersion`` has it).

    Read-only properties, so frozen dataclasses match the protocol.
    """

    @property
    def version(self) -> int: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def model_score(self) -> float | None: ...


class AnnotationLike(Protocol):
    """What the recommender reads of an annotation (``Annotation`` has it)."""

    @property
    def shot_id(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def value(self) -> bool | None: ...
    @property
    def created_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class Round:
    """One batch between two builds: the arm it is credited to and the reward it earned."""

    arm: str
    reward: float
    n_annotations: int = 0
    version: int = 0

    def __post_init__(self) -> None:
        if not math.isfinite(self.reward):
            raise ValueError(f"a round's reward must be a finite number, got {self.reward}")


@dataclass(frozen=True)
class ArmScore:
    """One arm's standing: rounds credited, recent mean reward, exploration bonus, UCB score."""

    arm: str
    rounds: int
    recent: float | None
    bonus: float | None
    score: float | None  # None: not tried yet (tried first)


@dataclass(frozen=True)
class Recommendation:
    """Where the next batch should come from, why in one line, and every arm's UCB score."""

    source: str
    reason: str
    scores_per_arm: dict[str, float | None]
    arms: tuple[ArmScore, ...] = ()
    rounds: int = 0
    reward: str = DEFAULT_REWARD

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: source, reason, UCB score per arm (None = untried), rounds, reward."""
        return {
            "source": self.source,
            "reason": self.reason,
            "scores_per_arm": dict(self.scores_per_arm),
            "rounds": self.rounds,
            "reward": self.reward,
            "arms": [vars(a).copy() for a in self.arms],
        }


# -- history → rounds ------------------------------------------------------------------------
def rounds_from_history(
    versions: Iterable[VersionLike],
    annotations: Iterable[AnnotationLike],
    *,
    reward: str = DEFAULT_REWARD,
    predictions: Mapping[int, Mapping[str, float]] | None = None,
) -> list[Round]:
    """Credit each batch between consecutive builds to its main source, with its reward.

    The batch of version v is every annotation (clears left out) created after version v−1
    and no later than version v. It goes to the arm most of its annotations came from (a tie
    goes to the arm labelled last). Batches with no arm's annotations (only review or import)
    and versions without a time or a model score are skipped. For ``reward="mistakes"``,
    ``predictions[v][shot_id]`` is version v's probability of positive for the shots labelled
    after it; shots it has no prediction for are left out of the share.
    """
    _check_reward(reward)
    built = sorted(
        (
            (v.version, _utc(v.created_at), v.model_score)
            for v in versions
            if v.created_at is not None and v.model_score is not None
        ),
        key=lambda b: b[0],
    )
    clicks = sorted(_clicks(annotations), key=lambda click: click[0])
    rounds = []
    for (before, start, score_before), (after, end, score_after) in pairwise(built):
        batch = [a for at, a in clicks if start < at <= end]
        if not batch:
            continue
        value: float | None
        if reward == QUALITY:
            value = float(score_after - score_before)
        else:
            value = mistake_share(batch, (predictions or {}).get(before, {}))
            if value is None:
                continue
        arm = _main_arm([ARM_OF_SOURCE[a.source] for a in batch])
        rounds.append(Round(arm, value, len(batch), after))
    return rounds


def shots_to_predict(
    versions: Iterable[VersionLike], annotations: Iterable[AnnotationLike]
) -> dict[int, list[str]]:
    """For ``reward="mistakes"``: version → the shots labelled in the batch after it.

    Score them with that version's classifier and pass ``{version: {shot_id: p}}`` as
    ``predictions``; only these shots are needed, so it costs a few rows per version.
    """
    built = sorted(
        ((v.version, _utc(v.created_at)) for v in versions if v.created_at is not None),
        key=lambda b: b[0],
    )
    clicks = _clicks(annotations)
    wanted: dict[int, list[str]] = {}
    for (before, start), (_, end) in pairwise(built):
        shots = {a.shot_id: None for at, a in clicks if start < at <= end}
        if shots:
            wanted[before] = list(shots)
    return wanted


def _clicks(annotations: Iterable[AnnotationLike]) -> list[tuple[datetime, AnnotationLike]]:
    """The annotations that credit an arm (clears left out), each with its naive UTC time."""
    return [
        (_utc(a.created_at), a)
        for a in annotations
        if a.value is not None and a.created_at is not None and a.source in ARM_OF_SOURCE
    ]


def mistake_share(
    batch: Sequence[AnnotationLike], probability: Mapping[str, float]
) -> float | None:
    """Share of the batch's labels that the model (``shot_id → p``) got wrong at p = 0.5."""
    judged = [
        (probability[a.shot_id] > 0.5) != bool(a.value) for a in batch if a.shot_id in probability
    ]
    return sum(judged) / len(judged) if judged else None


def _main_arm(batch: Sequence[str]) -> str:
    counts = Counter(batch)
    most = max(counts.values())
    tied = {arm for arm, n in counts.items() if n == most}
    return next(arm for arm in reversed(batch) if arm in tied)


def _utc(moment: datetime) -> datetime:
    """Naive UTC (as the catalog stores times), so stored and aware times compare."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _check_reward(reward: str) -> None:
    if reward not in REWARDS:
        raise ValueError(f"reward must be one of {', '.join(REWARDS)}, got {reward!r}")


# -- rounds → advice -------------------------------------------------------------------------
def arm_scores(
    rounds: Sequence[Round],
    *,
    arms: Sequence[str] = ARMS,
    c: float,
    window: int = DEFAULT_WINDOW,
    prior: Mapping[str, float] | None = None,
) -> tuple[ArmScore, ...]:
    """Each arm's UCB standing: ``recent + c·sqrt(ln t / n_a)``.

    ``prior[arm]`` counts as one round of that arm before its real ones (in ``recent``,
    ``n_a`` and ``t``); an arm with neither a prior nor a round has score None (untried).
    """
    prior = prior or {}
    if c < 0 or window < 1:
        raise ValueError(f"c must be ≥ 0 and window ≥ 1, got c={c}, window={window}")
    unknown = ({r.arm for r in rounds} | set(prior)) - set(arms)
    if unknown:
        raise ValueError(
            f"rounds or priors for unknown arms {sorted(unknown)}; arms are {list(arms)}"
        )
    if not all(math.isfinite(v) for v in prior.values()):
        raise ValueError(f"priors must be finite numbers, got {dict(prior)}")
    total = len(rounds) + sum(1 for arm in arms if arm in prior)
    scores = []
    for arm in arms:
        seen = [r.reward for r in rounds if r.arm == arm]
        rewards = ([prior[arm]] if arm in prior else []) + seen
        if not rewards:
            scores.append(ArmScore(arm, 0, None, None, None))
            continue
        recent = sum(rewards[-window:]) / len(rewards[-window:])
        bonus = c * math.sqrt(math.log(max(total, 1)) / len(rewards))
        scores.append(ArmScore(arm, len(seen), recent, bonus, recent + bonus))
    return tuple(scores)


def recommend_from_rounds(
    rounds: Sequence[Round],
    *,
    arms: Sequence[str] = ARMS,
    reward: str = DEFAULT_REWARD,
    c: float | None = None,
    window: int = DEFAULT_WINDOW,
    prior: Mapping[str, float] | None = None,
) -> Recommendation:
    """The next source: the first untried arm, else the arm with the highest UCB score.

    ``reward`` names what the rounds' rewards are (for the reason text, the default ``c`` and
    the default ``prior``: :data:`DEFAULT_PRIOR`; pass ``{}`` to try every arm once first).
    """
    _check_reward(reward)
    c = DEFAULT_C[reward] if c is None else c
    prior = DEFAULT_PRIOR[reward] if prior is None else prior
    standing = arm_scores(rounds, arms=arms, c=c, window=window, prior=prior)
    scores = {s.arm: s.score for s in standing}
    untried = [s.arm for s in standing if s.score is None]
    if untried:
        arm = untried[0]
        reason = (
            f"{arm} has not been tried yet: one batch from it shows what it adds"
            if arm != Source.SEARCH
            else f"search has not been tried since the first build: {_UNTRIED_BECAUSE[arm]}"
        )
        return Recommendation(arm, reason, scores, standing, len(rounds), reward)
    # Every arm has a score here (untried ones returned above); the first wins ties (ARMS order).
    best = max(standing, key=lambda s: -math.inf if s.score is None else s.score)
    if best.rounds == 0:  # the prior alone speaks for it
        because = _UNTRIED_BECAUSE.get(best.arm)
        reason = f"no batch from {best.arm} yet" + (f"; {because}" if because else "")
    else:
        reason = _reason(best, standing, rounds, window, reward)
    return Recommendation(best.arm, reason, scores, standing, len(rounds), reward)


def recommend(
    versions: Iterable[VersionLike],
    annotations: Iterable[AnnotationLike],
    *,
    arms: Sequence[str] = ARMS,
    reward: str = DEFAULT_REWARD,
    predictions: Mapping[int, Mapping[str, float]] | None = None,
    c: float | None = None,
    window: int = DEFAULT_WINDOW,
    prior: Mapping[str, float] | None = None,
) -> Recommendation:
    """Advice for a label from its model versions and its annotation history.

    ``versions`` as ``ModelRegistry.versions(label)`` gives them, ``annotations`` as
    ``LabelStore.history(label)``; ``predictions`` for ``reward="mistakes"`` (see
    :func:`rounds_from_history` and :func:`shots_to_predict`): without them no round has a
    reward and the advice rests on the prior alone.
    """
    versions = list(versions)
    if not versions:
        return Recommendation(
            Source.SEARCH,
            "no model yet: search for at least 10 positives and 10 negatives, then build",
            {arm: None for arm in arms},
            reward=reward,
        )
    rounds = rounds_from_history(versions, annotations, reward=reward, predictions=predictions)
    return recommend_from_rounds(rounds, arms=arms, reward=reward, c=c, window=window, prior=prior)


def _reason(
    best: ArmScore, standing: Sequence[ArmScore], rounds: Sequence[Round], window: int, reward: str
) -> str:
    latest = min(best.rounds, window)  # the real rounds its recent reward is made of ...
    seen = [r.reward for r in rounds if r.arm == best.arm][-latest:]
    observed = sum(seen) / len(seen)  # ... without the prior's pseudo-round
    top = max(s.recent for s in standing if s.recent is not None)
    assert best.recent is not None  # it has real rounds, so a recent reward
    if best.recent < top:
        lately = (
            f"{observed:+.3f} model quality" if reward == QUALITY else f"{observed:.0%} mistakes"
        )
        return (
            f"{best.arm} has had few batches ({best.rounds} of {len(rounds)}): worth "
            f"another look ({lately} lately)"
        )
    verb, amount = (
        ("gave the largest gain", f"{observed:+.3f} model quality")
        if reward == QUALITY
        else ("found the most model mistakes", f"{observed:.0%} of its shots")
    )
    if _streak(rounds, best.arm) >= latest:  # ... and they are the label's latest rounds
        if latest == 1:
            return f"{best.arm} {verb} last round ({amount})"
        per = " per round" if reward == QUALITY else ""
        return f"{best.arm} {verb} in the last {_count(latest)} rounds ({amount}{per})"
    batches = f"{_count(latest)} batch{'es' if latest != 1 else ''}"
    return f"{best.arm} {verb} lately: {amount} over its last {batches}"


def _streak(rounds: Sequence[Round], arm: str) -> int:
    """How many of the latest rounds in a row came from ``arm``."""
    streak = 0
    for r in reversed(rounds):
        if r.arm != arm:
            break
        streak += 1
    return streak


def _count(n: int) -> str:
    return _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n)
