"""Oracle simulator: how much does the Video Annotator workflow save on a corpus with ground truth?

A simulated expert who always answers correctly (the corpus's ground truth, e.g. the demo's)
labels shots in batches, following one strategy, and after every ``n`` labels a classifier is
trained on what it has labelled and scored by average precision (AP) on held-out shots. The
strategies (paper §4–5):

- ``va`` — Video Annotator: the first labels as the Active-learning page offers them before
  the first build (pages of the label's words "by meaning": the best text hit, then hits
  spread down the top of the ranking — the encoder's text tower, or keywords over titles and
  tags when it has none —, and random shots once the positives are enough) until 10
  positives and 10 negatives, then build and label from the four feeds in the shares of
  :data:`FEED_SHARES`, one build per batch.
- ``va_rec`` — the same bootstrap, then every batch from the one source the next-action
  recommender (:mod:`va_app.learn.recommender`) suggests after each build (its "search" is
  the Search page: the top text hits and "more like this" from the positives).
- ``va_rot`` — the same bootstrap, then a whole batch from each feed in turn (borderline, top
  positive, top negative, random): a user who simply works through the page.
- ``cc`` — combined classifier: half random shots, half search results in rank order.
- ``zsc`` — search results only, in rank order ("zero-shot" ranking with a text tower).
- ``rcc`` — random shots only.

Protocol: per label, a deterministic split stratified on the label's truth keeps
:data:`TEST_SHARE` of the shots for the test; strategies see only the rest (search and feeds
run over the training part alone). At each checkpoint ``n``, the classifier a build would fit
on the strategy's first ``n`` labels (:func:`va_app.learn.pool.fit_with_pool`: with pool
negatives from the training part, never a labelled or a held-out shot) ranks the test shots —
the same classifier for every strategy, so differences are the labels'; with one class only
there is no classifier and the AP is the test's positive rate (what a random ranking scores on
average). :class:`ModelOptions` (``simulate --pool-size/--pool-prior/--pool-negatives/--spread``)
switches pool negatives and the spread feeds off or on, for measuring each change alone.
Each label runs ``seeds`` times (the randomness of random shots and the random feed); a
label's AP at ``n`` is the median over seeds, and the headline numbers are medians over labels.
Search results that run out are followed by random shots, as an expert with nothing left to
find would browse.

Modules: :mod:`.task` (one label's split and search ranking), :mod:`.strategies` (the expert's
sessions), :mod:`.summary` (medians and the text table), :mod:`.figure` (the Plotly figure).
"""

from __future__ import annotations

import os
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
from sklearn.metrics import average_precision_score

from va_app.config import Settings
from va_app.errors import VAError, ValidationError
from va_app.learn.classifier import MIN_NEGATIVES, MIN_POSITIVES
from va_app.learn.pool import NO_POOL, PoolRule, fit_with_pool
from va_app.learn.recommender import DEFAULT_C, DEFAULT_PRIOR, DEFAULT_REWARD, REWARDS
from va_app.research.simulate.figure import write_figure
from va_app.research.simulate.strategies import (
    FEED_SHARES,
    STRATEGIES,
    ModelOptions,
    feed_quotas,
    run_strategy,
)
from va_app.research.simulate.summary import summarise, summarise_groups
from va_app.research.simulate.task import TEST_SHARE, LabelTask, make_task, rounded

Progress = Callable[[int, int, str], None]

DEFAULT_BUDGET = 200
DEFAULT_SEEDS = 5
#: Labels per batch: one page of a feed, and one build per batch.
DEFAULT_BATCH = 10
#: Where AP is measured (those up to the budget, and the budget itself).
CHECKPOINTS = (20, 40, 60, 100, 150, 200)
#: A label needs this many test positives for its AP to mean something.
MIN_TEST_POSITIVES = 3


