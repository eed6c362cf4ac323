"""Train the demo world's own CLIP: ``python -m va_app.datasets.demo.train``.

Owns the recipe of the small open_clip model the demo corpus is encoded with
(:mod:`va_app.encoders.bundled`): keyframes of a *separately rendered* demo world (seed
:data:`TRAIN_SEED`, never the demo corpus's own), paired with captions drawn afresh every
epoch from each shot's attributes (:mod:`va_app.datasets.demo.captions`), trained
contrastively with open_clip's own tokenizer and ``ClipLoss``. A third rendering
(:data:`EVAL_SEED`) measures zero-shot average precision per demo concept and caption
retrieval. Writes fp16 safetensors weights and ``training.json`` (seed, data, loss curve,
metrics) next to the model's config. Seeded: the same command and thread count give the same
weights. Keyframes are sampled as ingest samples them (centres of equal parts of the shot) and
passed through a JPEG round trip, as the demo movies pass through H.264.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from va_app.datasets.demo.captions import caption_shot
from va_app.datasets.demo.manifest import DEMO_CONCEPTS, RENDERER_VERSION
from va_app.datasets.demo.plan import ShotPlan, plan_corpus
from va_app.datasets.demo.world import ShotRenderer, VideoLook
from va_app.encoders.bundled import (
    DEMO_CLIP_CONFIG,
    DEMO_CLIP_DIR,
    DEMO_CLIP_NAME,
    DEMO_CLIP_WEIGHTS,
    register_demo_clip,
)

TRAIN_SEED = 1001
EVAL_SEED = 1002
TRAIN_SHOTS = 1500
EVAL_SHOTS = 1000
FRAMES_PER_SHOT = 3  # VA_KEYFRAMES_PER_SHOT's default: the frames ingest gives the encoder
FPS = 24
SIZE = (256, 144)
JPEG_QUALITY = 60
EPOCHS = 200
# Small batches: on 2 CPU cores the number of updates, not the batch's negatives, is scarce.
BATCH = 64
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 0.05
WARMUP_SHARE = 0.1
#: How much more often a shot with a rare captioned thing (a chase, rain) is drawn per epoch:
#: a chase is 1 shot in 8, so without it most batches hold one chase or none, and the model
#: learns light and places long before it tells a chase from a quiet street.
RARE_BOOST = 3.0
#: A police car is a chase within chases (3 in 10): drawn twice as often again, so batches hold
#: police chases beside plain ones and the model learns what tells them apart (the light bar).
POLICE_BOOST = 2.0
RECORD_NAME = "training.json"


@dataclass(frozen=True)
class Keyframes:
    """K resized keyframes per planned shot, uint8 ``(S, K, h, w, 3)``, and the shots' plans."""

    frames: np.ndarray
    plans: list[ShotPlan]


def render_keyframes(n_shots: int, *, seed: int, resize) -> Keyframes:
    """Plan and draw a demo world of ``n_shots`` and keep ``FRAMES_PER_SHOT`` frames of each
    shot, JPEG-compressed and resized with ``resize`` (a PIL transform)."""
    from PIL import Image

    frames, plans = [], []
    for video in plan_corpus(n_shots, seed=seed, fps=FPS):
        rng = np.random.default_rng([seed, 1, video.index])
        look = VideoLook.draw(rng)
        for shot in video.shots:
            renderer = ShotRenderer.build(shot, size=SIZE, fps=FPS, look=look, rng=rng)
            picks = [
                (2 * j + 1) * shot.n_frames // (2 * FRAMES_PER_SHOT) for j in range(FRAMES_PER_SHOT)
            ]
            frames.append(
                [np.asarray(resize(Image.fromarray(_jpeg(renderer.frame(i))))) for i in picks]
            )
            plans.append(shot)
    return Keyframes(np.asarray(frames, dtype=np.uint8), plans)


def _cached(cache_dir: Path | None, n_shots: int, seed: int, size: tuple, resize) -> Keyframes:
    """Rendered keyframes, kept in ``cache_dir`` per (shots, seed, size, renderer version)."""
    if cache_dir is None:
        return render_keyframes(n_shots, seed=seed, resize=resize)
    path = (
        Path(cache_dir) / f"keyframes-r{RENDERER_VERSION}-{seed}-{n_shots}-{size[0]}x{size[1]}.npy"
    )
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, render_keyframes(n_shots, seed=seed, resize=resize).frames)
    plans = [shot for video in plan_corpus(n_shots, seed=seed, fps=FPS) for shot in video.shots]
    return Keyframes(np.load(path), plans)


def _jpeg(frame: np.ndarray) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    assert decoded is not None  # the JPEG cv2.imencode just wrote
    return decoded[:, :, ::-1]


