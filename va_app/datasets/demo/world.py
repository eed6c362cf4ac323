"""The demo world: a procedural corpus of short movies whose shots carry ground truth.

Owns :func:`render_demo_corpus` (draws and encodes the movies, writes ``manifest.json``),
:class:`DemoManifest` (reads it back and answers "what is really in this shot?") and the demo
concepts with their descriptions. Everything is drawn with OpenCV primitives on NumPy arrays:
skylines, streets with cars, landscapes, rooms, people and faces, lit by day, golden-hour or
night light and filmed by a static, panning, zooming or handheld camera. Consecutive shots are
joined by hard cuts that differ clearly in colour, so a content-based shot detector finds each
cut exactly. The same seed always gives the same corpus.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from va_app.errors import NotFoundError, ValidationError
from va_app.video.writer import write_video

DEMO_CONCEPTS: tuple[str, ...] = (
    "day",
    "night",
    "golden_hour",
    "interior",
    "establishing_shot",
    "close_up",
    "two_shot",
    "group_shot",
    "car_chase",
    "pan",
    "zoom",
    "static",
    "handheld",
)

DEMO_CONCEPT_DESCRIPTIONS: dict[str, str] = {
    "day": "Daylight: blue sky, bright neutral light.",
    "night": "Night: dark blue light, lit windows, lamps, stars.",
    "golden_hour": "Golden hour: low warm orange sunlight, long sunset sky.",
    "interior": "Inside a room: walls, floor, furniture, a window.",
    "establishing_shot": "Establishing shot: a wide skyline of many buildings under the sky.",
    "close_up": "Close-up: one big face fills the frame.",
    "two_shot": "Two-shot: exactly two people in frame.",
    "group_shot": "Group shot: three or more people in frame.",
    "car_chase": "Car chase: cars racing fast across a road.",
    "pan": "Camera pan: the camera sweeps steadily sideways (or up/down).",
    "zoom": "Camera zoom: the picture grows or shrinks steadily around its centre.",
    "static": "Static camera: the frame does not move (things in it may).",
    "handheld": "Handheld camera: the frame shakes and wobbles without going anywhere.",
}

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
# Bump when the pictures change for the same seed: older renders are then redone.
# 2: film-like frequencies of camera moves and times of day (see CAMERA_WEIGHTS).
RENDERER_VERSION = 2
VIDEO_PATTERN = "demo_*.mp4"
# A content-detector score (mean |ΔH|,|ΔS|,|ΔV|) well above PySceneDetect's default 27,
# so H.264 noise cannot hide a cut.
MIN_CUT_SCORE = 40.0
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
# Night light comes in several colours (moonlight, fluorescent, neon, haze): it keeps cuts
# between two night shots clearly visible.
NIGHT_TINTS = ((0.28, 0.32, 0.55), (0.22, 0.40, 0.42), (0.40, 0.24, 0.52), (0.30, 0.30, 0.36))
# At night people get a cool key light (RGB gain floor), as films light actors.
NIGHT_KEY_LIGHT = np.array([0.62, 0.66, 0.85])
# A video keeps its main time of day for most shots, as real scenes do.
MAIN_TIME_SHARE = 0.6

Size = tuple[int, int]
Colour = tuple[int, int, int]
ProgressFn = Callable[[int, int], None]


# --------------------------------------------------------------------------- manifest values


@dataclass(frozen=True)
class DemoShot:
    """One rendered shot: frames ``[start_frame, end_frame)`` and its true concepts."""

    start_frame: int
    end_frame: int
    attributes: dict[str, bool]

    def to_json(self) -> dict:
        return {
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "attributes": dict(self.attributes),
        }

    @classmethod
    def from_json(cls, data: dict) -> DemoShot:
        attributes = {str(k): bool(v) for k, v in data["attributes"].items()}
        return cls(int(data["start_frame"]), int(data["end_frame"]), attributes)


@dataclass(frozen=True)
class DemoVideo:
    """One rendered movie file (relative to the manifest's folder) with its metadata."""

    file: str
    title: str
    genre: str
    tags: tuple[str, ...]
    fps: float
    shots: tuple[DemoShot, ...]

    @property
    def n_frames(self) -> int:
        return self.shots[-1].end_frame if self.shots else 0

    def to_json(self) -> dict:
        return {
            "file": self.file,
            "title": self.title,
            "genre": self.genre,
            "tags": list(self.tags),
            "fps": self.fps,
            "n_frames": self.n_frames,
            "shots": [shot.to_json() for shot in self.shots],
        }

    @classmethod
    def from_json(cls, data: dict) -> DemoVideo:
        shots = tuple(DemoShot.from_json(s) for s in data["shots"])
        return cls(
            str(data["file"]),
            str(data["title"]),
            str(data["genre"]),
            tuple(data["tags"]),
            float(data["fps"]),
            shots,
        )


@dataclass(frozen=True)
class DemoManifest:
    """What :func:`render_demo_corpus` made: the movies, their shots and the ground truth."""

    root: Path
    seed: int
    n_shots: int
    fps: float
    size: Size
    concepts: tuple[str, ...]
    videos: tuple[DemoVideo, ...]
    version: int = MANIFEST_VERSION
    renderer: int = RENDERER_VERSION

    @property
    def path(self) -> Path:
        return self.root / MANIFEST_NAME

    @property
    def video_paths(self) -> list[Path]:
        return [self.root / video.file for video in self.videos]

    def is_complete(self) -> bool:
        """Whether the manifest and every movie it names are on disk."""
        return self.path.is_file() and all(p.is_file() for p in self.video_paths)

    def concept_rates(self) -> dict[str, float]:
        """Share of shots that are positive for each concept."""
        shots = [shot for video in self.videos for shot in video.shots]
        return {c: sum(s.attributes[c] for s in shots) / max(len(shots), 1) for c in self.concepts}

    def video(self, video_file: str | Path) -> DemoVideo:
        name = Path(video_file).name
        for video in self.videos:
            if video.file == name:
                return video
        raise NotFoundError(f"{name} is not a demo video of {self.root}")

    def ground_truth_for(
        self, video_file: str | Path, start_frame: int, end_frame: int
    ) -> dict[str, bool]:
        """Concepts of the rendered shot that overlaps frames ``[start, end)`` the most."""
        video = self.video(video_file)
        overlaps = [
            min(end_frame, s.end_frame) - max(start_frame, s.start_frame) for s in video.shots
        ]
        best = int(np.argmax(overlaps))
        if overlaps[best] <= 0:
            raise NotFoundError(
                f"frames [{start_frame}, {end_frame}) lie outside every shot of {video.file}"
            )
        return dict(video.shots[best].attributes)

    def to_json(self) -> dict:
        return {
            "version": self.version,
            "renderer": self.renderer,
            "seed": self.seed,
            "n_shots": self.n_shots,
            "fps": self.fps,
            "size": list(self.size),
            "concepts": list(self.concepts),
            "videos": [video.to_json() for video in self.videos],
        }

    def save(self) -> None:
        """Write ``manifest.json`` atomically: it only appears once every movie is written."""
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1))
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, path: str | Path) -> DemoManifest:
        """Read a manifest from its file or from the folder that holds it."""
        path = Path(path)
        if path.is_dir():
            path = path / MANIFEST_NAME
        try:
            data = json.loads(path.read_text())
            return cls._from_json(path.parent, data)
        except FileNotFoundError as exc:
            raise NotFoundError(f"no demo manifest at {path}: render the demo first") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise ValidationError(f"{path} is not a valid demo manifest ({exc})") from exc

    @classmethod
    def _from_json(cls, root: Path, data: dict) -> DemoManifest:
        return cls(
            root=root,
            seed=int(data["seed"]),
            n_shots=int(data["n_shots"]),
            fps=float(data["fps"]),
            size=(int(data["size"][0]), int(data["size"][1])),
            concepts=tuple(data["concepts"]),
            videos=tuple(DemoVideo.from_json(v) for v in data["videos"]),
            version=int(data["version"]),
            renderer=int(data.get("renderer", 0)),
        )


