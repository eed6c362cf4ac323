"""Ingest: video files → shots → frames → embeddings → the corpus (SQL + h5 + Chroma).

Per video, atomic: its shots become visible only once they are in all three stores (see
``va_app.store.corpus``). Idempotent: unchanged files are skipped by fingerprint, changed ones
replaced. Resumable: a run killed half-way is cleaned up by the next. Bad files are skipped
with a reason and never stop the run. After the corpus changes, the k-means clusters used by
the data-diversity score are refreshed.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from va_app.config import Settings
from va_app.domain import IngestReport, ShotSpan, SkippedFile, make_shot_id
from va_app.encoders import encoder_for_corpus
from va_app.encoders.base import Encoder
from va_app.errors import (
    BadVideoError, EncoderMismatchError, StoreError, VAError, WeightsNotFoundError,
)
from va_app.learn.clusters import assign_clusters, fit_clusters
from va_app.store.catalog import READY, to_shot
from va_app.store.corpus import Corpus, ingest_lock, shot_metadata
from va_app.store.meta import ENCODER_ID
from va_app.store.schema import ShotRow, VideoRow
from va_app.video.frames import sample_shot_frames, write_filmstrip, write_thumbnail
from va_app.video.probe import discover_videos, file_fingerprint, probe_video
from va_app.video.shots import detect_shots

# Frames are sampled at this width at most: enough for CLIP (224 px) and for thumbnails.
SAMPLE_WIDTH = 320
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class VideoMeta:
    """Metadata a user can attach to a video (``metadata.csv`` in the ingested folder)."""

    title: str = ""
    genre: str = ""
    tags: tuple[str, ...] = ()
    source_url: str = ""


@dataclass
class _Run:
    corpus: Corpus
    encoder: Encoder
    root: Path
    metadata: Mapping[str, VideoMeta]
    report: IngestReport = field(default_factory=IngestReport)


def ingest(settings: Settings, root: str | Path, *, encoder: Encoder | None = None,
           metadata: Mapping[str, VideoMeta] | None = None,
           progress: Progress | None = None, weights_progress=None) -> IngestReport:
    """Ingest every video under ``root``; see the module docstring for the guarantees.

    ``weights_progress(done_bytes, total_bytes, note)`` follows a CLIP weights download, when
    the encoder's weights have to be fetched first.
    """
    root = Path(root).expanduser().resolve()
    paths = discover_videos(root)
    meta = {**read_metadata_csv(root), **(metadata or {})}
    with ingest_lock(settings):
        corpus = Corpus(settings)
        try:
            run = _Run(corpus, encoder or encoder_for_corpus(
                settings, corpus.encoder_id or None, progress=weights_progress), root, meta)
            run.report.recovered_videos.extend(corpus.recover())
            corpus.matrix.check_encoder(run.encoder.id)
            corpus.catalog.set_meta(ENCODER_ID, run.encoder.id)
            for done, path in enumerate(paths):
                if progress:
                    progress(done, len(paths), path.name)
                _ingest_path(run, path)
            if progress:
                progress(len(paths), len(paths), "")
            if run.report.added_shots or run.report.replaced_videos or _clusters_missing(corpus):
                refresh_clusters(corpus)
            return run.report
        finally:
            corpus.close()


def _ingest_path(run: _Run, path: Path) -> None:
    catalog = run.corpus.catalog
    try:
        fingerprint = file_fingerprint(path)
        existing = catalog.video_by_path(str(path))
        if existing and existing.status == READY and existing.fingerprint == fingerprint:
            run.report.unchanged_videos.append(str(path))
            return
        if existing:
            _remove_video(run.corpus, existing.id)
            run.report.replaced_videos.append(str(path))
        added = _ingest_video(run, path, fingerprint)
        catalog.clear_skipped(str(path))
        run.report.added_videos.append(str(path))
        run.report.added_shots += added
    except BadVideoError as exc:
        _skip(run, path, exc.reason)
    except OSError as exc:
        _skip(run, path, f"could not be read ({exc.strerror or exc})")
    except (StoreError, EncoderMismatchError, WeightsNotFoundError):
        raise  # the corpus or the encoder is unusable: stop, the next run resumes
    except Exception as exc:  # noqa: BLE001 — one odd file must never stop a long run
        _skip(run, path, f"could not be processed ({type(exc).__name__}: {exc})")


def _skip(run: _Run, path: Path, reason: str) -> None:
    run.corpus.catalog.record_skipped(str(path), reason)
    run.report.skipped.append(SkippedFile(str(path), reason))


def _ingest_video(run: _Run, path: Path, fingerprint: str) -> int:
    settings, corpus = run.corpus.settings, run.corpus
    info = probe_video(path)
    spans = detect_shots(path, info, threshold=settings.shot_threshold,
                         min_shot_s=settings.min_shot_s, max_shot_s=settings.max_shot_s)
    per_shot = max(run.encoder.frames_per_shot, settings.keyframes_per_shot)
    frames = sample_shot_frames(path, spans, per_shot=per_shot, size=_sample_size(info))
    vectors = run.encoder.encode_shots([_pick(f, run.encoder.frames_per_shot) for f in frames])
    video = _video_row(run, path, info, fingerprint)
    shots = _shot_rows(video.key, spans, frames, settings)
    video_id = corpus.catalog.begin_video(video, shots)
    ids = [s.id for s in shots]
    corpus.matrix.append(ids, vectors, encoder_id=run.encoder.id)
    corpus.index.add(ids, vectors, [shot_metadata(to_shot(s, video)) for s in shots])
    corpus.catalog.mark_video_ready(video_id)
    return len(shots)


def _video_row(run: _Run, path: Path, info, fingerprint: str) -> VideoRow:
    rel = path.relative_to(run.root) if path.is_relative_to(run.root) else Path(path.name)
    meta = run.metadata.get(rel.as_posix()) or run.metadata.get(path.name) or VideoMeta()
    key = run.corpus.catalog.unique_video_key(slugify(rel.with_suffix("").as_posix()))
    return VideoRow(
        key=key, path=str(path), fingerprint=fingerprint,
        title=meta.title or _title_from_name(path.stem), genre=meta.genre,
        tags=list(meta.tags), source_url=meta.source_url, fps=info.fps, width=info.width,
        height=info.height, n_frames=info.n_frames, duration_s=info.duration_s,
        codec=info.codec,
    )


def _shot_rows(video_key: str, spans: list[ShotSpan], frames: list[np.ndarray],
               settings: Settings) -> list[ShotRow]:
    folder = settings.thumbs_dir / video_key
    rows = []
    for idx, (span, shot_frames) in enumerate(zip(spans, frames)):
        thumb = folder / f"{span.start_frame}.jpg"
        strip = folder / f"{span.start_frame}_strip.jpg"
        write_thumbnail(shot_frames[len(shot_frames) // 2], thumb)
        write_filmstrip(_pick(shot_frames, settings.keyframes_per_shot), strip)
        rows.append(ShotRow(
            id=make_shot_id(video_key, span.start_frame), idx=idx,
            start_frame=span.start_frame, end_frame=span.end_frame, start_s=span.start_s,
            end_s=span.end_s, fps=span.fps, thumb_path=str(thumb), filmstrip_path=str(strip),
        ))
    return rows


def _remove_video(corpus: Corpus, video_id: int) -> None:
    removed = corpus.catalog.delete_video(video_id)
    corpus.index.delete(removed)
    corpus.matrix.keep_only(set(corpus.catalog.shot_ids(ready_only=False)))


def refresh_clusters(corpus: Corpus) -> None:
    """Recompute the k-means (k from settings) diversity clusters over the whole corpus."""
    ids, matrix = corpus.matrix.load()
    if not ids:
        return
    model = fit_clusters(matrix, k=corpus.settings.kmeans_k, seed=0)
    labels = assign_clusters(matrix, model.centroids)
    corpus.catalog.set_clusters(dict(zip(ids, labels.tolist())))


def _clusters_missing(corpus: Corpus) -> bool:
    return any(c is None for c in corpus.catalog.clusters().values())


def _pick(frames: np.ndarray, k: int) -> np.ndarray:
    """``k`` evenly spaced frames out of a shot's sampled frames."""
    if len(frames) <= k:
        return frames
    return frames[np.linspace(0, len(frames) - 1, k).round().astype(int)]


