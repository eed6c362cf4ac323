"""Captions of demo shots: varied phrasings of what a describer sees, never the camera."""

from __future__ import annotations

import numpy as np

from va_app.datasets.demo.captions import UNCAPTIONED_WORDS, caption_shot
from va_app.datasets.demo.plan import plan_corpus


def _shots(n: int = 600):
    return [shot for video in plan_corpus(n, seed=3, fps=24) for shot in video.shots]


def test_captions_never_name_camera_moves_or_shot_types() -> None:
    rng = np.random.default_rng(0)
    for shot in _shots():
        for _ in range(5):
            words = set(caption_shot(shot, rng).replace(",", " ").replace("'", " ").split())
            assert not words & UNCAPTIONED_WORDS, caption_shot(shot, rng)


def test_one_shot_gets_many_phrasings_and_they_say_what_it_shows() -> None:
    rng = np.random.default_rng(1)
    chase = next(s for s in _shots() if s.car_chase and not s.police_car)
    captions = [caption_shot(chase, rng) for _ in range(200)]
    assert len(set(captions)) > 30
    cars = ("car", "chase", "pursuit", "race", "racing")
    times = {
        "day": ("day", "noon", "afternoon"),
        "night": ("night", "dark", "midnight"),
        "golden_hour": ("golden", "sunset", "dusk", "evening", "sun"),
    }[chase.time_of_day]
    assert all(any(w in c for w in cars + times) for c in captions)
    assert sum(any(w in c for w in cars) for c in captions) > 150


def test_the_same_seed_draws_the_same_captions() -> None:
    shots = _shots(60)
    a = [caption_shot(s, np.random.default_rng(5)) for s in shots]
    b = [caption_shot(s, np.random.default_rng(5)) for s in shots]
    assert a == b
