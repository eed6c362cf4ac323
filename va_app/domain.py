"""Domain values: small frozen dataclasses that validate themselves, and the vote fold.

A shot id is ``"<video key>|<start frame>"`` — the same shape as the Netflix Video Annotator
data's shot keys (``"<yt_id>|<frame_in>"``), so imported and ingested corpora look alike.

Owns the names of annotation sources (:class:`Source`, the four feeds among them) and the one
rule that turns annotators' clicks into a label's value for a shot (:func:`fold_votes`,
:func:`majority`, :class:`ShotVerdict`): the store, the file formats, the Netflix codec and
the reports all call these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

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
            raise ValidationError(
                f"{self.path}: no frames (fps={self.fps}, frames={self.n_frames})"
            )


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


class Source(StrEnum):
    """Where an annotation came from; stored as its value (plain text), so data written before
    this enum existed reads the same. Files may bring other sources: a source stays text."""

    SEARCH = "search"
    SIMILAR = "similar"  # "more like this" on the search page
    MEANING = "meaning"  # the label's words, spread down their ranking, before the first build
    POSITIVE = "positive"  # the four feeds of a build (paper Figure 3) ...
    NEGATIVE = "negative"
    BORDERLINE = "borderline"
    RANDOM = "random"
    IMPORT = "import"  # ... an annotation file or a dataset import
    REVIEW = "review"  # fixes on the review page
    TIMELINE = "timeline"  # a shot picked on a title's timeline


#: The four feeds of a build, in the order the app shows them.
FEED_SOURCES: tuple[Source, ...] = (
    Source.POSITIVE,
    Source.NEGATIVE,
    Source.BORDERLINE,
    Source.RANDOM,
)


@dataclass(frozen=True)
class Annotation:
    """One annotator's word on one shot for one label (True positive, False negative,
    None cleared)."""

    label: str
    shot_id: str
    value: bool | None
    annotator: str
    source: str = Source.SEARCH
    created_at: datetime | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        if not self.annotator.strip():
            raise ValidationError("an annotation needs an annotator name")


@dataclass(frozen=True)
class ShotVerdict:
    """All current words on one shot for one label and what they add up to."""

    shot_id: str
    votes: dict[str, bool]
    value: bool | None  # majority; None on a tie

    @classmethod
    def of(cls, shot_id: str, votes: Mapping[str, bool]) -> ShotVerdict:
        votes = dict(votes)
        return cls(shot_id, votes, majority(votes))

    @property
    def positive_votes(self) -> int:
        return sum(self.votes.values())

    @property
    def negative_votes(self) -> int:
        return len(self.votes) - self.positive_votes

    @property
    def conflict(self) -> bool:
        return len(set(self.votes.values())) > 1


def majority(votes: Mapping[str, bool]) -> bool | None:
    """The label's value from annotators' words: more positive than negative words → True,
    fewer → False, as many → None (a tie: neither a positive nor a negative for training)."""
    positives = sum(bool(v) for v in votes.values())
    negatives = len(votes) - positives
    return None if positives == negatives else positives > negatives


def current_words(annotations: Iterable[Annotation]) -> list[Annotation]:
    """Each annotator's latest annotation per shot, cleared ones left out.

    ``annotations`` oldest first (a label's history): a later word replaces an earlier one and
    a clear (``value`` None) withdraws it. In the order (shot, annotator) pairs first appear.
    """
    latest: dict[tuple[str, str], Annotation] = {}
    for ann in annotations:
        latest[(ann.shot_id, ann.annotator)] = ann
    return [a for a in latest.values() if a.value is not None]


def fold_votes(annotations: Iterable[Annotation]) -> dict[str, dict[str, bool]]:
    """The current words (:func:`current_words`) by shot: ``{shot id: {annotator: value}}``;
    shots nobody has a word on are left out."""
    votes: dict[str, dict[str, bool]] = {}
    for ann in current_words(annotations):
        votes.setdefault(ann.shot_id, {})[ann.annotator] = bool(ann.value)
    return votes


def shot_verdicts(annotations: Iterable[Annotation]) -> list[ShotVerdict]:
    """:func:`fold_votes` with each shot's majority, in the order shots were first annotated."""
    return [ShotVerdict.of(shot, words) for shot, words in fold_votes(annotations).items()]


# -- labels, training sets, model versions -------------------------------------------------
@dataclass(frozen=True)
class Label:
    id: int
    name: str
    description: str = ""
    hints: str = ""
    created_by: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class TrainingSet:
    """What a build trains on: a label's shots by majority (positives, negatives), the ties it
    leaves out, the shots annotators disagree on, and who annotated."""

    positives: list[str] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)
    ties: list[str] = field(default_factory=list)
    conflicts: list[ShotVerdict] = field(default_factory=list)
    annotators: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ModelVersion:
    label: str
    version: int
    created_at: datetime | None
    n_pos: int
    n_neg: int
    model_score: float | None
    data_score: float | None
    annotators: list[str]
    encoder_id: str
    fingerprint: str
    build_ms: float
    #: The build's out-of-fold calibration report (Brier, ECE, reliability bins; raw and
    #: calibrated — see ``va_app.learn.calibration.calibration_report``); {} before calibration.
    calibration: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_annotations(self) -> int:
        return self.n_pos + self.n_neg


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
    #: Videos whose shots are the events of their editor's cut list, and how they were read.
    cut_list_videos: list[str] = field(default_factory=list)
    cut_list_notes: dict[str, str] = field(default_factory=dict)
    #: Videos a cut list applies to that got detected shots instead, with the reason.
    cut_list_fallbacks: list[SkippedFile] = field(default_factory=list)
    #: Per folder cut list: the sources it names that are no video of its folder.
    cut_list_unmatched: dict[str, list[str]] = field(default_factory=dict)
    #: Seconds per ingest stage (probe, detect, sample, encode, commit), summed over videos.
    stage_seconds: dict[str, float] = field(default_factory=dict)
