"""The demo world's concepts and its manifest: what was rendered, and the truth of every shot.

Owns :data:`DEMO_CONCEPTS` with their descriptions and :class:`DemoManifest` (written by
:func:`va_app.datasets.demo.world.render_demo_corpus`; reads it back and answers "what is
really in this shot?").
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from va_app.errors import NotFoundError, ValidationError

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
    "police_car",
    "rain",
    "dutch_angle",
)
#: Concepts on 1–5 % of shots, like most real labels (the paper's median positive rate among
#: random shots is 2.5 %): random labelling finds few of them, search and the feeds must.
DEMO_RARE_CONCEPTS: tuple[str, ...] = ("police_car", "rain", "dutch_angle")

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
    "police_car": "Police car: a white car with a red and blue light bar, in a chase.",
    "rain": "Rain: falling streaks over a grey, darkened outdoor scene.",
    "dutch_angle": "Dutch angle: the camera is tilted, so the horizon runs at a slant.",
}

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
# Bump when the pictures change for the same seed: older renders are then redone.
# 2: film-like frequencies of camera moves and times of day (see CAMERA_WEIGHTS).
# 3: rare concepts (police cars in chases, rain, Dutch angles), drawn from their own random
#    streams so every version-2 shot keeps its subject, light and camera.
# 4: a police car stays in frame for its whole shot, under a taller light bar.
RENDERER_VERSION = 4

Size = tuple[int, int]


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