# -- scoring --------------------------------------------------------------------------------
def ap_curve(
    task: LabelTask,
    order: Sequence[int],
    checkpoints: Sequence[int],
    *,
    pool: PoolRule = NO_POOL,
) -> list[float]:
    """Test AP of a classifier fitted on the first ``n`` labelled rows, for each ``n``.

    The classifier is the build's (:func:`va_app.learn.pool.fit_with_pool`): with ``pool``,
    unlabelled training rows (never a labelled or a held-out one) join as weak negatives.
    """
    curve = []
    for n in checkpoints:
        rows = np.asarray(order[:n], dtype=np.intp)
        y = task.truth[rows]
        if y.all() or not y.any():
            curve.append(float(task.y_test.mean()))  # no classifier: a random ranking's AP
            continue
        X = task.matrix.X[rows]
        X_pool = pool.negatives(X, y, task.matrix.X[pool.rows(task.n_train, rows)])
        clf = fit_with_pool(X, y, X_pool, rule=pool)
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
    model: ModelOptions = field(default_factory=ModelOptions)

    def __post_init__(self) -> None:
        if self.budget < 2 or self.seeds < 1 or self.batch < 1:
            raise ValidationError(
                f"budget must be at least 2, seeds and batch at least 1 (got "
                f"budget={self.budget}, seeds={self.seeds}, batch={self.batch})"
            )
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown or not self.strategies:
            raise ValidationError(
                f"unknown strategies {unknown}; choose from {', '.join(STRATEGIES)}"
            )
        if self.reward not in REWARDS:
            raise ValidationError(
                f"the recommender's reward is one of {', '.join(REWARDS)}, got {self.reward!r}"
            )
        unknown_feeds = set(self.shares) - set(FEED_SHARES)
        if unknown_feeds:
            raise ValidationError(f"unknown feeds {sorted(unknown_feeds)} in the feed shares")
        feed_quotas(self.shares, self.batch)  # validates the shares


def run_simulation(
    settings: Settings,
    *,
    labels: Sequence[str] | None = None,
    budget: int = DEFAULT_BUDGET,
    seeds: int = DEFAULT_SEEDS,
    batch: int = DEFAULT_BATCH,
    out_html: str | Path | None = None,
    progress: Progress | None = None,
    test_share: float = TEST_SHARE,
    strategies: Sequence[str] = tuple(STRATEGIES),
    feed_shares: Mapping[str, float] | None = None,
    reward: str = DEFAULT_REWARD,
    c: float | None = None,
    workers: int | None = 1,
    model: ModelOptions | None = None,
) -> dict[str, Any]:
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
    per-label difference VA − CC, VA+recommender − VA}), ``va_minus_cc_interval`` ({n: [low,
    high]}: its 95 % interval over the seeds' randomness), ``va_vs_cc`` ({n: "above", "tie"
    or "below"}: beyond that noise, or within it), ``va_at_least_cc`` ({n: not "below"}),
    ``va_at_least_cc_at_every_n``, ``va_median_at_least_cc`` ({n: VA's median AP ≥ CC's,
    noise and all}), ``groups`` ({"common" | "rare": the same keys on those concepts alone,
    and their ``labels``; rare: at most 5 % positives}), ``labels`` ({label: split sizes, search
    hits, ``ap`` per strategy per n, ``ap_per_seed``, ``sources`` labelled from,
    ``recommended`` arms}), ``excluded`` ([{label, reason}]), ``html`` (the figure's path or
    None) and ``seconds``. Checkpoints ``n`` are JSON strings.
    """
    options = SimulationOptions(
        budget,
        seeds,
        batch,
        tuple(strategies),
        dict(FEED_SHARES if feed_shares is None else feed_shares),
        reward,
        c,
        ModelOptions() if model is None else model,
    )
    if not 0 < test_share < 1:
        raise ValidationError(f"the test share must lie between 0 and 1, got {test_share}")
    started = time.perf_counter()
    tasks, excluded, corpus = load_tasks(settings, labels, test_share=test_share)
    per_label = _simulate_all(tasks, options, workers=workers, progress=progress)
    points = checkpoints_for(budget)
    result = {
        "corpus": corpus,
        "budget": budget,
        "seeds": seeds,
        "batch": batch,
        "test_share": test_share,
        "feed_shares": dict(options.shares),
        "model": options.model.to_dict(),
        "recommender": {
            "reward": reward,
            "c": c if c is not None else DEFAULT_C[reward],
            "prior": DEFAULT_PRIOR[reward],
        },
        "checkpoints": points,
        "strategies": {s: STRATEGIES[s] for s in options.strategies},
        **summarise(per_label, options.strategies, points),
        "groups": summarise_groups(per_label, options.strategies, points),
        "labels": per_label,
        "excluded": excluded,
    }
    result["html"] = str(write_figure(result, out_html)) if out_html else None
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


def load_tasks(
    settings: Settings, labels: Sequence[str] | None = None, *, test_share: float = TEST_SHARE
) -> tuple[list[LabelTask], list[dict], dict]:
    """Every wanted label's task, the labels left out (with why), and facts about the corpus."""
    from va_app.services.bootstrap import bootstrap

    app = bootstrap(settings)
    try:
        return _tasks(app.corpus.catalog, app.view.matrix, settings, labels, test_share)
    finally:
        app.close()


def _simulate_all(
    tasks: list[LabelTask],
    options: SimulationOptions,
    *,
    workers: int | None,
    progress: Progress | None,
) -> dict[str, dict]:
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