# --------------------------------------------------------------------------- entry point


def render_demo_corpus(
    out_dir: str | Path,
    *,
    n_shots: int = 400,
    seed: int = 0,
    fps: int = 24,
    size: Size = (256, 144),
    progress: ProgressFn | None = None,
) -> DemoManifest:
    """Render the demo movies into ``out_dir`` and return their manifest.

    ``size`` is (width, height), both even. Nothing is rendered when ``out_dir`` already holds
    a complete corpus with the same seed, shot count, frame rate and size; otherwise an older
    corpus there (its manifest and ``demo_*.mp4`` movies) is replaced. ``progress(done, total)``
    is called after each movie.
    """
    _validate_options(n_shots, fps, size)
    out_dir = Path(out_dir)
    existing = _existing_corpus(out_dir, seed=seed, n_shots=n_shots, fps=fps, size=size)
    if existing is not None:
        return existing
    out_dir.mkdir(parents=True, exist_ok=True)
    _clear_previous_render(out_dir)
    plans = plan_corpus(n_shots, seed=seed, fps=fps)
    videos = []
    for done, plan in enumerate(plans, start=1):
        videos.append(_render_video(out_dir, plan, size=size, fps=fps))
        if progress is not None:
            progress(done, len(plans))
    manifest = DemoManifest(out_dir, seed, n_shots, float(fps), size, DEMO_CONCEPTS, tuple(videos))
    manifest.save()
    return manifest


def _validate_options(n_shots: int, fps: int, size: Size) -> None:
    if n_shots < 1:
        raise ValidationError(f"the demo needs at least one shot (n_shots={n_shots})")
    if fps <= 0:
        raise ValidationError(f"fps must be positive (fps={fps})")
    width, height = size
    if width < 64 or height < 36 or width % 2 or height % 2:
        raise ValidationError(f"demo frame size must be even and at least 64x36, got {size}")


def _existing_corpus(out_dir: Path, **expected: object) -> DemoManifest | None:
    try:
        manifest = DemoManifest.load(out_dir)
    except (NotFoundError, ValidationError):
        return None
    found = {
        "seed": manifest.seed,
        "n_shots": manifest.n_shots,
        "fps": manifest.fps,
        "size": manifest.size,
    }
    same = all(found[k] == v for k, v in expected.items())
    current = manifest.version == MANIFEST_VERSION and manifest.renderer == RENDERER_VERSION
    return manifest if same and current and manifest.is_complete() else None


def _clear_previous_render(out_dir: Path) -> None:
    """Forget an older corpus first: a half-finished render must never look complete, and
    movies of a bigger old corpus must not be ingested with the new one."""
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    for old in out_dir.glob(VIDEO_PATTERN):
        old.unlink()


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class ShotPlan:
    """What one shot shows and how the camera films it; decides its ground truth."""

    subject: str
    time_of_day: str
    interior: bool
    camera: str
    car_chase: bool
    n_frames: int

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


# --------------------------------------------------------------------------- rendering videos


def _render_video(out_dir: Path, plan: VideoPlan, *, size: Size, fps: int) -> DemoVideo:
    rng = np.random.default_rng([plan.seed, 1, plan.index])
    look = _VideoLook.draw(rng)
    spans: list[DemoShot] = []

    def frames() -> Iterator[np.ndarray]:
        previous: np.ndarray | None = None
        start = 0
        for shot in plan.shots:
            renderer = _shot_after(previous, shot, size=size, fps=fps, look=look, rng=rng)
            for i in range(shot.n_frames):
                previous = renderer.frame(i)
                yield previous
            spans.append(DemoShot(start, start + shot.n_frames, shot.attributes()))
            start += shot.n_frames

    write_video(out_dir / plan.file, frames(), fps=fps)
    return DemoVideo(plan.file, plan.title, plan.genre, plan.tags, float(fps), tuple(spans))


def _shot_after(
    previous: np.ndarray | None,
    plan: ShotPlan,
    *,
    size: Size,
    fps: float,
    look: _VideoLook,
    rng: np.random.Generator,
) -> _ShotRenderer:
    """A renderer whose first frame differs from ``previous`` enough to read as a hard cut."""
    best, best_score = None, -1.0
    for _ in range(8):
        renderer = _ShotRenderer.build(plan, size=size, fps=fps, look=look, rng=rng)
        score = math.inf if previous is None else cut_score(previous, renderer.frame(0))
        if score >= MIN_CUT_SCORE:
            return renderer
        if score > best_score:
            best, best_score = renderer, score
    return best


