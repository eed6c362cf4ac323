"""One ingest run: lock, repair, plan, then drive a runner through the stages to the committer.

discover → prepare (CPU, per video, in parallel) → encode (batched across videos) → commit
(one writer, in discovery order). A runner says *where* the stages run: in this process
(``workers=1``, one video at a time as before), in a local process pool (``va_app.ingest.local``)
or on Ray (``va_app.ingest.ray_runner``). :func:`drive` is the one schedule all of them share,
so every runner keeps the committer's guarantees — per-video atomic, idempotent by
fingerprint, resumable after ``kill -9``, bad files skipped with their reason. After the corpus
changes, the k-means clusters used by the data-diversity score are refreshed and the matrix file
is compacted (:meth:`~va_app.store.corpus.Corpus.compact_matrix`: every app process then maps it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from va_app.config import Settings, cpu_cores
from va_app.domain import IngestReport
from va_app.encoders import encoder_for_corpus
from va_app.encoders.base import Encoder
from va_app.ingest.commit import Committer, VideoJob
from va_app.ingest.stages import EncodedBatch, FailedVideo, PreparedVideo, VideoMeta, discover
from va_app.learn.clusters import assign_clusters, fit_clusters
from va_app.store.corpus import Corpus, ingest_lock

Progress = Callable[[int, int, str], None]


class Runner(Protocol):
    """Where the prepare and encode stages run. Handles are the runner's own (futures, refs)."""

    #: Videos whose prepare stage may run ahead of the committer.
    prefetch: int
    #: An encoder batch is sent once it holds this many shots (or nothing else is ready).
    batch_shots: int
    #: Encoder batches in flight before the oldest is committed (0: encode, then commit).
    encode_slots: int

    def submit(self, job: VideoJob) -> Any: ...
    def ready(self, handle: Any) -> bool: ...
    def result(self, job: VideoJob, handle: Any) -> PreparedVideo | FailedVideo: ...
    def encode(self, batch: list[tuple[VideoJob, Any, PreparedVideo]]) -> Any: ...
    def vectors(self, handle: Any) -> EncodedBatch: ...
    def close(self) -> None: ...


def ingest(
    settings: Settings,
    root: str | Path,
    *,
    encoder: Encoder | None = None,
    metadata: Mapping[str, VideoMeta] | None = None,
    progress: Progress | None = None,
    weights_progress=None,
    workers: int | None = None,
    ray: bool | str = False,
) -> IngestReport:
    """Ingest every video under ``root``; see the module docstring for the guarantees.

    ``workers``: processes for the CPU stages (default ``settings.worker_count``; 0 = one per
    CPU core; 1 = serial, in this process). ``ray``: run on Ray instead — ``True`` starts a
    local Ray, a string is a cluster address (``"auto"``, ``"ray://host:10001"``).
    ``weights_progress(done_bytes, total_bytes, note)`` follows a CLIP weights download, when
    the weights are fetched first.
    """
    root = Path(root).expanduser().resolve()
    paths, found_meta = discover(root)
    meta = {**found_meta, **(metadata or {})}
    workers = settings.worker_count if workers is None else (workers or cpu_cores())
    with ingest_lock(settings):
        corpus = Corpus(settings)
        try:
            given = encoder
            encoder = encoder or encoder_for_corpus(
                settings, corpus.encoder_id or None, progress=weights_progress
            )
            committer = Committer(corpus, encoder.id, root, meta)
            committer.open()
            jobs = committer.plan(paths)
            runner = _runner(settings, encoder, jobs, workers=workers, ray=ray, given=given)
            try:
                drive(jobs, runner, committer, total=len(paths), progress=progress)
            finally:
                runner.close()
            report = committer.report
            changed = bool(report.added_shots or report.replaced_videos or report.recovered_videos)
            if changed or _clusters_missing(corpus):
                refresh_clusters(corpus)
            if changed or not corpus.matrix_is_current():
                corpus.compact_matrix()
            return report
        finally:
            corpus.close()


def _runner(
    settings: Settings,
    encoder: Encoder,
    jobs: list[VideoJob],
    *,
    workers: int,
    ray: bool | str,
    given: Encoder | None,
) -> Runner:
    if ray and jobs:  # with nothing to do, no cluster to start or join
        from va_app.ingest.ray_runner import RayRunner

        # Encoder actors build their own model from the settings; an encoder handed in by the
        # caller travels to them as it is.
        make = (
            (lambda: given)
            if given is not None
            else partial(encoder_for_corpus, settings, encoder.id)
        )
        return RayRunner(
            settings, encoder, make, workers=workers, address=None if ray is True else str(ray)
        )
    from va_app.ingest.local import LocalRunner

    return LocalRunner(settings, encoder, workers=min(workers, max(1, len(jobs))))


def drive(
    jobs: list[VideoJob],
    runner: Runner,
    committer: Committer,
    *,
    total: int,
    progress: Progress | None = None,
) -> None:
    """Run ``jobs`` through ``runner`` and commit them in order; ``progress(done, total, name)``
    after each file (files left out by the plan count as done from the start)."""
    done = total - len(jobs)
    todo = iter(jobs)
    waiting: deque[tuple[VideoJob, Any]] = deque()
    encoding: deque[tuple[list[tuple[VideoJob, Any, PreparedVideo]], Any]] = deque()
    batch: list[tuple[VideoJob, Any, PreparedVideo]] = []
    stage_seconds = committer.report.stage_seconds
    if progress:
        progress(done, total, "")

    def finished(job: VideoJob) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total, job.path.name)

    def top_up() -> None:
        while len(waiting) < runner.prefetch and (job := next(todo, None)) is not None:
            waiting.append((job, runner.submit(job)))

    def commit_oldest() -> None:
        videos, handle = encoding.popleft()
        encoded = runner.vectors(handle)
        _add(stage_seconds, "encode", encoded.seconds)
        for (job, _, video), video_vectors in zip(videos, encoded.vectors):
            committer.commit(job, video, video_vectors)
            finished(job)
        stage_seconds["commit"] = committer.seconds

    top_up()
    while waiting or batch or encoding:
        shots = sum(video.n_shots for _, _, video in batch)
        if waiting and shots < runner.batch_shots and (not batch or runner.ready(waiting[0][1])):
            job, handle = waiting.popleft()
            top_up()
            video = runner.result(job, handle)
            if isinstance(video, FailedVideo):
                committer.skip(job, video.reason)
                finished(job)
            else:
                for stage, seconds in video.seconds.items():
                    _add(stage_seconds, stage, seconds)
                batch.append((job, handle, video))
        elif batch:
            encoding.append((batch, runner.encode(batch)))
            batch = []
            while len(encoding) > runner.encode_slots:
                commit_oldest()
        else:
            commit_oldest()


def _add(seconds: dict[str, float], stage: str, value: float) -> None:
    seconds[stage] = seconds.get(stage, 0.0) + value


def refresh_clusters(corpus: Corpus) -> None:
    """Recompute the k-means (k from settings) diversity clusters over the whole corpus."""
    ids, matrix = corpus.matrix.load(mmap=True)
    if not ids:
        return
    model = fit_clusters(matrix, k=corpus.settings.kmeans_k, seed=0)
    labels = assign_clusters(matrix, model.centroids)
    corpus.catalog.set_clusters(dict(zip(ids, labels.tolist())))


def _clusters_missing(corpus: Corpus) -> bool:
    return any(c is None for c in corpus.catalog.clusters().values())
