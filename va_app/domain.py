"""Domain values: small frozen dataclasses that validate themselves.

A shot id is ``"<video key>|<start frame>"`` — the same shape as the Netflix Video Annotator
data's shot keys (``"<yt_id>|<frame_in>"``), so imported and ingested corpora look alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from va_app.errors import ValidationError


def make_shot_id(video_key: str, start_frame: int) -> str:
    return f"{video_key}|{int(start_frame)}"


@dataclass(frozen=True)
class VideoInfo:
    """What probing a file tells: enough to detect shots and to know how to play it."""

    path: str
    width: int
    height: int
    fps: float
    n_frames: int
    duration_s: float
    codec: str
    container: str

    def __post_init__(self) -> None:
        if self.fps <= 0 or self.n_frames <= 0:
            raise ValidationError(f"{self.path}: no frames (fps={self.fps}, frames={self.n_frames})")


@dataclass(frozen=True)
class ShotSpan:
    """A shot inside one video: frames ``[start_frame, end_frame)``."""

    start_frame: int
    end_frame: int
    fps: float

    def __post_init__(self) -> None:
        if not 0 <= self.start_frame < self.end_frame:
            raise ValidationError(f"bad shot span [{self.start_frame}, {self.end_frame})")

    @property
    def start_s(self) -> float:
        return self.start_frame / self.fps

    @property
    def end_s(self) -> float:
        return self.end_frame / self.fps

    @property
    def n_frames(self) -> int:
        return self.end_frame - self.start_frame


@dataclass(frozen=True)
class Shot:
    """A stored shot with its metadata (what search filters and cards show)."""

    id: str
    video_id: int
    video_key: str
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    fps: float
    title: str = ""
    genre: str = ""
    tags: tuple[str, ...] = ()
    cluster: int | None = None
    thumb_path: str = ""
    filmstrip_path: str = ""
    video_path: str = ""
    source_url: str = ""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Annotation:
    """One annotator's word on one shot for one label (True positive, False negative,
    None cleared)."""

    label: str
    shot_id: str
    value: bool | None
    annotator: str
    source: str = "search"
    created_at: datetime | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        if not self.annotator.strip():
            raise ValidationError("an annotation needs an annotator name")


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass
class IngestReport:
    """What one ingest run did (filled in as it goes); the CLI prints it and ``info`` keeps
    the skipped list."""

    added_videos: list[str] = field(default_factory=list)
    unchanged_videos: list[str] = field(default_factory=list)
    replaced_videos: list[str] = field(default_factory=list)
    recovered_videos: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    added_shots: int = 0
