"""Planning the demo world: what every shot shows and how it is filmed, before any pixel.

Owns the frequencies of subjects, times of day and camera moves (as films have them),
:class:`ShotPlan` (which decides a shot's ground truth), :class:`VideoPlan` and the movies'
titles, genres and tags. Cheap: a plan of thousands of shots takes milliseconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from va_app.datasets.demo.manifest import DEMO_CONCEPTS

SHOTS_PER_VIDEO = 14
SHOT_SECONDS = (1.0, 3.0)
GENRES = ("action", "drama", "documentary", "thriller", "romance", "comedy")

# Probability of each subject of a shot (what the camera looks at).
SUBJECT_WEIGHTS = {
    "skyline": 0.15,
    "road": 0.20,
    "landscape": 0.08,
    "room": 0.09,
    "close_up": 0.14,
    "single": 0.08,
    "two": 0.14,
    "group": 0.12,
}
PEOPLE_SUBJECTS = ("close_up", "single", "two", "group")
# Times of day and camera moves as films have them: mostly day and a locked-off camera;
# pans and zooms are the exception. (Version 1 spread them almost evenly — 20–36 % each — and
# a concept that common is found as fast by labelling random shots as by searching, which is
# not the job the tool is for: the paper's labels have a median positive rate of 2.5 %.)
TIME_WEIGHTS = {"day": 0.55, "night": 0.30, "golden_hour": 0.15}
CAMERA_WEIGHTS = {"static": 0.55, "pan": 0.13, "zoom": 0.12, "handheld": 0.20}
CHASE_SHARE_OF_ROADS = 0.6
INTERIOR_SHARE_OF_PEOPLE = 0.5
# Rare concepts (each ~3 % of shots): a police car in some chases, rain on some outdoor shots,
# a tilted camera on a few shots of any kind.
POLICE_SHARE_OF_CHASES = 0.3
RAIN_SHARE_OF_OUTDOORS = 0.05
DUTCH_ANGLE_SHARE = 0.03
DUTCH_ANGLE_DEGREES = (9.0, 16.0)

# A video keeps its main time of day for most shots, as real scenes do.
MAIN_TIME_SHARE = 0.6


@dataclass(frozen=True)
class ShotPlan:
    """What one shot shows and how the camera films it; decides its ground truth."""

    subject: str
    time_of_day: str
    interior: bool
    camera: str
    car_chase: bool
    n_frames: int
    police_car: bool = False
    rain: bool = False
    tilt_degrees: float = 0.0  # a Dutch angle when not 0
    detail_seed: int = 0  # draws the rare details, apart from the shot's main random stream

    def attributes(self) -> dict[str, bool]:
        values = {
            "day": self.time_of_day == "day",
            "night": self.time_of_day == "night",
            "golden_hour": self.time_of_day == "golden_hour",
            "interior": self.interior,
            "establishing_shot": self.subject == "skyline",
            "close_up": self.subject == "close_up",
            "two_shot": self.subject == "two",
            "group_shot": self.subject == "group",
            "car_chase": self.car_chase,
            "police_car": self.police_car,
            "rain": self.rain,
            "dutch_angle": self.tilt_degrees != 0.0,
        }
        values.update({camera: self.camera == camera for camera in CAMERA_WEIGHTS})
        return {concept: values[concept] for concept in DEMO_CONCEPTS}


@dataclass(frozen=True)
class VideoPlan:
    index: int
    seed: int
    title: str
    genre: str
    tags: tuple[str, ...]
    shots: tuple[ShotPlan, ...]

    @property
    def file(self) -> str:
        return f"demo_{self.index:03d}.mp4"


def plan_corpus(n_shots: int, *, seed: int, fps: int) -> list[VideoPlan]:
    """Decide every video's shots and metadata (cheap; no pixels yet)."""
    rng = np.random.default_rng([seed, 0])
    sizes = _video_sizes(n_shots, rng)
    # Videos take turns at each main time of day, so no time of day swamps a small corpus.
    main_times = tuple(str(t) for t in rng.permutation(list(TIME_WEIGHTS)))
    return [
        _plan_video(i, n, seed=seed, fps=fps, main_times=main_times, rng=rng)
        for i, n in enumerate(sizes)
    ]


def _video_sizes(n_shots: int, rng: np.random.Generator) -> list[int]:
    """About :data:`SHOTS_PER_VIDEO` shots per video, a little uneven, summing to n_shots."""
    n_videos = max(1, round(n_shots / SHOTS_PER_VIDEO))
    sizes = [len(part) for part in np.array_split(np.arange(n_shots), n_videos)]
    for _ in range(n_videos):
        a, b = rng.integers(0, n_videos, size=2)
        move = int(rng.integers(0, 3))
        if a != b and sizes[a] - move >= 8:
            sizes[a], sizes[b] = sizes[a] - move, sizes[b] + move
    return sizes