def train(
    *,
    epochs: int = EPOCHS,
    batch: int = BATCH,
    seed: int = TRAIN_SEED,
    n_shots: int = TRAIN_SHOTS,
    threads: int = 2,
    out_dir: Path = DEMO_CLIP_DIR,
    config: Path = DEMO_CLIP_CONFIG,
    cache_dir: Path | None = None,
    log=print,
) -> dict:
    """Train, evaluate and save the demo CLIP; returns the training record.

    ``config`` is the architecture (a file named ``va-demo-clip.json``: open_clip names a model
    after its config file); ``cache_dir`` keeps rendered keyframes for the next run.
    """
    import open_clip
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    if config == DEMO_CLIP_CONFIG:
        register_demo_clip()
    else:
        open_clip.add_model_config(config)
    started = time.perf_counter()
    model, _, preprocess = open_clip.create_model_and_transforms(DEMO_CLIP_NAME, pretrained=None)
    tokenizer = open_clip.get_tokenizer(DEMO_CLIP_NAME)
    resize = _resize_part(preprocess)
    size = tuple(model.visual.preprocess_cfg["size"])
    train_set = _cached(cache_dir, n_shots, seed, size, resize)
    eval_set = _cached(cache_dir, EVAL_SHOTS, EVAL_SEED, size, resize)
    rendered_s = time.perf_counter() - started
    log(f"rendered {len(train_set.plans)} + {len(eval_set.plans)} shots in {rendered_s:.0f} s")
    losses = _fit(model, tokenizer, train_set, epochs=epochs, batch=batch, seed=seed, log=log)
    metrics = evaluate(model, tokenizer, eval_set)
    record = {
        "model": DEMO_CLIP_NAME,
        "config": json.loads(Path(config).read_text()),
        "parameters": sum(p.numel() for p in model.parameters()),
        "command": f"python -m va_app.datasets.demo.train --threads {threads}",
        "seed": seed,
        "threads": threads,
        "renderer_version": RENDERER_VERSION,
        "train_data": {
            "world_seed": seed,
            "shots": len(train_set.plans),
            "frames_per_shot": FRAMES_PER_SHOT,
            "jpeg_quality": JPEG_QUALITY,
            "rare_boost": RARE_BOOST,
            "police_boost": POLICE_BOOST,
            "captions": "drawn afresh each epoch (va_app.datasets.demo.captions)",
        },
        "eval_data": {"world_seed": EVAL_SEED, "shots": len(eval_set.plans)},
        "optimiser": {
            "name": "AdamW",
            "lr": LEARNING_RATE,
            "weight_decay": WEIGHT_DECAY,
            "warmup_share": WARMUP_SHARE,
            "schedule": "cosine",
            "epochs": epochs,
            "batch": batch,
        },
        "loss_per_epoch": [round(v, 4) for v in losses],
        **metrics,
        "seconds": round(time.perf_counter() - started, 1),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "open_clip": open_clip.__version__,
        },
    }
    save(model, record, out_dir)
    return record


def _resize_part(preprocess):
    """open_clip's own resize and crop (everything before ToTensor/Normalize)."""
    steps = list(preprocess.transforms)
    names = [type(s).__name__ for s in steps]
    return type(preprocess)(steps[: next(i for i, n in enumerate(names) if "ToTensor" in n)])