def cut_score(frame_a: np.ndarray, frame_b: np.ndarray) -> float:
    """PySceneDetect ContentDetector's default score: mean |Δhue|, |Δsat|, |Δvalue|."""
    hsv_a = cv2.cvtColor(frame_a, cv2.COLOR_RGB2HSV)
    hsv_b = cv2.cvtColor(frame_b, cv2.COLOR_RGB2HSV)
    return float(np.mean(cv2.absdiff(hsv_a, hsv_b)))


@dataclass(frozen=True)
class _VideoLook:
    """A per-video colour grade, so movies differ a little from each other."""

    tint: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _VideoLook:
        return cls(rng.uniform(0.92, 1.08, size=3))


# --------------------------------------------------------------------------- camera


@dataclass(frozen=True)
class _Camera:
    """Per-frame world->frame affine matrices and the world the camera needs to see."""

    matrices: np.ndarray
    world_size: Size
    # The middle frame's widest view in world pixels: (x0, y0, width, height).
    view: tuple[float, float, float, float]


@dataclass(frozen=True)
class _Moves:
    """How far a camera move goes: pan length (share of frame width), zoom factor range."""

    pan: tuple[float, float]
    zoom: tuple[float, float]


SCENE_MOVES = _Moves(pan=(0.3, 0.5), zoom=(1.45, 1.9))
# Moves that keep the people of a two-shot or group in frame, as a camera operator would.
PEOPLE_MOVES = _Moves(pan=(0.18, 0.28), zoom=(1.3, 1.5))


