"""Captions of demo shots, as people would write them: what the demo's own CLIP learns from.

Owns :func:`caption_shot`: one natural sentence about a planned shot, drawn from varied
phrasings and synonyms ("a car chase", "cars racing through the streets at night", "police
pursuit", ...). Like the alt texts real CLIP learnt from, the captions say only what a
describer notices — the time of day, the place, the vehicles, how many people, the weather —
and never the camera (pans, zooms, handheld shake, a tilted Dutch angle) or the editor's shot
types ("close-up", "establishing shot", "two-shot"). Those concepts stay hard for text search
and need active learning, as they do with real CLIP.
"""

from __future__ import annotations

import numpy as np

from va_app.datasets.demo.plan import ShotPlan

#: Words a caption never contains: the concepts text search is meant to miss.
UNCAPTIONED_WORDS = frozenset(
    {
        "pan",
        "panning",
        "zoom",
        "zooming",
        "static",
        "handheld",
        "shaky",
        "tilted",
        "dutch",
        "angle",
        "close",
        "closeup",
        "establishing",
        "shot",
    }
)

PLACES: dict[str, tuple[str, ...]] = {
    "skyline": (
        "a city skyline",
        "the skyline of a big city",
        "a view over the city",
        "a cityscape",
        "tall buildings on the horizon",
        "downtown towers seen from far away",
        "the city across the water",
        "a wide view of a metropolis",
        "skyscrapers of a city",
    ),
    "road": (
        "a street",
        "a road",
        "a city street",
        "an avenue",
        "a quiet street",
        "a road through town",
        "an empty road",
        "a street lined with buildings",
    ),
    "landscape": (
        "the countryside",
        "rolling hills",
        "green hills and trees",
        "a landscape",
        "fields and trees",
        "open country",
        "a valley with trees",
        "nature, hills and sky",
    ),
    "room": (
        "an empty room",
        "a room",
        "inside a house",
        "an interior",
        "an apartment",
        "a living room with furniture",
        "a room with a window",
        "indoors, a quiet room",
    ),
}
CHASES = (
    "a car chase",
    "cars racing through the streets",
    "a high-speed chase",
    "speeding cars",
    "cars chasing each other down the road",
    "a pursuit on the road",
    "fast cars on the road",
    "a street race",
    "cars racing by",
    "a chase in the city",
    "racing cars",
)
POLICE_CHASES = (
    "a police chase",
    "police pursuit",
    "a police car chasing a car",
    "cops chasing a car",
    "a police car with flashing lights",
    "police cars racing through the streets",
    "a police car in pursuit",
)
PEOPLE: dict[str, tuple[str, ...]] = {
    "close_up": (
        "a face",
        "a person's face",
        "a face looking straight ahead",
        "someone's face",
        "the face of a person",
        "a portrait of a face",
    ),
    "single": (
        "a person",
        "one person",
        "someone standing",
        "a lone figure",
        "a single person",
        "a man or a woman alone",
    ),
    "two": (
        "two people",
        "a couple",
        "two friends",
        "a pair of people",
        "two persons talking",
        "two people side by side",
    ),
    "group": (
        "a group of people",
        "a crowd",
        "several people",
        "many people",
        "a gathering of friends",
        "a group of friends",
        "people together",
    ),
}
INSIDE = ("in a room", "indoors", "inside", "inside a house", "in an apartment")
OUTSIDE = ("outside", "outdoors", "in the open air", "out in the street")
TIMES: dict[str, tuple[str, ...]] = {
    "day": (
        "during the day",
        "in daylight",
        "on a sunny day",
        "by day",
        "in the afternoon",
        "in bright daylight",
        "at noon",
    ),
    "night": (
        "at night",
        "after dark",
        "in the middle of the night",
        "at midnight",
        "by night",
        "in the dark",
        "on a dark night",
    ),
    "golden_hour": (
        "at golden hour",
        "at sunset",
        "at dusk",
        "in the evening light",
        "in warm sunset light",
        "as the sun goes down",
        "in the golden hour",
    ),
}
RAIN = ("in the rain", "in the pouring rain", "while it rains", "in a downpour", "rain falling")
#: Short captions, as people also type them: one thing the shot is about.
SHORT = {
    "day": ("day", "daytime"),
    "night": ("night", "nighttime"),
    "golden_hour": ("golden hour", "sunset"),
}
# How often a caption leaves out the time of day or the subject, so each part is learnt alone.
# The light is the easiest thing to see: half the captions leave it out, so the model must
# also tell shots apart by what they show.
DROP_TIME = 0.5
DROP_SUBJECT = 0.12
SHORT_CAPTION = 0.1


def caption_shot(plan: ShotPlan, rng: np.random.Generator) -> str:
    """One caption of ``plan``, drawn with ``rng`` (many differ for the same shot)."""
    subject = _subject_phrase(plan, rng)
    if rng.random() < SHORT_CAPTION:
        return _short_caption(plan, subject, rng)
    parts = []
    if rng.random() >= DROP_SUBJECT:
        parts.append(subject)
    if plan.rain:
        parts.append(_pick(RAIN, rng))
    if rng.random() >= DROP_TIME or not parts:
        parts.append(_pick(TIMES[plan.time_of_day], rng))
    if len(parts) > 1 and rng.random() < 0.3:
        parts = [parts[-1] + ","] + parts[:-1]  # "at night, a car chase"
    return " ".join(parts)


def _subject_phrase(plan: ShotPlan, rng: np.random.Generator) -> str:
    if plan.police_car:
        return _pick(POLICE_CHASES, rng)
    if plan.car_chase:
        return _pick(CHASES, rng)
    if plan.subject in PEOPLE:
        where = INSIDE if plan.interior else OUTSIDE
        who = _pick(PEOPLE[plan.subject], rng)
        return f"{who} {_pick(where, rng)}" if rng.random() < 0.6 else who
    return _pick(PLACES[plan.subject], rng)


def _short_caption(plan: ShotPlan, subject: str, rng: np.random.Generator) -> str:
    options = [*SHORT[plan.time_of_day], subject]
    if plan.car_chase:
        options += ["car chase", "police chase" if plan.police_car else "chase"]
    if plan.rain:
        options += ["rain", "rainy"]
    return _pick(tuple(options), rng)


def _pick(options: tuple[str, ...], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]
