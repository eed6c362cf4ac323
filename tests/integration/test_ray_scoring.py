"""A build scored on a local Ray by two actors that each map one shard of the matrix file gives
the same feeds and scores as one box (VA_SCORING=ray), float32 and float16 corpora."""

from dataclasses import replace

import numpy as np
import pytest
import ray

from tests.corpusfactory import make_synthetic_corpus
from va_app.domain import TrainingSet
from va_app.learn.engine import build
from va_app.learn.matrix import CorpusMatrix, Scoring
from va_app.learn.shards import shutdown_pools
from va_app.store.corpus import Corpus, ingest_lock

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    """A small local Ray for the module (2 CPUs, a 100 MB object store): seconds to start."""
    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=100 << 20
    )
    yield
    shutdown_pools()
    ray.shutdown()


@pytest.mark.parametrize("precision", ["float32", "float16"])
def test_ray_shards_give_the_feeds_and_scores_of_one_box(settings, local_ray, precision):
    truth = make_synthetic_corpus(settings, videos=12, shots_per_video=40, dim=32)
    corpus = Corpus(settings)
    try:
        with ingest_lock(settings):
            corpus.compact_matrix(precision=precision)
        one_box = CorpusMatrix.load(corpus)
    finally:
        corpus.close()
    assert one_box.source is not None and (one_box.X16 is not None) == (precision == "float16")
    on_ray = replace(one_box, scoring=Scoring(backend="ray", shards=2))
    ids = list(one_box.ids)
    labels = TrainingSet(
        positives=[i for i in ids[::5] if truth[i]][:15],
        negatives=[i for i in ids[::5] if not truth[i]][:15],
    )
    for hide in (False, True):
        here = build(one_box, labels, seed=4, hide_labelled=hide)
        there = build(on_ray, labels, seed=4, hide_labelled=hide)
        assert there.feeds == here.feeds
        shown = one_box.rows([i for feed in here.feeds.values() for i in feed])
        # float32's values (to the last bit: BLAS may sum a gathered row in another order)
        assert np.abs(there.probabilities[shown] - here.probabilities[shown]).max() <= 1.2e-7
        # every other shot: float16's pass on each shard (within its rounding, 2 decimals shown)
        assert np.abs(there.probabilities - here.probabilities).max() < 1e-3
        assert there.model_score == here.model_score and there.data_score == here.data_score
    if precision == "float32":  # and equal to the plain float32 pass over all rows
        assert np.array_equal(there.probabilities, here.probabilities)
