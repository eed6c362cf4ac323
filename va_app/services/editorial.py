"""From a classifier to the edit: a label's shots out as editors' timelines, and the editor's
cut lists the corpus was ingested with.

:func:`edit_export` is the user action (the ``export-edit`` command and the Timeline page's
download): it checks the user may export, chooses the label's shots (:class:`EditChoice` —
its positives, the shots the latest model version scores at least S, or that version's N best),
builds the selects timeline or the per-video marker timelines
(:mod:`va_app.formats.editorial`) and logs one ``edit_exported`` event. Scores come from the
label's latest stored model version (as ``score`` computes them); a positives export before the
first build carries no scores.

(Which videos got their editor's cuts as shots, and which fell back to detection, is part of
the corpus's description: :func:`va_app.services.reads.describe_corpus`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from va_app.domain import Shot
from va_app.errors import NotFoundError, ValidationError
from va_app.formats.editorial import (
    FORMATS,
    EditShot,
    EditSource,
    edit_files,
    marker_timelines,
    selects_timeline,
    write_edit_files,
)
from va_app.services import dashboard
from va_app.services.access import Action, User
from va_app.services.bootstrap import Services
from va_app.store.schema import VideoRow
from va_app.video.timecode import start_timecode

ORDERS = ("time", "score")


@dataclass(frozen=True)
class EditChoice:
    """Which of a label's shots go into the edit: exactly one of the three."""

    positives: bool = False
    min_score: float | None = None
    top: int | None = None

    def __post_init__(self) -> None:
        given = [self.positives, self.min_score is not None, self.top is not None]
        if sum(given) != 1:
            raise ValidationError(
                "choose the shots with one of --positives, --min-score S, --top N"
            )
        if self.min_score is not None and not 0.0 <= self.min_score <= 1.0:
            raise ValidationError(f"--min-score is a probability in [0, 1], got {self.min_score}")
        if self.top is not None and self.top < 1:
            raise ValidationError(f"--top needs at least 1 shot, got {self.top}")

    @property
    def needs_model(self) -> bool:
        return not self.positives

    def describe(self) -> str:
        if self.positives:
            return "positives"
        return f"score >= {self.min_score:g}" if self.min_score is not None else f"top {self.top}"


@dataclass(frozen=True)
class EditExport:
    """The files of one export, what they hold, and the model version that scored it."""

    files: list[tuple[str, bytes]]
    n_shots: int
    n_videos: int
    version: int | None


def edit_export(
    app: Services,
    user: User,
    label: str,
    choice: EditChoice,
    *,
    fmt: str,
    markers: bool = False,
    videos: Sequence[str] = (),
    order: str = "time",
    stem: str = "",
) -> EditExport:
    """Choose ``label``'s shots and build their timelines in ``fmt`` (see the module doc).

    ``videos``: only these video keys; ``order``: selects in source order (``time``: video,
    then time) or best first (``score``); ``stem``: the file name without suffix.
    """
    app.policy.require(user, Action.EXPORT)
    if fmt not in FORMATS or order not in ORDERS:
        raise ValidationError(f"format one of {', '.join(FORMATS)}; order one of time, score")
    with app.uow() as uow:
        name = uow.labels.get_label(label).name
        version, scores = _scores(app, name, needed=choice.needs_model)
        positives = uow.labels.labelled_set(name).positives
        shots = _chosen(app, choice, scores, positives, videos=videos, order=order)
        edit = _edit_shots(app, shots, scores)
        files = edit_files(
            _timelines(edit, name, choice, markers=markers),
            fmt=fmt,
            stem=stem or edit_stem(name, markers=markers),
        )
        payload = {"label": name, "version": version, "format": fmt, "shots": len(edit)}
        payload |= {"markers": markers, "choice": choice.describe()}
        uow.events.add("edit_exported", actor=user.annotator, payload=payload)
    return EditExport(files, len(edit), len({s.source.key for s in edit}), version)


def _timelines(edit: list[EditShot], name: str, choice: EditChoice, *, markers: bool):
    if markers:
        return marker_timelines(edit, label=name)
    return [selects_timeline(edit, label=name, name=f"{name} selects ({choice.describe()})")]


