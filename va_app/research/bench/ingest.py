"""Ingest benchmark (``python -m va_app bench --ingest``): shots/s end to end, per runner,
beside the encoder alone on the same frames, and where the time goes per stage.

On a folder of rendered demo movies (cached in the work folder), each runner ingests into a
fresh corpus: ``serial`` (one video at a time, in this process), ``pool`` (the local process
pool) and ``ray`` (a local Ray with as many CPUs as workers). The encoder alone encodes the
same frames, already sampled, in the same batches: the ceiling an overlapped pipeline can
reach when the encoder is the slowest stage (goal: end to end ≥ 80 % of it). Stage seconds are
summed over videos — with workers they add up to more than the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from va_app.config import Settings, cpu_cores
from va_app.encoders import make_encoder
from va_app.encoders.base import Encoder
from va_app.ingest import ingest
from va_app.ingest.stages import (
    PreparedVideo,
    PrepareOptions,
    discover,
    encode_frames,
    prepare_video,
)
from va_app.research.bench.arguments import RUNNERS

#: End to end over the encoder alone that the pipeline should reach (README › Speed).
GOAL_VS_ENCODER = 0.8


def ingest_bench_command(args: argparse.Namespace, settings: Settings) -> int:
    shots = 24 if args.quick else args.ingest_shots
    runners = [r.strip() for r in args.runners.split(",") if r.strip()]
    unknown = set(runners) - set(RUNNERS)
    if unknown:
        raise SystemExit(f"error: unknown runner(s) {', '.join(sorted(unknown))}")
    result = run_ingest_bench(
        bench_settings(settings, args.encoder),
        shots=shots,
        workers=max(1, args.workers),
        runners=runners,
        work_dir=(args.work_dir or Path(settings.data_dir) / "bench") / "ingest",
        ray_address=args.ray_address,
    )
    print(json.dumps(result, indent=2) if args.json else _table(result))
    return 0


def bench_settings(settings: Settings, encoder: str) -> Settings:
    """The encoder settings to bench with: CLIP's configured weights, else random ones."""
    if encoder == "descriptor":
        return Settings(encoder="descriptor", batch_size=settings.batch_size)
    pretrained = settings.clip_pretrained if "VA_CLIP_PRETRAINED" in os.environ else "random"
    return Settings(
        encoder="clip",
        clip_model=settings.clip_model,
        clip_pretrained=pretrained,
        device=settings.device,
        batch_size=settings.batch_size,
    )


def run_ingest_bench(
    settings: Settings,
    *,
    shots: int,
    workers: int,
    runners: list[str],
    work_dir: Path,
    ray_address: str | None = None,
) -> dict:
    from va_app.datasets.demo.world import render_demo_corpus

    videos_dir = work_dir / f"videos-{shots}"
    render_demo_corpus(videos_dir, n_shots=shots, seed=0)
    encoder = make_encoder(settings)
    alone = encoder_alone(encoder, settings, videos_dir)
    result = {
        "videos": alone.pop("videos"),
        "shots": alone["shots"],
        "encoder": encoder.id,
        "frames_per_shot": encoder.frames_per_shot,
        "cpu_cores": cpu_cores(),
        "workers": workers,
        "encoder_alone": alone,
        "runs": {},
        "goal_vs_encoder": GOAL_VS_ENCODER,
    }
    for runner in runners:
        run = time_runner(
            runner,
            settings,
            videos_dir,
            work_dir / "runs" / runner,
            workers=workers,
            ray_address=ray_address,
        )
        run["vs_encoder"] = round(run["shots_per_s"] / max(alone["shots_per_s"], 1e-9), 3)
        result["runs"][runner] = run
    result["notes"] = _notes(result)
    return result