def _fit(
    model, tokenizer, data: Keyframes, *, epochs: int, batch: int, seed: int, log
) -> list[float]:
    import open_clip
    import torch

    rng = np.random.default_rng(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    steps_per_epoch = math.ceil(len(data.plans) / batch)
    schedule = _cosine_with_warmup(optimiser, epochs * steps_per_epoch)
    loss_fn = open_clip.ClipLoss()
    normalise = _normaliser(model)
    losses = []
    model.train()
    weights = _draw_weights(data.plans)
    for epoch in range(epochs):
        total, started = 0.0, time.perf_counter()
        drawn = rng.choice(len(data.plans), size=len(data.plans), p=weights)
        for rows in np.array_split(drawn, steps_per_epoch):
            images = normalise(_augmented(data.frames, rows, rng))
            texts = tokenizer([caption_shot(data.plans[r], rng) for r in rows])
            image_features, text_features, scale = model(images, texts)
            loss = loss_fn(image_features, text_features, scale)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            with torch.no_grad():  # as CLIP: the temperature stays at most 100
                model.logit_scale.clamp_(0, math.log(100))
            total += loss.item() * len(rows)
        losses.append(total / len(data.plans))
        log(
            f"epoch {epoch + 1}/{epochs}: loss {losses[-1]:.3f} "
            f"({time.perf_counter() - started:.0f} s)"
        )
    model.eval()
    return losses


def _draw_weights(plans: list[ShotPlan]) -> np.ndarray:
    """Each shot's chance to be drawn: :data:`RARE_BOOST` times more for a chase or rain,
    :data:`POLICE_BOOST` times that for a police chase."""
    rare = np.array([p.car_chase or p.rain for p in plans], dtype=float)
    police = np.array([p.police_car for p in plans], dtype=float)
    weights = (1.0 + (RARE_BOOST - 1.0) * rare) * (1.0 + (POLICE_BOOST - 1.0) * police)
    return weights / weights.sum()


def _augmented(frames: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random keyframe of each shot, mirrored half of the time (nothing in the captions
    depends on left and right)."""
    picks = frames[rows, rng.integers(0, frames.shape[1], size=rows.size)]
    flip = rng.random(rows.size) < 0.5
    picks[flip] = picks[flip, :, ::-1]
    return picks


def _normaliser(model):
    import torch

    cfg = model.visual.preprocess_cfg
    mean = torch.tensor(cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(cfg["std"]).view(1, 3, 1, 1)

    def normalise(images: np.ndarray):
        tensor = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
        return (tensor.float() / 255.0 - mean) / std

    return normalise


def _cosine_with_warmup(optimiser, total_steps: int):
    import torch

    warmup = max(1, int(total_steps * WARMUP_SHARE))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total_steps - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimiser, factor)


def evaluate(model, tokenizer, data: Keyframes) -> dict:
    """Zero-shot AP per demo concept (query: the concept's words) and caption retrieval."""
    import torch
    from sklearn.metrics import average_precision_score

    normalise = _normaliser(model)
    with torch.inference_mode():
        flat = data.frames.reshape(-1, *data.frames.shape[2:])
        frames = torch.cat(
            [model.encode_image(normalise(flat[i : i + 256])) for i in range(0, len(flat), 256)]
        )
        frames = torch.nn.functional.normalize(frames, dim=-1).view(
            len(data.plans), -1, frames.shape[-1]
        )
        shots = torch.nn.functional.normalize(frames.mean(dim=1), dim=-1).numpy()
        queries = [c.replace("_", " ") for c in DEMO_CONCEPTS]
        texts = torch.nn.functional.normalize(model.encode_text(tokenizer(queries)), dim=-1)
        rng = np.random.default_rng(EVAL_SEED)
        captions = tokenizer([caption_shot(p, rng) for p in data.plans])
        caption_vectors = torch.nn.functional.normalize(model.encode_text(captions), dim=-1)
    scores = shots @ texts.numpy().T
    ap = {}
    for j, concept in enumerate(DEMO_CONCEPTS):
        truth = np.array([p.attributes()[concept] for p in data.plans])
        ap[concept] = {
            "ap": round(float(average_precision_score(truth, scores[:, j])), 3),
            "positive_rate": round(float(truth.mean()), 3),
        }
    ranks = _own_shot_ranks(caption_vectors.numpy() @ shots.T)
    return {
        "zero_shot_ap": ap,
        "caption_to_shot": {
            "recall_at_1": round(float(np.mean(ranks < 1)), 3),
            "recall_at_10": round(float(np.mean(ranks < 10)), 3),
            "median_rank": int(np.median(ranks)) + 1,
        },
    }


def _own_shot_ranks(similarity: np.ndarray) -> np.ndarray:
    own = np.diag(similarity)[:, None]
    return (similarity > own).sum(axis=1)


def save(model, record: dict, out_dir: Path) -> Path:
    """fp16 safetensors weights (what the demo ingest loads) and the training record."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().half().contiguous() for k, v in model.state_dict().items()}
    weights = out_dir / DEMO_CLIP_WEIGHTS.name
    save_file(state, str(weights), metadata={"model": DEMO_CLIP_NAME, "seed": str(record["seed"])})
    record = {**record, "weights_bytes": weights.stat().st_size}
    (out_dir / RECORD_NAME).write_text(json.dumps(record, indent=1) + "\n")
    return weights


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m va_app.datasets.demo.train", description="train the demo world's own CLIP"
    )
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--shots", type=int, default=TRAIN_SHOTS, help="training shots")
    parser.add_argument("--seed", type=int, default=TRAIN_SEED)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=DEMO_CLIP_DIR, help="output folder")
    parser.add_argument(
        "--config",
        type=Path,
        default=DEMO_CLIP_CONFIG,
        help="architecture to try (a file named va-demo-clip.json)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="keep rendered keyframes here for the next run"
    )
    args = parser.parse_args(argv)
    record = train(
        epochs=args.epochs,
        batch=args.batch,
        seed=args.seed,
        n_shots=args.shots,
        threads=args.threads,
        out_dir=args.out,
        config=args.config,
        cache_dir=args.cache_dir,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(
        json.dumps({k: record[k] for k in ("zero_shot_ap", "caption_to_shot", "seconds")}, indent=1)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
