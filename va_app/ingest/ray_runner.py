"""The Ray runner: a Ray task per video for the CPU stages, an actor pool of encoders, and this
process (the driver) as the one committer.

A task returns two objects, the video's shots and JPEGs (read by the driver) and its frames
(passed by reference straight to an encoder actor, never through the driver). Actors load the
encoder once; with GPUs in the cluster there is one actor per GPU (``num_gpus=1``), otherwise
one on the CPU. A task whose worker dies is retried (``max_retries``), then its video is
reported skipped; a bad file is a :class:`~va_app.ingest.stages.FailedVideo`, never retried.
Killed, the driver leaves at most uncommitted work: the committer's guarantees make the next
run resume. Without an address (nor ``RAY_ADDRESS``), a local Ray with ``workers`` CPUs is
started (and stopped at the end); a Ray already initialised in this process is used as it is.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import va_app
from va_app.config import Settings
from va_app.encoders.base import Encoder
from va_app.errors import VAError
from va_app.ingest.stages import (
    EncodedBatch,
    FailedVideo,
    PreparedVideo,
    PrepareOptions,
    encode_batch,
    prepare_video,
)

if TYPE_CHECKING:
    from va_app.ingest.commit import VideoJob

#: Times a video's task is run again after its worker died (Ray's ``max_retries``).
MAX_RETRIES = 2
#: Times an encoder actor is restarted, and its call retried, after it died.
ACTOR_RESTARTS = 2
#: Video tasks in flight per CPU of the cluster: enough to keep every core and encoder busy.
PREFETCH_PER_CPU = 2


def _prepare_parts(path: str, options: PrepareOptions) -> tuple[Any, list[np.ndarray] | None]:
    """The prepare stage, split into what the driver reads and what the encoder reads."""
    video = prepare_video(path, options)
    if isinstance(video, FailedVideo):
        return video, None
    return dataclasses.replace(video, frames=[]), video.frames


class EncoderActor:
    """Holds one encoder (loaded once) and encodes batches of videos' frames."""

    def __init__(self, make_encoder: Callable[[], Encoder]) -> None:
        self.encoder = make_encoder()

    def encode(self, *videos: list[np.ndarray]) -> EncodedBatch:
        return encode_batch(self.encoder, videos)


class RayRunner:
    def __init__(
        self,
        settings: Settings,
        encoder: Encoder,
        make_encoder: Callable[[], Encoder],
        *,
        workers: int,
        address: str | None = None,
    ) -> None:
        import ray

        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            _start_ray(address, workers)
        self.options = PrepareOptions.of(settings, encoder)
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        self.prefetch = PREFETCH_PER_CPU * max(1, int(resources.get("CPU", workers)))
        self.batch_shots = max(1, settings.batch_size)
        self._prepare = ray.remote(num_returns=2, max_retries=MAX_RETRIES)(_prepare_parts)
        actor = ray.remote(
            num_gpus=1 if gpus else 0,
            num_cpus=0,
            max_restarts=ACTOR_RESTARTS,
            max_task_retries=ACTOR_RESTARTS,
        )(EncoderActor)
        self._actors = [actor.remote(make_encoder) for _ in range(max(1, gpus))]
        self.encode_slots = len(self._actors)
        self._turn = 0

    def submit(self, job: VideoJob) -> tuple[Any, Any]:
        # Ray's stubs type remote() as one ObjectRef; with num_returns=2 it returns a list of two.
        refs = self._prepare.remote(str(job.path), self.options)
        return tuple(refs)  # type: ignore[arg-type, return-value]

    def ready(self, handle: tuple[Any, Any]) -> bool:
        ready, _ = self._ray.wait([handle[0]], timeout=0)
        return bool(ready)

    def result(self, job: VideoJob, handle: tuple[Any, Any]) -> PreparedVideo | FailedVideo:
        try:
            return self._ray.get(handle[0])
        except self._ray.exceptions.RayError as exc:
            return FailedVideo(
                str(job.path),
                f"could not be processed: its Ray task failed "
                f"{MAX_RETRIES + 1} times ({_first_line(exc)})",
            )

    def encode(self, batch: list[tuple[VideoJob, Any, PreparedVideo]]) -> Any:
        actor = self._actors[self._turn % len(self._actors)]
        self._turn += 1
        # Ray's stubs give .remote only to methods decorated with @ray.method (ray is not
        # imported at module level here, so EncoderActor cannot use it).
        return actor.encode.remote(*(handle[1] for _, handle, _ in batch))  # type: ignore[attr-defined]

    def vectors(self, handle: Any) -> EncodedBatch:
        try:
            return self._ray.get(handle)
        except self._ray.exceptions.RayError as exc:
            raise VAError(
                f"the encoder failed on Ray ({_first_line(exc)}); nothing of the "
                "videos in its batch was stored: run the ingest again"
            ) from exc

    def close(self) -> None:
        for actor in self._actors:
            # Ray's stubs type ActorClass.remote() as ActorHandle | type (for method typing),
            # which their own kill() rejects; it is an ActorHandle.
            self._ray.kill(actor)  # type: ignore[arg-type]
        if self._owns_ray:
            self._ray.shutdown()


def _start_ray(address: str | None, workers: int) -> None:
    import ray

    address = address or os.environ.get("RAY_ADDRESS")  # Ray's own way to name a cluster
    if address:
        # The cluster's nodes need the dependencies (requirements.txt); the code travels.
        ray.init(
            address=address,
            log_to_driver=False,
            runtime_env={"py_modules": [str(Path(va_app.__file__).parent)]},
        )
    else:
        ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}"[:300]