def _sample_size(info) -> tuple[int, int] | None:
    if info.width <= SAMPLE_WIDTH:
        return None
    height = max(2, round(info.height * SAMPLE_WIDTH / info.width / 2) * 2)
    return SAMPLE_WIDTH, height


def slugify(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    return (slug or "video")[:120]


def _title_from_name(stem: str) -> str:
    return re.sub(r"[_-]+", " ", stem).strip().title() or stem


def read_metadata_csv(root: Path) -> dict[str, VideoMeta]:
    """Optional ``metadata.csv`` (columns ``file, title, genre, tags``; tags split on ``;``)."""
    path = root / "metadata.csv"
    if not path.is_file():
        return {}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if "file" not in (reader.fieldnames or ()):
                # Without it no row applies: say so rather than drop every title silently.
                raise KeyError("no 'file' column")
            return {row["file"]: _meta_from_row(row) for row in reader if row.get("file")}
    except (KeyError, UnicodeDecodeError, csv.Error) as exc:
        raise VAError(f"{path} could not be read ({exc}); expected columns file,title,genre,tags"
                      ) from exc


def _meta_from_row(row: Mapping[str, str]) -> VideoMeta:
    tags = tuple(t.strip() for t in (row.get("tags") or "").split(";") if t.strip())
    return VideoMeta(row.get("title") or "", row.get("genre") or "", tags,
                     row.get("source_url") or "")