def write_edit_export(export: EditExport, out: str | Path) -> list[Path]:
    """Write the export at ``out`` (one file), or beside it (one EDL per video)."""
    out = Path(out)
    if len(export.files) == 1:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(export.files[0][1])
        return [out]
    return write_edit_files(export.files, out.parent)


def edit_stem(label: str, *, markers: bool) -> str:
    """The file name (no suffix) of a label's export: ``night-selects``, ``night-markers``."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in label).strip("_") or "label"
    return f"{safe}-{'markers' if markers else 'selects'}"


def _scores(app: Services, name: str, *, needed: bool) -> tuple[int | None, dict[str, float]]:
    """The latest version's probability of every shot (empty before the first build, which
    only a positives export may do without)."""
    latest = app.uow().models.latest(name)
    frame = dashboard.latest_scores(app, name)
    if latest is None or frame is None:
        if needed:
            raise NotFoundError(
                f"label {name!r} has no model yet: build it first, or export --positives"
            )
        return None, {}
    return latest.version, dict(zip(frame.shot_id, frame.probability.astype(float)))


def _chosen(
    app: Services,
    choice: EditChoice,
    scores: dict[str, float],
    positives: list[str],
    *,
    videos: Sequence[str],
    order: str,
) -> list[Shot]:
    keep = _shots_of_videos(app, videos) if videos else None
    shots = app.corpus.shots(choose_shot_ids(choice, scores, positives=positives, keep=keep))
    if order == "score":
        return sorted(shots, key=lambda s: (-scores.get(s.id, 0.0), s.video_id, s.start_frame))
    return sorted(shots, key=lambda s: (s.video_id, s.start_frame))


def _shots_of_videos(app: Services, keys: Sequence[str]) -> set[str]:
    """Ids of every shot of the videos ``keys`` (raises, naming the unknown keys)."""
    video_rows, shot_rows = app.corpus.catalog.shot_columns()
    ids = {key: vid for vid, key, *_ in video_rows}
    missing = sorted(set(keys) - set(ids))
    if missing:
        raise NotFoundError(
            f"no video {', '.join(map(repr, missing))} in this corpus; a video's key is what "
            f"`shots` lists before '|' (e.g. {', '.join(sorted(ids)[:3])})"
        )
    wanted = {ids[key] for key in keys}
    return {shot_id for shot_id, video_id, *_ in shot_rows if video_id in wanted}


def choose_shot_ids(
    choice: EditChoice,
    scores: dict[str, float],
    *,
    positives: Sequence[str],
    keep: set[str] | None = None,
) -> list[str]:
    """The chosen shot ids among ``keep`` (all when None): the positives; the ids scored at
    least ``min_score``; or the ``top`` best (ties in the order of ``scores``)."""
    if choice.positives:
        return [s for s in positives if keep is None or s in keep]
    ids = [s for s in scores if keep is None or s in keep]
    values = np.fromiter((scores[s] for s in ids), np.float64, len(ids))
    if choice.min_score is not None:
        return [ids[i] for i in np.flatnonzero(values >= choice.min_score)]
    best = np.argsort(-values, kind="stable")[: choice.top]  # ties: in corpus order
    return [ids[i] for i in best]


def _edit_shots(app: Services, shots: list[Shot], scores: dict[str, float]) -> list[EditShot]:
    rows = {v.id: v for v in app.corpus.catalog.videos()}
    sources: dict[int, EditSource] = {}
    for shot in shots:
        if shot.video_id not in sources:
            sources[shot.video_id] = _source(rows[shot.video_id], shot)
    return [
        EditShot(s.id, sources[s.video_id], s.start_frame, s.end_frame, scores.get(s.id))
        for s in shots
    ]


def _source(row: VideoRow, shot: Shot) -> EditSource:
    # The file's own start timecode, read now: camera originals carry one; moved or imported
    # videos (no file here) count from 00:00:00:00.
    on_disk = bool(row.path) and Path(row.path).is_file()
    start = start_timecode(row.path, shot.fps) if on_disk else None
    return EditSource(
        key=row.key,
        path=row.path,
        title=row.title,
        fps=shot.fps,
        n_frames=max(row.n_frames, shot.end_frame),
        start=start,
    )