def _choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _plan_video(
    index: int,
    n: int,
    *,
    seed: int,
    fps: int,
    main_times: tuple[str, ...],
    rng: np.random.Generator,
) -> VideoPlan:
    genre = GENRES[int(rng.integers(len(GENRES)))]
    main_time = main_times[index % len(main_times)]
    shots: list[ShotPlan] = []
    while len(shots) < n:
        shot = _plan_shot(rng, genre=genre, main_time=main_time, fps=fps)
        if shots and shot.subject == shots[-1].subject:
            # Editors cut to something else; it also keeps every cut easy to see.
            shot = _plan_shot(rng, genre=genre, main_time=main_time, fps=fps)
        shots.append(shot)
    rare_rng = np.random.default_rng([seed, 2, index])
    shots = [_with_rare_details(shot, rare_rng) for shot in shots]
    return VideoPlan(
        index=index,
        seed=seed,
        title=_title(index, main_time, shots, rng),
        genre=genre,
        tags=_tags(genre, shots),
        shots=tuple(shots),
    )


def _plan_shot(rng: np.random.Generator, *, genre: str, main_time: str, fps: int) -> ShotPlan:
    weights = dict(SUBJECT_WEIGHTS)
    if genre in ("action", "thriller"):
        weights["road"] *= 1.5
    subject = _choice(rng, weights)
    time_of_day = main_time if rng.random() < MAIN_TIME_SHARE else _choice(rng, TIME_WEIGHTS)
    interior = subject == "room" or (
        subject in PEOPLE_SUBJECTS and rng.random() < INTERIOR_SHARE_OF_PEOPLE
    )
    return ShotPlan(
        subject=subject,
        time_of_day=time_of_day,
        interior=interior,
        camera=_choice(rng, CAMERA_WEIGHTS),
        car_chase=subject == "road" and rng.random() < CHASE_SHARE_OF_ROADS,
        n_frames=int(round(rng.uniform(*SHOT_SECONDS) * fps)),
    )


def _with_rare_details(shot: ShotPlan, rng: np.random.Generator) -> ShotPlan:
    """The rare concepts of a planned shot, drawn from their own stream (see RENDERER_VERSION)."""
    police, rain, tilt = rng.random(3)
    degrees = rng.uniform(*DUTCH_ANGLE_DEGREES) * (1 if rng.random() < 0.5 else -1)
    return replace(
        shot,
        police_car=bool(shot.car_chase and police < POLICE_SHARE_OF_CHASES),
        rain=bool(not shot.interior and rain < RAIN_SHARE_OF_OUTDOORS),
        tilt_degrees=float(degrees) if tilt < DUTCH_ANGLE_SHARE else 0.0,
        detail_seed=int(rng.integers(2**31)),
    )


TITLE_ADJECTIVES = {
    "day": ("Bright", "Summer", "Morning", "Open"),
    "golden_hour": ("Golden", "Sunset", "Amber", "Late"),
    "night": ("Night", "Midnight", "Neon", "Dark"),
}
TITLE_NOUNS = {
    "skyline": ("Skyline", "Harbour", "Metropolis"),
    "road": ("Avenue", "Highway", "Pursuit"),
    "landscape": ("Valley", "Hills", "Country"),
    "room": ("Rooms", "Apartment", "Corridors"),
    "close_up": ("Faces", "Portrait", "Confession"),
    "single": ("Stranger", "Visitor", "Witness"),
    "two": ("Encounter", "Partners", "Duet"),
    "group": ("Reunion", "Gathering", "Crowd"),
}
SUBJECT_TAGS = {
    "skyline": "city",
    "road": "street",
    "landscape": "nature",
    "room": "interior",
    "close_up": "people",
    "single": "people",
    "two": "people",
    "group": "people",
}
TIME_TAGS = {"day": "daylight", "golden_hour": "sunset", "night": "night"}


def _title(index: int, main_time: str, shots: Sequence[ShotPlan], rng: np.random.Generator) -> str:
    subject = Counter(s.subject for s in shots).most_common(1)[0][0]
    adjective = TITLE_ADJECTIVES[main_time][int(rng.integers(4))]
    noun = TITLE_NOUNS[subject][int(rng.integers(3))]
    return f"{adjective} {noun} #{index + 1}"


def _tags(genre: str, shots: Sequence[ShotPlan]) -> tuple[str, ...]:
    tags = {genre, TIME_TAGS[Counter(s.time_of_day for s in shots).most_common(1)[0][0]]}
    tags |= {SUBJECT_TAGS[s.subject] for s in shots}
    if any(s.car_chase for s in shots):
        tags.add("cars")
    if sum(s.interior for s in shots) >= len(shots) / 3:
        tags.add("interior")
    return tuple(sorted(tags))
