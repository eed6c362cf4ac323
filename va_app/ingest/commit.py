"""The committer: the one writer of an ingest run (SQL catalog, h5 matrix, Chroma index).

Per video, atomic: its shots become visible only once they are in all three stores (the write
order and the repair live in ``va_app.store.corpus``). Idempotent: :meth:`Committer.plan`
leaves out files whose fingerprint is unchanged — the fingerprint of a video with a cut list
includes the list's, so a cut list added, changed or removed re-ingests it; a changed file's
old shots are removed when its new ones are committed. Which cut list gave a video its shots,
or why one was refused, is stored with the video (``info`` lists both). Resumable:
:meth:`Committer.open` first repairs what a killed run left. Bad files are recorded as
skipped with their reason and never stop the run; a broken store or encoder does (the next
run resumes).

Runners (local, Ray) call it from their driver process only, in discovery order, so video
keys — and with them shot ids — come out as a serial run makes them.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from va_app.domain import IngestReport, ShotSpan, SkippedFile, make_shot_id
from va_app.errors import (
    BadVideoError,
    DiskFullError,
    EncoderMismatchError,
    StoreError,
    WeightsNotFoundError,
    is_disk_full,
)
from va_app.ingest.stages import PreparedVideo, VideoMeta, slugify, title_from_name
from va_app.store.catalog import READY
from va_app.store.corpus import Corpus
from va_app.store.matrix import CHUNK_ROWS
from va_app.store.meta import ENCODER_ID
from va_app.store.schema import ShotRow, VideoRow
from va_app.video.cutlists import find_cut_list
from va_app.video.frames import write_jpeg
from va_app.video.probe import file_fingerprint

# A broken store or encoder must stop the run (the next one resumes), never skip a file.
FATAL = (StoreError, EncoderMismatchError, WeightsNotFoundError)
#: Room kept free beyond a video's own bytes: SQLite's WAL and Chroma's files grow in steps.
ROOM_MARGIN = 4 << 20


@dataclass(frozen=True)
class VideoJob:
    """A file to (re)ingest: its fingerprint now, and the id of its older version, if any."""

    path: Path
    fingerprint: str
    replaces: int | None = None


class Committer:
    def __init__(
        self, corpus: Corpus, encoder_id: str, root: Path, metadata: Mapping[str, VideoMeta]
    ) -> None:
        self.corpus, self.encoder_id, self.root, self.metadata = corpus, encoder_id, root, metadata
        self.report = IngestReport()
        #: Seconds spent committing (summed over videos), for the ingest benchmark.
        self.seconds = 0.0

    def open(self) -> None:
        """Repair what an interrupted run left and claim the corpus for this encoder."""
        self.report.recovered_videos.extend(self.corpus.recover())
        self.corpus.matrix.check_encoder(self.encoder_id)
        self.corpus.catalog.set_meta(ENCODER_ID, self.encoder_id)

    def plan(self, paths: list[Path]) -> list[VideoJob]:
        """The files that need work; unchanged and unreadable ones are reported here."""
        jobs = []
        for path in paths:
            try:
                fingerprint = video_fingerprint(path)
            except BadVideoError as exc:
                self.skip(VideoJob(path, ""), exc.reason)
                continue
            existing = self.corpus.catalog.video_by_path(str(path))
            if existing and existing.status == READY and existing.fingerprint == fingerprint:
                self.report.unchanged_videos.append(str(path))
            else:
                jobs.append(VideoJob(path, fingerprint, existing.id if existing else None))
        return jobs

    def commit(self, job: VideoJob, video: PreparedVideo, vectors: np.ndarray) -> None:
        """Write one prepared and encoded video to the three stores, atomically."""
        start = time.perf_counter()
        try:
            self._require_room(job, video, vectors)
            self._replace_old(job)
            added = self._write(job, video, vectors)
            self.corpus.catalog.clear_skipped(str(job.path))
            self.report.added_videos.append(str(job.path))
            self.report.added_shots += added
            self._report_cut_list(job, video)
        except FATAL:
            raise
        except Exception as exc:
            if not is_disk_full(exc):
                self._skip_bad_file(job, exc)
                return
            raise DiskFullError(
                f"the disk holding {self.corpus.settings.data_dir} filled up while "
                f"{job.path.name} was being stored ({_one_line(exc)}): stopped; free some space "
                "and run ingest again (it cleans this video up and resumes)"
            ) from exc
        finally:
            self.seconds += time.perf_counter() - start

    def _skip_bad_file(self, job: VideoJob, exc: Exception) -> None:
        if isinstance(exc, OSError):
            reason = f"could not be read ({exc.strerror or exc})"
        else:
            reason = f"could not be processed ({type(exc).__name__}: {exc})"
        self._record_skip(job.path, reason)

    def _require_room(self, job: VideoJob, video: PreparedVideo, vectors: np.ndarray) -> None:
        """Refuse a video the disk has no room for before any of it is written (a write that
        fails half-way leaves work for the next run's clean-up)."""
        folder = self.corpus.settings.data_dir
        images = sum(len(b) for b in (*video.thumbnails, *video.filmstrips))
        chunk = CHUNK_ROWS * vectors.shape[1] * 4 if vectors.ndim == 2 else 0
        needed = ROOM_MARGIN + chunk + 2 * (vectors.nbytes + images)
        free = shutil.disk_usage(folder).free
        if free < needed:
            raise DiskFullError(
                f"the disk holding {folder} has {free / 1e6:.1f} MB free and storing "
                f"{job.path.name} needs about {needed / 1e6:.1f} MB: stopped before writing it; "
                "free some space and run ingest again (it resumes)"
            )

    def skip(self, job: VideoJob, reason: str) -> None:
        """Report a file that could not be used; an older version of it leaves the corpus."""
        self._replace_old(job)
        self._record_skip(job.path, reason)

    def _record_skip(self, path: Path, reason: str) -> None:
        self.corpus.catalog.record_skipped(str(path), reason)
        self.report.skipped.append(SkippedFile(str(path), reason))

    def _report_cut_list(self, job: VideoJob, video: PreparedVideo) -> None:
        cuts = video.cut_list
        if cuts is None:
            return
        if not cuts.used:
            self.report.cut_list_fallbacks.append(SkippedFile(str(job.path), cuts.note))
            return
        self.report.cut_list_videos.append(str(job.path))
        self.report.cut_list_notes[str(job.path)] = cuts.note
        if cuts.unmatched:
            self.report.cut_list_unmatched[cuts.path] = list(cuts.unmatched)

    def _replace_old(self, job: VideoJob) -> None:
        if job.replaces is None or str(job.path) in self.report.replaced_videos:
            return
        removed = self.corpus.catalog.delete_video(job.replaces)
        self.corpus.index.delete(removed)
        self.corpus.matrix.keep_only(set(self.corpus.catalog.shot_ids(ready_only=False)))
        self.report.replaced_videos.append(str(job.path))

    def _write(self, job: VideoJob, video: PreparedVideo, vectors: np.ndarray) -> int:
        corpus = self.corpus
        row = self._video_row(job, video)
        shots = self._shot_rows(row.key, video)
        video_id = corpus.catalog.begin_video(row, shots)
        ids = [s.id for s in shots]
        corpus.matrix.append(ids, vectors, encoder_id=self.encoder_id)
        corpus.index.add(ids, vectors)
        with corpus.catalog.unit_of_work():  # visible and logged together, or neither
            corpus.catalog.mark_video_ready(video_id)
            payload = {"video": row.key, "shots": len(shots)}
            corpus.catalog.log_event("video_ingested", payload=payload)
        return len(shots)

    def _video_row(self, job: VideoJob, video: PreparedVideo) -> VideoRow:
        path, info = job.path, video.info
        rel = path.relative_to(self.root) if path.is_relative_to(self.root) else Path(path.name)
        meta = self.metadata.get(rel.as_posix()) or self.metadata.get(path.name) or VideoMeta()
        key = self.corpus.catalog.unique_video_key(slugify(rel.with_suffix("").as_posix()))
        return VideoRow(
            key=key,
            path=str(path),
            fingerprint=job.fingerprint,
            title=meta.title or title_from_name(path.stem),
            genre=meta.genre,
            tags=list(meta.tags),
            source_url=meta.source_url,
            fps=info.fps,
            width=info.width,
            height=info.height,
            n_frames=info.n_frames,
            duration_s=info.duration_s,
            codec=info.codec,
            cut_list=video.cut_list.path if video.cut_list and video.cut_list.used else "",
            cut_list_problem=(
                video.cut_list.note if video.cut_list and not video.cut_list.used else ""
            ),
        )

    def _shot_rows(self, video_key: str, video: PreparedVideo) -> list[ShotRow]:
        folder = self.corpus.settings.thumbs_dir / video_key
        rows = []
        for idx, span in enumerate(video.spans):
            thumb = write_jpeg(video.thumbnails[idx], folder / f"{span.start_frame}.jpg")
            strip = write_jpeg(video.filmstrips[idx], folder / f"{span.start_frame}_strip.jpg")
            rows.append(_shot_row(video_key, idx, span, thumb, strip))
        return rows


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def video_fingerprint(path: Path) -> str:
    """The file's fingerprint, and its cut list's when one applies (see the module doc)."""
    fingerprint = file_fingerprint(path)
    cuts = find_cut_list(path)
    return fingerprint if cuts is None else f"{fingerprint}+cuts-{cuts.digest[:16]}"


def _shot_row(video_key: str, idx: int, span: ShotSpan, thumb: Path, strip: Path) -> ShotRow:
    return ShotRow(
        id=make_shot_id(video_key, span.start_frame),
        idx=idx,
        start_frame=span.start_frame,
        end_frame=span.end_frame,
        start_s=span.start_s,
        end_s=span.end_s,
        fps=span.fps,
        thumb_path=str(thumb),
        filmstrip_path=str(strip),
    )
