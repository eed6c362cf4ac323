"""The index-build note: counts, rate and ETA from successive looks at the index."""

import pytest

from va_app.search.index_progress import STALLED_AFTER_S, IndexProgress, IndexWatch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_and_eta_come_from_the_count_growing_between_looks():
    clock = Clock()
    watch = IndexWatch(clock)
    first = watch.look(100_000, 500_000)
    assert first.per_s is None and "ETA measuring" in first.describe()
    clock.now += 20
    later = watch.look(140_000, 500_000)
    assert later.per_s == pytest.approx(2000)
    assert later.eta_s == pytest.approx(180)
    assert later.describe() == (
        "index building: 140,000 of 500,000, ETA 3 min (2,000/s); searching exactly meanwhile."
    )


def test_a_count_that_stops_growing_says_the_index_is_not_being_built():
    clock = Clock()
    watch = IndexWatch(clock)
    watch.look(10, 500_000)
    clock.now += STALLED_AFTER_S + 1
    stalled = watch.look(10, 500_000)
    assert stalled.stalled and stalled.eta_s is None
    assert "python -m va_app reindex" in stalled.describe()


def test_a_restarted_build_measures_its_rate_afresh():
    clock = Clock()
    watch = IndexWatch(clock)
    watch.look(400_000, 500_000)
    clock.now += 10
    watch.look(0, 500_000)  # reindex dropped the collection
    clock.now += 10
    assert watch.look(50_000, 500_000).per_s == pytest.approx(5000)


def test_an_index_holding_more_than_the_corpus_is_out_of_step():
    progress = IndexProgress(510, 500)
    assert not progress.complete and progress.eta_s is None
    assert "out of step" in progress.describe()


def test_complete_means_every_shot():
    assert IndexProgress(500, 500).complete and IndexProgress(500, 500).eta_s == 0
    with pytest.raises(ValueError):
        IndexProgress(-1, 5)