def _camera(plan: ShotPlan, size: Size, fps: float, rng: np.random.Generator) -> _Camera:
    n = plan.n_frames
    moves = PEOPLE_MOVES if plan.subject in PEOPLE_SUBJECTS else SCENE_MOVES
    centre, zoom, angle = _camera_path(plan.camera, n, size, fps, moves, rng)
    corners = _frame_corners_in_world(centre, zoom, angle, size)
    margin = 4.0
    low = corners.min(axis=(0, 1)) - margin
    high = corners.max(axis=(0, 1)) + margin
    centre = centre - low
    world = (int(math.ceil(high[0] - low[0])), int(math.ceil(high[1] - low[1])))
    matrices = _affine(centre, zoom, angle, size)
    mid = centre[n // 2]
    view_w, view_h = size[0] / zoom.min(), size[1] / zoom.min()
    return _Camera(matrices, world, (mid[0] - view_w / 2, mid[1] - view_h / 2, view_w, view_h))


def _camera_path(
    kind: str, n: int, size: Size, fps: float, moves: _Moves, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """View centre (n, 2) in world pixels, zoom (n,) in frame px per world px, angle (n,)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    centre = np.zeros((n, 2))
    zoom = np.ones(n)
    angle = np.zeros(n)
    if kind == "pan":
        direction = _pan_direction(rng)
        centre = (t - 0.5) * rng.uniform(*moves.pan) * size[0] * direction
    elif kind == "zoom":
        factor = rng.uniform(*moves.zoom)
        ramp = t[:, 0] if rng.random() < 0.5 else 1.0 - t[:, 0]
        zoom = factor**ramp
    elif kind == "handheld":
        centre, angle = _shake(n, size, fps, rng)
    return centre, zoom, angle


def _pan_direction(rng: np.random.Generator) -> np.ndarray:
    roll = rng.random()
    if roll < 0.65:
        degrees = 0.0
    elif roll < 0.8:
        degrees = 90.0
    else:
        degrees = rng.choice([35.0, -35.0])
    theta = math.radians(degrees + (180.0 if rng.random() < 0.5 else 0.0))
    return np.array([math.cos(theta), math.sin(theta)])


def _shake(
    n: int, size: Size, fps: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A handheld wobble: a few slow random sinusoids per axis, several pixels strong.

    Slow enough (at most ~4 px per frame) that no frame-to-frame change looks like a cut.
    """
    seconds = np.arange(n)[:, None] / fps
    freqs = rng.uniform(0.5, 1.6, size=(1, 3))
    phases = rng.uniform(0, 2 * math.pi, size=(2, 3))
    amplitude = rng.uniform(0.025, 0.04) * size[0]
    wave_x = np.sin(2 * math.pi * freqs * seconds + phases[0]).sum(axis=1)
    wave_y = np.sin(2 * math.pi * freqs[:, ::-1] * seconds + phases[1]).sum(axis=1)
    centre = np.stack([wave_x, 0.7 * wave_y], axis=1) * amplitude / 1.7
    degrees = rng.uniform(0.4, 1.2)
    angle = np.sin(2 * math.pi * freqs[0, 1] * seconds[:, 0] + phases[0, 2]) * degrees
    return centre, np.radians(angle)


def _rotation(angle: np.ndarray) -> np.ndarray:
    cos, sin = np.cos(angle), np.sin(angle)
    return np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)


def _frame_corners_in_world(
    centre: np.ndarray, zoom: np.ndarray, angle: np.ndarray, size: Size
) -> np.ndarray:
    half = np.array([size[0], size[1]]) / 2.0
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half
    inverse = _rotation(-angle) / zoom[:, None, None]
    return centre[:, None, :] + np.einsum("nij,cj->nci", inverse, corners)


def _affine(centre: np.ndarray, zoom: np.ndarray, angle: np.ndarray, size: Size) -> np.ndarray:
    """frame = zoom * R(angle) * (world - centre) + frame centre."""
    linear = _rotation(angle) * zoom[:, None, None]
    half = np.array([size[0], size[1]]) / 2.0
    shift = half - np.einsum("nij,nj->ni", linear, centre)
    return np.concatenate([linear, shift[:, :, None]], axis=2).astype(np.float32)


# --------------------------------------------------------------------------- the world


@dataclass
class _Canvas:
    """A world being drawn: reflected-light pixels, light sources, and where the lights are."""

    base: np.ndarray
    glow: np.ndarray
    lit: np.ndarray
    view: tuple[float, float, float, float]
    time_of_day: str
    # The picture right after the sky was painted: where it is unchanged, the sky is open.
    sky: np.ndarray | None = None
    horizon: int = 0
    # Where people are: at night a key light keeps them visible.
    people: np.ndarray | None = None

    @classmethod
    def blank(cls, world: Size, view: tuple, time_of_day: str) -> _Canvas:
        w, h = world
        base = np.zeros((h, w, 3), np.uint8)
        return cls(base, np.zeros_like(base), np.zeros((h, w), np.uint8), view, time_of_day)

    @property
    def width(self) -> int:
        return self.base.shape[1]

    @property
    def height(self) -> int:
        return self.base.shape[0]

    def x(self, fraction: float) -> int:
        """World x of a fraction of the view's width."""
        return int(round(self.view[0] + fraction * self.view[2]))

    def y(self, fraction: float) -> int:
        return int(round(self.view[1] + fraction * self.view[3]))

    def px(self, fraction: float) -> int:
        """A length as a fraction of the view's height, in world pixels (at least 1)."""
        return max(1, int(round(fraction * self.view[3])))

    def light(self, draw: Callable[[np.ndarray, int | Colour], None], colour: Colour) -> None:
        """Draw a light source: it keeps its colour whatever the time of day."""
        draw(self.glow, colour)
        draw(self.lit, 255)


@dataclass(frozen=True)
class _Sprite:
    """A pre-lit moving object (a car): its pixels, mask, start x, y and speed (px/frame)."""

    image: np.ndarray
    mask: np.ndarray
    x0: float
    y: int
    speed: float


class _ShotRenderer:
    """Draws one shot's world once, then films it frame by frame through the camera."""

    def __init__(self, world: np.ndarray, camera: _Camera, sprites: list[_Sprite], size: Size):
        self._world = world
        self._camera = camera
        self._sprites = sprites
        self._size = size
        self._cached: tuple[int, np.ndarray] | None = None

    @classmethod
    def build(
        cls,
        plan: ShotPlan,
        *,
        size: Size,
        fps: float,
        look: _VideoLook,
        rng: np.random.Generator,
    ) -> _ShotRenderer:
        camera = _camera(plan, size, fps, rng)
        canvas = _Canvas.blank(camera.world_size, camera.view, plan.time_of_day)
        sprites = _draw_subject(canvas, plan, rng)
        gain = _gain(plan, rng) * look.tint
        world = _lit_world(canvas, gain, rng)
        sprites = [_light_sprite(s, gain, plan.time_of_day) for s in sprites]
        return cls(world, camera, sprites, size)

    def frame(self, i: int) -> np.ndarray:
        still = not self._sprites and np.array_equal(
            self._camera.matrices[i], self._camera.matrices[0]
        )
        if still and self._cached is not None:
            return self._cached[1]
        world = self._world_at(i)
        frame = cv2.warpAffine(
            world,
            self._camera.matrices[i],
            self._size,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        if still:
            self._cached = (i, frame)
        return frame

    def _world_at(self, i: int) -> np.ndarray:
        if not self._sprites:
            return self._world
        world = self._world.copy()
        for sprite in self._sprites:
            _paste_moving(world, sprite, i)
        return world


def _paste_moving(world: np.ndarray, sprite: _Sprite, i: int) -> None:
    h, w = sprite.mask.shape
    period = world.shape[1] + w
    x = int(round((sprite.x0 + sprite.speed * i) % period)) - w
    _paste(world, sprite.image, sprite.mask, x, sprite.y)


def _paste(world: np.ndarray, image: np.ndarray, mask: np.ndarray, x: int, y: int) -> None:
    h, w = mask.shape
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, world.shape[1]), min(y + h, world.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    region = world[y0:y1, x0:x1]
    sub = (slice(y0 - y, y1 - y), slice(x0 - x, x1 - x))
    np.copyto(region, image[sub], where=mask[sub][:, :, None] > 0)


# --------------------------------------------------------------------------- light


def _gain(plan: ShotPlan, rng: np.random.Generator) -> np.ndarray:
    """RGB multipliers of reflected light for the shot's time of day."""
    if plan.time_of_day == "day":
        gain = np.array([1.0, 1.0, 1.0]) * rng.uniform(0.95, 1.1)
    elif plan.time_of_day == "golden_hour":
        gain = np.array([1.15, 0.82, 0.52]) * rng.uniform(0.9, 1.05)
    else:
        gain = np.array(NIGHT_TINTS[int(rng.integers(len(NIGHT_TINTS)))]) * rng.uniform(0.85, 1.15)
        if plan.interior or plan.subject in PEOPLE_SUBJECTS:
            # Rooms have lamps and people are lit for the camera.
            gain = gain * 1.6
    return gain * rng.uniform(0.95, 1.05, size=3)


def _lit_world(canvas: _Canvas, gain: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Texture noise, the time-of-day light, then the light sources with a soft halo."""
    noisy = _add_noise(canvas.base, rng.uniform(3.0, 7.0), rng)
    world = cv2.transform(noisy, np.diag(gain).astype(np.float32))
    if canvas.people is not None and canvas.time_of_day == "night":
        key = np.maximum(gain, NIGHT_KEY_LIGHT)
        keyed = cv2.transform(noisy, np.diag(key).astype(np.float32))
        np.copyto(world, keyed, where=canvas.people[:, :, None])
    if not canvas.lit.any():
        return world
    lights = np.where(canvas.lit[:, :, None] > 0, canvas.glow, 0).astype(np.uint8)
    np.copyto(world, lights, where=canvas.lit[:, :, None] > 0)
    halo = cv2.GaussianBlur(lights, (0, 0), 4.0)
    return cv2.addWeighted(world, 1.0, halo, 0.6, 0.0)


def _add_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    noise = rng.standard_normal((h, w), dtype=np.float32) * sigma
    # Blurred a little: single-pixel speckle would flicker when the camera moves.
    noise = cv2.GaussianBlur(noise, (0, 0), 1.0)
    return np.clip(image + noise[:, :, None], 0, 255).astype(np.uint8)


def _light_sprite(sprite: _Sprite, gain: np.ndarray, time_of_day: str) -> _Sprite:
    image = cv2.transform(sprite.image, np.diag(gain).astype(np.float32))
    if time_of_day == "night":
        h, w = sprite.mask.shape
        front = w - 3 if sprite.speed >= 0 else 0
        image[h // 2 : h // 2 + 3, front : front + 3] = (255, 240, 170)
    return _Sprite(image, sprite.mask, sprite.x0, sprite.y, sprite.speed)


# --------------------------------------------------------------------------- subjects


def _draw_subject(canvas: _Canvas, plan: ShotPlan, rng: np.random.Generator) -> list[_Sprite]:
    """Draw the shot's world into ``canvas``; returns the objects that move."""
    sprites: list[_Sprite] = []
    if plan.subject == "skyline":
        _draw_skyline(canvas, rng)
    elif plan.subject == "road":
        sprites = _draw_road(canvas, rng, chase=plan.car_chase)
    elif plan.subject == "landscape":
        _draw_landscape(canvas, rng)
    elif plan.subject == "room":
        _draw_room(canvas, rng)
    else:
        _draw_people_shot(canvas, plan, rng)
    if plan.subject not in PEOPLE_SUBJECTS:
        _light_the_sky(canvas, rng)
    return sprites


def _jitter(colour: Sequence[float], rng: np.random.Generator, spread: float = 25) -> Colour:
    c = np.asarray(colour, float) + rng.uniform(-spread, spread, size=3)
    return tuple(int(v) for v in np.clip(c, 0, 255))


def _random_colour(rng: np.random.Generator, low: int = 40, high: int = 220) -> Colour:
    return tuple(int(v) for v in rng.integers(low, high, size=3))


def _shade(colour: Colour, factor: float) -> Colour:
    return tuple(int(min(255, c * factor)) for c in colour)


def _box(image: np.ndarray, p0: tuple[int, int], p1: tuple[int, int], colour: Colour) -> None:
    """A filled rectangle between two corners."""
    cv2.rectangle(image, p0, p1, colour, -1)


def _pick(options: Sequence[Colour], rng: np.random.Generator, spread: float = 12) -> Colour:
    return _jitter(options[int(rng.integers(len(options)))], rng, spread)


SKIES = {
    "day": ((70, 125, 215), (170, 205, 240)),
    "golden_hour": ((95, 80, 150), (255, 185, 100)),
    "night": ((10, 14, 45), (40, 45, 95)),
}


def _draw_sky(canvas: _Canvas, horizon: int, rng: np.random.Generator) -> None:
    """A vertical gradient down to ``horizon`` (clouds by day); remembered as open sky."""
    top, bottom = (np.array(_jitter(c, rng, 15), float) for c in SKIES[canvas.time_of_day])
    rows = max(horizon, 1)
    ramp = np.linspace(0.0, 1.0, rows)[:, None] ** rng.uniform(0.6, 1.4)
    canvas.base[:rows] = (top + (bottom - top) * ramp).astype(np.uint8)[:, None, :]
    if canvas.time_of_day == "day":
        _draw_clouds(canvas, horizon, rng)
    canvas.sky = canvas.base.copy()
    canvas.horizon = horizon


def _draw_clouds(canvas: _Canvas, horizon: int, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(1, 5))):
        centre = (int(rng.integers(0, canvas.width)), int(rng.uniform(0.1, 0.7) * horizon))
        axes = (canvas.px(rng.uniform(0.08, 0.2)), canvas.px(rng.uniform(0.03, 0.06)))
        cv2.ellipse(canvas.base, centre, axes, 0, 0, 360, _jitter((240, 240, 245), rng, 10), -1)


def _light_the_sky(canvas: _Canvas, rng: np.random.Generator) -> None:
    """Sun, moon and stars, only where nothing was drawn over the sky."""
    if canvas.sky is None or canvas.time_of_day == "day":
        return
    open_sky = (canvas.base == canvas.sky).all(axis=2)
    glow, lit = canvas.glow.copy(), canvas.lit.copy()
    canvas.glow[:], canvas.lit[:] = 0, 0
    _draw_sky_lights(canvas, canvas.horizon, rng)
    canvas.lit[~open_sky] = 0
    np.copyto(canvas.glow, glow, where=lit[:, :, None] > 0)
    canvas.lit |= lit


def _draw_sky_lights(canvas: _Canvas, horizon: int, rng: np.random.Generator) -> None:
    w, sky_rows = canvas.width, max(horizon, 1)
    if canvas.time_of_day == "night":
        stars = zip(rng.integers(0, w, 40), rng.integers(0, sky_rows, 40), strict=True)
        for x, y in stars:
            star = (int(x), int(y))
            canvas.light(lambda img, c, p=star: cv2.circle(img, p, 0, c, -1), (230, 230, 255))
        moon = (int(rng.integers(0, w)), int(rng.uniform(0.1, 0.5) * horizon))
        radius = canvas.px(0.05)
        canvas.light(lambda img, c: cv2.circle(img, moon, radius, c, -1), (235, 235, 215))
    elif canvas.time_of_day == "golden_hour":
        sun = (int(rng.integers(0, w)), horizon - canvas.px(rng.uniform(0.0, 0.08)))
        radius = canvas.px(0.09)
        canvas.light(lambda img, c: cv2.circle(img, sun, radius, c, -1), (255, 215, 140))


def _draw_skyline(canvas: _Canvas, rng: np.random.Generator) -> None:
    """A wide city: many small buildings along the horizon, water or land in front."""
    horizon = canvas.y(rng.uniform(0.55, 0.72))
    _draw_sky(canvas, horizon, rng)
    ground = (40, 70, 110) if rng.random() < 0.5 else (70, 80, 60)
    canvas.base[horizon:] = _jitter(ground, rng, 20)
    x = -int(rng.integers(0, 10))
    while x < canvas.width:
        width = canvas.px(rng.uniform(0.05, 0.14))
        height = canvas.px(rng.uniform(0.08, 0.42))
        _draw_building(canvas, (x, horizon - height, width, height), rng, window=canvas.px(0.025))
        x += width + int(rng.integers(-2, 3))
    _draw_reflections(canvas, horizon, rng)


def _draw_reflections(canvas: _Canvas, horizon: int, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(3, 9))):
        y = int(rng.integers(horizon + 2, canvas.height))
        x = int(rng.integers(0, canvas.width))
        length = canvas.px(rng.uniform(0.05, 0.2))
        cv2.line(canvas.base, (x, y), (x + length, y), _jitter((150, 160, 170), rng, 30), 1)


def _draw_building(
    canvas: _Canvas, rect: tuple[int, int, int, int], rng: np.random.Generator, *, window: int
) -> None:
    """A block ``(x, y, w, h)`` with a grid of windows; some are lit after dusk."""
    x, y, w, h = rect
    body = _jitter((95, 95, 105), rng, 45)
    _box(canvas.base, (x, y), (x + w - 1, y + h + 2), body)
    if w < 2 * window + 2:
        return
    step = window * 2
    cols, rows = max((w - window) // step, 1), max((h - window) // step, 1)
    lit_share = {"night": 0.45, "golden_hour": 0.15, "day": 0.0}[canvas.time_of_day]
    pane = _shade(body, 0.55)
    for r in range(rows):
        for c in range(cols):
            p0 = (x + window + c * step, y + window + r * step)
            p1 = (p0[0] + window - 1, p0[1] + window - 1)
            if rng.random() < lit_share:
                lamp = _jitter((255, 215, 130), rng, 20)
                canvas.light(lambda img, col, p0=p0, p1=p1: _box(img, p0, p1, col), lamp)
            else:
                _box(canvas.base, p0, p1, pane)


def _draw_road(canvas: _Canvas, rng: np.random.Generator, *, chase: bool) -> list[_Sprite]:
    """A street: near buildings or trees, a pavement, a road with lane marks and cars."""
    road_top = canvas.y(rng.uniform(0.5, 0.62))
    road_bottom = canvas.y(rng.uniform(0.92, 1.02))
    horizon = road_top - canvas.px(rng.uniform(0.05, 0.12))
    _draw_sky(canvas, horizon, rng)
    _draw_street_front(canvas, horizon, rng)
    _box(canvas.base, (0, horizon), (canvas.width, road_top), _jitter((150, 145, 135), rng))
    asphalt = _jitter((70, 70, 75), rng, 15)
    _box(canvas.base, (0, road_top), (canvas.width, canvas.height), asphalt)
    _draw_lane_marks(canvas, (road_top + road_bottom) // 2, rng)
    if canvas.time_of_day == "night":
        _draw_street_lamps(canvas, horizon, rng)
    return _cars(canvas, (road_top, road_bottom), rng, chase=chase)


def _draw_street_front(canvas: _Canvas, ground: int, rng: np.random.Generator) -> None:
    """Big buildings (cut off by the frame, unlike a skyline) or a row of trees."""
    if rng.random() < 0.7:
        x = -int(rng.integers(0, 20))
        while x < canvas.width:
            w = canvas.px(rng.uniform(0.35, 0.7))
            top = canvas.y(rng.uniform(-0.2, 0.15))
            _draw_building(canvas, (x, top, w, ground - top), rng, window=canvas.px(0.06))
            x += w + int(rng.integers(0, canvas.px(0.08)))
        return
    _box(canvas.base, (0, canvas.y(0.25)), (canvas.width, ground), _jitter((80, 120, 70), rng))
    for _ in range(int(canvas.width / canvas.px(0.2))):
        x = int(rng.integers(0, canvas.width))
        _draw_tree(canvas, (x, ground), canvas.px(rng.uniform(0.25, 0.45)), rng)


def _draw_lane_marks(canvas: _Canvas, y: int, rng: np.random.Generator) -> None:
    dash, gap = canvas.px(rng.uniform(0.08, 0.14)), canvas.px(rng.uniform(0.06, 0.12))
    thickness = canvas.px(0.015)
    colour = _jitter((225, 220, 190), rng, 15)
    for x in range(-int(rng.integers(0, dash + gap)), canvas.width, dash + gap):
        _box(canvas.base, (x, y), (x + dash, y + thickness), colour)


def _draw_street_lamps(canvas: _Canvas, ground: int, rng: np.random.Generator) -> None:
    spacing = canvas.px(rng.uniform(0.5, 0.9))
    top, radius = ground - canvas.px(0.3), canvas.px(0.025)
    for x in range(int(rng.integers(0, spacing)), canvas.width, spacing):
        cv2.line(canvas.base, (x, ground), (x, top), (60, 60, 60), canvas.px(0.012))
        canvas.light(lambda img, c, p=(x, top): cv2.circle(img, p, radius, c, -1), (255, 225, 150))


def _cars(
    canvas: _Canvas, road: tuple[int, int], rng: np.random.Generator, *, chase: bool
) -> list[_Sprite]:
    """Fast, motion-blurred cars in a chase; otherwise none or a few parked or crawling ones."""
    count = int(rng.integers(2, 5)) if chase else int(rng.integers(0, 4))
    direction = 1.0 if rng.random() < 0.5 else -1.0
    view_x, view_w = canvas.view[0], canvas.view[2]
    sprites = []
    for k in range(count):
        length = canvas.px(rng.uniform(0.28, 0.4))
        if chase:
            speed = direction * view_w * rng.uniform(0.035, 0.06)
            x0 = view_x + view_w * (k / count + rng.uniform(0, 0.15)) + length
        else:
            speed = direction * rng.uniform(0.0, 0.5) * float(rng.random() < 0.5)
            x0 = view_x + view_w * rng.uniform(0, 1) + length
        image, mask = _car_sprite(length, rng, blur=abs(speed) / 2)
        y = int(rng.uniform(road[0] - mask.shape[0] * 0.6, road[1] - mask.shape[0]))
        sprites.append(_Sprite(image, mask, x0, y, speed))
    return sorted(sprites, key=lambda s: s.y)


def _car_sprite(
    length: int, rng: np.random.Generator, *, blur: float
) -> tuple[np.ndarray, np.ndarray]:
    """A side view of a car (body, cabin, windows, wheels) and its mask, blurred by speed."""
    height = max(6, int(length * 0.42))
    image = np.zeros((height, length, 3), np.uint8)
    mask = np.zeros((height, length), np.uint8)
    body = _random_colour(rng, 30, 230)
    cabin = (int(length * 0.22), 0), (int(length * 0.72), int(height * 0.45))
    glass = (cabin[0][0] + 2, 2), (cabin[1][0] - 2, cabin[1][1] - 1)
    wheel = max(2, height // 5)
    layers = ((image, body, (120, 150, 170), (20, 20, 20)), (mask, 255, 255, 255))
    for img, paint, window, tyre in layers:
        _box(img, (0, int(height * 0.35)), (length - 1, height - wheel), paint)
        _box(img, *cabin, paint)
        _box(img, *glass, window)
        for wx in (int(length * 0.2), int(length * 0.8)):
            cv2.circle(img, (wx, height - wheel), wheel, tyre, -1)
    if blur >= 1.0:
        k = int(min(blur, 9)) * 2 + 1
        image, mask = cv2.blur(image, (k, 1)), cv2.blur(mask, (k, 1))
        mask = (mask > 100).astype(np.uint8) * 255
    return image, mask


def _draw_landscape(canvas: _Canvas, rng: np.random.Generator) -> None:
    """Rolling hills in three layers under the sky, with a few trees."""
    horizon = canvas.y(rng.uniform(0.4, 0.6))
    _draw_sky(canvas, horizon, rng)
    xs = np.arange(canvas.width)
    green = np.array(_jitter((70, 120, 60), rng, 30), float)
    bottom = [[canvas.width, canvas.height], [0, canvas.height]]
    for layer in range(3):
        amplitude = canvas.px(rng.uniform(0.05, 0.15))
        phase = 2 * math.pi * rng.uniform(1.0, 4.0) * xs / canvas.width + rng.uniform(0, 6)
        ridge = horizon + layer * canvas.px(0.12) - amplitude * (1 - np.sin(phase))
        poly = np.concatenate([np.stack([xs, ridge], 1), bottom]).astype(np.int32)
        cv2.fillPoly(canvas.base, [poly], _shade(tuple(green), 0.7 + 0.2 * layer))
    for _ in range(int(rng.integers(3, 10))):
        foot = (int(rng.integers(0, canvas.width)), int(rng.uniform(horizon, canvas.height)))
        _draw_tree(canvas, foot, canvas.px(rng.uniform(0.15, 0.35)), rng)


def _draw_tree(
    canvas: _Canvas, foot: tuple[int, int], height: int, rng: np.random.Generator
) -> None:
    (x, ground), trunk = foot, max(1, height // 10)
    bark = _jitter((90, 65, 40), rng, 15)
    _box(canvas.base, (x - trunk, ground - height // 2), (x + trunk, ground), bark)
    crown = (x, ground - height // 2 - height // 4)
    cv2.circle(canvas.base, crown, height // 3, _jitter((45, 100, 45), rng, 25), -1)


def _draw_room(canvas: _Canvas, rng: np.random.Generator, *, furniture: bool = True) -> None:
    """A room: papered wall, wooden floor, a window with the sky outside, furniture, a lamp."""
    floor_y = canvas.y(rng.uniform(0.62, 0.8))
    wall = _random_colour(rng, 90, 230)
    canvas.base[:] = wall
    _draw_wallpaper(canvas, floor_y, wall, rng)
    _draw_floor(canvas, floor_y, rng)
    _draw_window(canvas, floor_y, rng)
    if furniture:
        _draw_furniture(canvas, floor_y, rng)
        _draw_pictures(canvas, rng)
    if canvas.time_of_day != "day" or rng.random() < 0.3:
        _draw_lamp(canvas, floor_y, rng)


def _draw_wallpaper(canvas: _Canvas, floor_y: int, wall: Colour, rng: np.random.Generator) -> None:
    stripe = _shade(wall, rng.uniform(0.8, 0.92))
    step = canvas.px(rng.uniform(0.05, 0.12))
    if rng.random() < 0.6:
        for x in range(0, canvas.width, step):
            _box(canvas.base, (x, 0), (x + step // 3, floor_y), stripe)
    _box(canvas.base, (0, floor_y - canvas.px(0.03)), (canvas.width, floor_y), _shade(wall, 0.7))


def _draw_floor(canvas: _Canvas, floor_y: int, rng: np.random.Generator) -> None:
    wood = _jitter((140, 95, 60), rng, 35)
    _box(canvas.base, (0, floor_y), (canvas.width, canvas.height), wood)
    step = canvas.px(rng.uniform(0.04, 0.07))
    for y in range(floor_y + step, canvas.height, step):
        cv2.line(canvas.base, (0, y), (canvas.width, y), _shade(wood, 0.75), 1)


def _draw_window(canvas: _Canvas, floor_y: int, rng: np.random.Generator) -> None:
    """A window showing the sky of the time of day, with a cross-bar frame."""
    w, h = canvas.px(rng.uniform(0.3, 0.55)), canvas.px(rng.uniform(0.3, 0.45))
    x = canvas.x(rng.uniform(0.05, 0.95)) - w // 2
    y = max(canvas.y(0.08), floor_y - h - canvas.px(rng.uniform(0.15, 0.3)))
    _box(canvas.base, (x, y), (x + w, y + h), _jitter(SKIES[canvas.time_of_day][1], rng, 10))
    frame, thickness = _jitter((235, 235, 225), rng, 15), canvas.px(0.02)
    cv2.rectangle(canvas.base, (x, y), (x + w, y + h), frame, thickness)
    cv2.line(canvas.base, (x + w // 2, y), (x + w // 2, y + h), frame, thickness)
    cv2.line(canvas.base, (x, y + h // 2), (x + w, y + h // 2), frame, thickness)


def _draw_furniture(canvas: _Canvas, floor_y: int, rng: np.random.Generator) -> None:
    """Sofas, cupboards, tables: boxes standing on the floor with a darker top."""
    for _ in range(int(rng.integers(1, 4))):
        w, h = canvas.px(rng.uniform(0.25, 0.6)), canvas.px(rng.uniform(0.15, 0.35))
        x = canvas.x(rng.uniform(-0.1, 1.0))
        colour = _random_colour(rng, 40, 200)
        _box(canvas.base, (x, floor_y - h), (x + w, floor_y + canvas.px(0.05)), colour)
        top = floor_y - h + canvas.px(0.04)
        _box(canvas.base, (x, floor_y - h), (x + w, top), _shade(colour, 0.7))


def _draw_pictures(canvas: _Canvas, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(0, 3))):
        w, h = canvas.px(rng.uniform(0.12, 0.25)), canvas.px(rng.uniform(0.1, 0.2))
        x, y = canvas.x(rng.uniform(0.0, 0.9)), canvas.y(rng.uniform(0.1, 0.35))
        _box(canvas.base, (x, y), (x + w, y + h), _random_colour(rng))
        cv2.rectangle(canvas.base, (x, y), (x + w, y + h), (60, 45, 30), canvas.px(0.015))


def _draw_lamp(canvas: _Canvas, floor_y: int, rng: np.random.Generator) -> None:
    x = canvas.x(rng.uniform(0.1, 0.9))
    top = floor_y - canvas.px(rng.uniform(0.35, 0.55))
    cv2.line(canvas.base, (x, floor_y), (x, top), (50, 45, 40), canvas.px(0.015))
    radius = canvas.px(0.06)
    canvas.light(lambda img, c: cv2.circle(img, (x, top), radius, c, -1), (255, 215, 150))


# --------------------------------------------------------------------------- people

SKIN_TONES = ((250, 210, 180), (230, 180, 140), (200, 150, 110), (160, 110, 75), (110, 75, 50))
HAIR_COLOURS = (
    (30, 25, 20),
    (80, 50, 30),
    (150, 110, 60),
    (220, 190, 120),
    (170, 170, 170),
    (140, 60, 30),
)
# How many people each people subject shows (0: a group of three to six).
PEOPLE_COUNTS = {"single": 1, "two": 2, "group": 0}


def _draw_people_shot(canvas: _Canvas, plan: ShotPlan, rng: np.random.Generator) -> None:
    """People in front of a softly blurred room, street or landscape."""
    if plan.interior:
        _draw_room(canvas, rng, furniture=plan.subject != "close_up")
    elif rng.random() < 0.6:
        _draw_plain_street(canvas, rng)
    else:
        _draw_landscape(canvas, rng)
    _light_the_sky(canvas, rng)
    blur = 3.0 if plan.subject == "close_up" else 1.2
    canvas.base[:] = cv2.GaussianBlur(canvas.base, (0, 0), blur)
    before = canvas.base.copy()
    if plan.subject == "close_up":
        _draw_face(canvas, rng)
    else:
        _draw_figures(canvas, PEOPLE_COUNTS[plan.subject], rng)
    # People stand in front of the lamps and lit windows behind them.
    canvas.people = (canvas.base != before).any(axis=2)
    canvas.lit[canvas.people] = 0


def _draw_plain_street(canvas: _Canvas, rng: np.random.Generator) -> None:
    pavement = canvas.y(rng.uniform(0.7, 0.85))
    _draw_sky(canvas, pavement, rng)
    _draw_street_front(canvas, pavement, rng)
    _box(canvas.base, (0, pavement), (canvas.width, canvas.height), _jitter((150, 145, 135), rng))


def _draw_face(canvas: _Canvas, rng: np.random.Generator) -> None:
    """One big face filling most of the frame's height, with hair, eyes, mouth, shoulders."""
    skin, hair = _pick(SKIN_TONES, rng), _pick(HAIR_COLOURS, rng)
    cx, cy = canvas.x(rng.uniform(0.35, 0.65)), canvas.y(rng.uniform(0.45, 0.55))
    b = canvas.px(rng.uniform(0.3, 0.38))
    a = int(b * rng.uniform(0.7, 0.8))
    clothes = _random_colour(rng, 20, 200)
    image = canvas.base
    cv2.ellipse(image, (cx, cy + 2 * b), (int(a * 2.3), b), 0, 180, 360, clothes, -1)
    _box(image, (cx - a // 2, cy), (cx + a // 2, cy + int(1.3 * b)), skin)
    cv2.ellipse(image, (cx, cy - b // 6), (int(a * 1.12), int(b * 1.05)), 0, 0, 360, hair, -1)
    cv2.ellipse(image, (cx, cy), (a, b), 0, 0, 360, skin, -1)
    fringe = (int(a * 1.05), int(b * 0.4))
    cv2.ellipse(image, (cx, cy - int(b * 0.7)), fringe, 0, 180, 360, hair, -1)
    _draw_features(image, (cx, cy), (a, b), skin)


def _draw_features(
    image: np.ndarray, centre: tuple[int, int], axes: tuple[int, int], skin: Colour
) -> None:
    """Eyes, brows, nose and mouth of a face ellipse."""
    (cx, cy), (a, b) = centre, axes
    eye_y = cy - b // 8
    for side in (-1, 1):
        eye = (cx + side * int(a * 0.4), eye_y)
        cv2.ellipse(image, eye, (max(2, a // 5), max(1, b // 12)), 0, 0, 360, (245, 245, 240), -1)
        cv2.circle(image, eye, max(1, b // 14), (40, 30, 25), -1)
        brow = (eye[0] - a // 5, eye_y - b // 6), (eye[0] + a // 5, eye_y - b // 5)
        cv2.line(image, *brow, (50, 35, 25), max(1, b // 20))
    nose = (cx, eye_y + b // 10), (cx - a // 10, cy + b // 4)
    cv2.line(image, *nose, _shade(skin, 0.8), max(1, b // 25))
    mouth = (a // 3, max(1, b // 10))
    cv2.ellipse(image, (cx, cy + int(b * 0.5)), mouth, 0, 0, 180, (150, 50, 55), -1)


def _draw_figures(canvas: _Canvas, count: int, rng: np.random.Generator) -> None:
    """People from the waist up, side by side; ``count`` 0 means a group of three to six."""
    group = count == 0
    count = int(rng.integers(3, 7)) if group else count
    margin = {1: 0.5, 2: 0.28}.get(count, 0.1)
    slots = np.linspace(margin, 1.0 - margin, count) + rng.uniform(-0.04, 0.04, count)
    heights = rng.uniform(0.4, 0.62, count) if group else rng.uniform(0.75, 0.95, count)
    for x, height in zip(slots, heights, strict=True):
        _draw_figure(canvas, (canvas.x(float(x)), canvas.y(1.05)), canvas.px(height), rng)


def _draw_figure(
    canvas: _Canvas, foot: tuple[int, int], height: int, rng: np.random.Generator
) -> None:
    """One person: torso and shoulders in clothes, neck, head, hair, eyes."""
    skin, hair = _pick(SKIN_TONES, rng), _pick(HAIR_COLOURS, rng)
    clothes = _random_colour(rng, 20, 220)
    (x, feet), r = foot, max(3, int(height * 0.13))
    head_y = feet - height + r
    shoulders = head_y + int(r * 1.9)
    half_width = int(r * 1.9)
    image = canvas.base
    cv2.ellipse(image, (x, shoulders + r), (half_width, r), 0, 180, 360, clothes, -1)
    _box(image, (x - half_width, shoulders + r), (x + half_width, feet), clothes)
    _box(image, (x - r // 3, head_y + r // 2), (x + r // 3, shoulders), skin)
    cv2.circle(image, (x, head_y), r, skin, -1)
    cv2.ellipse(image, (x, head_y - r // 4), (r, int(r * 0.8)), 0, 180, 360, hair, -1)
    for side in (-1, 1):
        cv2.circle(image, (x + side * r // 3, head_y), max(1, r // 7), (40, 30, 25), -1)