def _tasks(
    catalog: Any, full: Any, settings: Settings, labels: Sequence[str] | None, test_share: float
) -> tuple[list[LabelTask], list[dict], dict]:
    concepts = catalog.ground_truth_concepts()
    if not concepts:
        raise ValidationError(
            "this corpus has no ground truth to simulate an expert with: "
            "build the demo corpus (python -m va_app demo) or give another "
            "--data-dir"
        )
    wanted = _wanted_labels(labels, concepts)
    shots = catalog.shots()
    encoder, notes = _text_encoder(settings, full.encoder_id)
    tasks, excluded = [], []
    for concept in wanted:
        truth = catalog.ground_truth(concept)
        n_pos = sum(truth.values())
        if n_pos < MIN_POSITIVES + MIN_TEST_POSITIVES:  # too rare to split (rare concepts)
            excluded.append(
                {
                    "label": concept,
                    "reason": f"only {n_pos} positives in the corpus:"
                    f" too few to split (a rare concept: try demo --shots 2000)",
                }
            )
            continue
        task = make_task(concept, full, shots, truth, encoder=encoder, test_share=test_share)
        why = _why_excluded(task)
        if why:
            excluded.append({"label": concept, "reason": why})
        else:
            tasks.append(task)
    has_text = encoder is not None and getattr(encoder, "has_text", False)
    corpus = {
        "data_dir": str(settings.data_dir),
        "shots": full.n_shots,
        "encoder": full.encoder_id,
        "search": "semantic" if has_text else "keyword",
        "notes": notes,
    }
    return tasks, excluded, corpus


def _wanted_labels(labels: Sequence[str] | None, concepts: list[str]) -> list[str]:
    if not labels:
        return concepts
    by_key = {c.casefold(): c for c in concepts}
    missing = [name for name in labels if name.casefold() not in by_key]
    if missing:
        raise ValidationError(
            f"no ground truth for {', '.join(missing)}; this corpus has {', '.join(concepts)}"
        )
    return [by_key[name.casefold()] for name in labels]


def _text_encoder(settings: Settings, corpus_encoder_id: str) -> tuple[Any | None, list[str]]:
    from va_app.encoders import encoder_for_corpus

    try:
        return encoder_for_corpus(settings, corpus_encoder_id), []
    except VAError as exc:
        return None, [f"text search uses keywords: the corpus's encoder is unavailable ({exc})"]


def _why_excluded(task: LabelTask) -> str:
    if task.truth.sum() < MIN_POSITIVES:
        return (
            f"only {int(task.truth.sum())} positives in the training part: VA cannot "
            f"reach its first build ({MIN_POSITIVES} needed)"
        )
    if (~task.truth).sum() < MIN_NEGATIVES:
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
    pairs: dict[str, dict[str, list[tuple[int, int]]]] = {s: {} for s in options.strategies}
    recommended: Counter = Counter()
    for seed in range(options.seeds):
        for name in options.strategies:
            # Every strategy gets the same seed: paired runs, so differences are the strategies'.
            session = run_strategy(
                name,
                task,
                budget=budget,
                batch=options.batch,
                seed=_session_seed(task.concept, seed),
                shares=options.shares,
                reward=options.reward,
                c=options.c,
                model=options.model,
            )
            curve = ap_curve(task, session.order, points, pool=options.model.pool)
            per_seed[name].append([rounded(ap) for ap in curve])
            sources[name].update(session.sources)
            for feed, found in session.page_pairs.items():
                pairs[name].setdefault(feed, []).extend(found)
            recommended.update(session.arms)
    medians = {
        name: {
            str(n): rounded(float(np.median([run[i] for run in runs])))
            for i, n in enumerate(points)
        }
        for name, runs in per_seed.items()
    }
    return {
        **task.summary(),
        "checkpoints": points,
        "ap": medians,
        "ap_per_seed": per_seed,
        "sources": {name: dict(counts) for name, counts in sources.items()},
        "recommended": dict(recommended),
        "page_near_duplicates": {
            name: {feed: _mean_pairs(found) for feed, found in feeds.items()}
            for name, feeds in pairs.items()
            if feeds
        },
    }


def _mean_pairs(found: list[tuple[int, int]]) -> dict[str, float]:
    """Mean near-duplicate pairs per page over a strategy's builds, plain and spread feed."""
    plain, spread = np.mean(np.asarray(found, dtype=float), axis=0)
    return {"plain": rounded(float(plain)), "spread": rounded(float(spread)), "pages": len(found)}


def _session_seed(concept: str, seed: int) -> int:
    return int(np.random.SeedSequence([seed, zlib.crc32(concept.encode())]).generate_state(1)[0])