def encoder_alone(encoder: Encoder, settings: Settings, videos_dir: Path) -> dict:
    """The encoder's own throughput on the frames ingest gives it, in ingest's batches."""
    options = PrepareOptions.of(settings, encoder)
    paths, _ = discover(videos_dir)
    videos = [v for v in (prepare_video(p, options) for p in paths) if isinstance(v, PreparedVideo)]
    batches = _batches([v.frames for v in videos], settings.batch_size)
    encode_frames(encoder, batches[0][:1])  # warm up: model on its device, kernels chosen
    start = time.perf_counter()
    for batch in batches:
        encode_frames(encoder, batch)
    seconds = time.perf_counter() - start
    n_shots = sum(v.n_shots for v in videos)
    frames = sum(len(f) for v in videos for f in v.frames)
    return {
        "videos": len(videos),
        "shots": n_shots,
        "seconds": round(seconds, 3),
        "shots_per_s": round(n_shots / seconds, 2),
        "frames_per_s": round(frames / seconds, 1),
    }


def _batches(videos: list[list[np.ndarray]], batch_shots: int) -> list[list[list[np.ndarray]]]:
    """Videos grouped as the pipeline groups them: a batch closes at ``batch_shots`` shots."""
    batches, batch, shots = [], [], 0
    for frames in videos:
        batch.append(frames)
        shots += len(frames)
        if shots >= batch_shots:
            batches.append(batch)
            batch, shots = [], 0
    return batches + ([batch] if batch else [])


def time_runner(
    runner: str,
    settings: Settings,
    videos_dir: Path,
    data_dir: Path,
    *,
    workers: int,
    ray_address: str | None = None,
) -> dict:
    """One ingest of ``videos_dir`` into a fresh corpus with ``runner``; its figures."""
    shutil.rmtree(data_dir, ignore_errors=True)
    run_settings = replace(settings, data_dir=data_dir)
    extra: dict = {}
    if runner == "ray":
        extra["ray_start_s"] = _start_ray(workers, ray_address)
    try:
        start = time.perf_counter()
        # No encoder handed in: this process's is cached per settings, Ray actors load their own.
        report = ingest(
            run_settings,
            videos_dir,
            workers=1 if runner == "serial" else workers,
            ray=(ray_address or True) if runner == "ray" else False,
        )
        seconds = time.perf_counter() - start
    finally:
        if runner == "ray":
            import ray

            ray.shutdown()
    return {
        "seconds": round(seconds, 3),
        "shots": report.added_shots,
        "shots_per_s": round(report.added_shots / seconds, 2),
        **extra,
        "stage_seconds": {k: round(v, 3) for k, v in report.stage_seconds.items()},
    }


def _start_ray(workers: int, address: str | None) -> float:
    import ray

    start = time.perf_counter()
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    return round(time.perf_counter() - start, 2)


def _notes(result: dict) -> list[str]:
    alone = result["encoder_alone"]["shots_per_s"]
    notes = [
        f"encoder alone: {alone} shots/s ({result['encoder_alone']['frames_per_s']} "
        f"frames/s); end to end ≥ {GOAL_VS_ENCODER:.0%} of it is the goal"
    ]
    for name, run in result["runs"].items():
        stages = run["stage_seconds"]
        slowest = max(stages, key=stages.get) if stages else "-"
        notes.append(
            f"{name}: {run['shots_per_s']} shots/s = {run['vs_encoder']:.0%} of the "
            f"encoder alone; most time in {slowest}"
        )
    if result["runs"] and alone > 10 * max(r["shots_per_s"] for r in result["runs"].values()):
        notes.append(
            "the encoder is far faster than decoding here: the CPU stages bound the "
            "pipeline (more workers, or CLIP on a GPU, is where the goal applies)"
        )
    return notes


def _table(result: dict) -> str:
    lines = [
        f"{result['videos']} videos, {result['shots']} shots, encoder {result['encoder']}, "
        f"{result['cpu_cores']} cores, {result['workers']} workers",
        f"{'encoder alone':14} {result['encoder_alone']['shots_per_s']:>9} shots/s  "
        f"{result['encoder_alone']['frames_per_s']:>9} frames/s",
    ]
    for name, run in result["runs"].items():
        stages = "  ".join(f"{k} {v}s" for k, v in run["stage_seconds"].items())
        lines.append(
            f"{name:14} {run['shots_per_s']:>9} shots/s  {run['vs_encoder']:>8.0%} of "
            f"encoder  ({run['seconds']} s; {stages})"
        )
    return "\n".join(lines + [f"- {note}" for note in result["notes"]])
