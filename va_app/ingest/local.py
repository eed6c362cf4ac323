"""The local runner: the prepare stage of the next videos in a process pool, while this process
encodes (batches across videos) and commits.

``workers=1`` is the serial path: one video at a time, prepared, encoded and committed in this
process. With more, a ``concurrent.futures`` pool decodes ahead; a worker that dies (a decoder
crash, the OOM killer) is replaced and its video tried again, then reported skipped.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from va_app.config import Settings
from va_app.encoders.base import Encoder
from va_app.ingest.commit import VideoJob
from va_app.ingest.stages import (
    EncodedBatch,
    FailedVideo,
    PreparedVideo,
    PrepareOptions,
    encode_batch,
    prepare_video,
)

#: Times a video is tried again after the worker preparing it died.
MAX_RETRIES = 2
#: Videos prepared ahead per worker: enough to keep the encoder fed, few enough for memory.
PREFETCH_PER_WORKER = 2


def _exit_with(pid: int) -> None:
    """Pool worker initializer: end this worker when the process ``pid`` (the ingest) ends.

    Without it a killed ingest (``kill -9``, the OOM killer) leaves its workers waiting for
    work forever — and with them the forkserver and the resource tracker, which each worker
    keeps alive by holding their pipes: four idle processes per killed run.
    """
    threading.Thread(target=_wait_for_end, args=(pid,), daemon=True).start()


def _wait_for_end(pid: int) -> None:
    try:
        with os.fdopen(os.pidfd_open(pid), "rb", buffering=0) as handle:
            select.select([handle], [], [])  # readable once the process has ended
    except (AttributeError, OSError):  # no pidfd here (not Linux 5.3+): look every second
        while _alive(pid):
            time.sleep(1.0)
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pool_context() -> multiprocessing.context.BaseContext:
    # Workers fork from a clean server process (not from this one, whose threads — Chroma,
    # torch, BLAS — a fork would copy mid-flight); it imports the video stack once per run.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["va_app.ingest.stages"])
    return context


class LocalRunner:
    encode_slots = 0  # encode in this process, then commit at once

    def __init__(self, settings: Settings, encoder: Encoder, *, workers: int) -> None:
        self.encoder = encoder
        self.options = PrepareOptions.of(settings, encoder)
        self.workers = max(1, workers)
        serial = self.workers == 1
        self.prefetch = 1 if serial else PREFETCH_PER_WORKER * self.workers
        self.batch_shots = 1 if serial else max(1, settings.batch_size)
        self._pool = None if serial else self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers,
            mp_context=_pool_context(),
            initializer=_exit_with,
            initargs=(os.getpid(),),
        )

    def submit(self, job: VideoJob) -> Future | None:
        if self._pool is None:
            return None  # serial: prepared when its turn comes
        return self._pool.submit(prepare_video, str(job.path), self.options)

    def ready(self, handle: Future | None) -> bool:
        return handle is None or handle.done()

    def result(self, job: VideoJob, handle: Future | None) -> PreparedVideo | FailedVideo:
        if handle is None:
            return prepare_video(job.path, self.options)
        for attempt in range(MAX_RETRIES + 1):
            try:
                return handle.result()
            except BrokenProcessPool as exc:
                if attempt == MAX_RETRIES:
                    return FailedVideo(
                        str(job.path),
                        f"could not be processed: the worker "
                        f"preparing it died {attempt + 1} times ({exc})",
                    )
                handle = self._restarted_pool().submit(prepare_video, str(job.path), self.options)
        raise AssertionError("unreachable")

    def _restarted_pool(self) -> ProcessPoolExecutor:
        if self._pool is not None and getattr(self._pool, "_broken", False):
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
        assert self._pool is not None, "the pool is made before any job is submitted"
        return self._pool

    def encode(self, batch: list[tuple[VideoJob, object, PreparedVideo]]) -> EncodedBatch:
        return encode_batch(self.encoder, [video.frames for _, _, video in batch])

    def vectors(self, handle: EncodedBatch) -> EncodedBatch:
        return handle

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
