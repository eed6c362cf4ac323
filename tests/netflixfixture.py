"""Small data dirs in the Netflix Video Annotator format, with learnable labels.

Writes ``shot-data.csv``, ``embeddings.h5``, ``text-embeddings.json``, ``task_descriptions.json``,
``queries.json`` and per label ``agg/``, ``cmp/``, ``checkpoints/`` (the format as the
importer, ``va_app.datasets.netflix``, reads it). Shots are Gaussian clusters (their
``cluster_index``) shifted along one orthogonal direction per label by its hidden truth, so a
logistic regression learns each label well but not perfectly; the text embedding is the
direction plus noise, so zero-shot works but worse. Three annotators (A, B, C) each flip the
truth now and then; ``agg`` is their majority. The VA session (the agg keys, in order) mixes
shots a model would rank high with random ones, like the feeds do; checkpoints are its growing
prefixes, labelled by the primary annotator. A "rare" label gets positives only on the
training side of the hash split, so experiments must exclude it.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import mmh3
import numpy as np
import pandas as pd

ANNOTATORS = ("A", "B", "C")
#: Label → share of positive shots (timelapse is the rare one, as in the real data).
DEFAULT_LABELS = {"happy": 0.3, "car-chase": 0.2, "static-shot": 0.4, "timelapse": 0.005}
RARE = "timelapse"
FPS = 23.976
FLIP = 0.08  # chance that one annotator gets a shot wrong
#: Noise per dimension of a label's text embedding around its direction: zero-shot finds the
#: label, but worse than a trained classifier.
TEXT_NOISE = 0.8
_ID_CHARS = string.ascii_letters + string.digits + "_-"
#: Sizes of the VA session at its checkpoints (the real ones grow unevenly too).
CHECKPOINTS = (25, 50, 75, 100, 150, 200, 300)


@dataclass(frozen=True)
class NetflixFixture:
    root: Path
    keys: list[str]
    videos: list[str]
    dim: int
    labels: tuple[str, ...]
    truth: dict[str, dict[str, bool]]
    agg: dict[str, dict] = field(repr=False)
    cluster: dict[str, int] = field(repr=False)

    @property
    def n_shots(self) -> int:
        return len(self.keys)


def make_netflix_dir(
    root: str | Path,
    *,
    n_videos: int = 100,
    shots_per_video: int = 30,
    dim: int = 16,
    labels: dict[str, float] | None = None,
    va_size: int = 300,
    cmp_size: int = 300,
    checkpoints: tuple[int, ...] = CHECKPOINTS,
    seed: int = 0,
) -> NetflixFixture:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = dict(DEFAULT_LABELS if labels is None else labels)
    shots = _shot_table(rng, n_videos, shots_per_video)
    n = len(shots)
    centres = rng.normal(size=(10, dim))
    cluster = rng.integers(0, 10, n)
    directions = np.linalg.qr(rng.normal(size=(dim, len(labels))))[0].T
    truth = {name: rng.random(n) < rate for name, rate in labels.items()}
    x = centres[cluster] + rng.normal(size=(n, dim))
    for d, name in zip(directions, labels):
        x += np.where(truth[name], 1.2, -1.2)[:, None] * d
    shots["cluster_index"] = cluster
    shots.to_csv(root / "shot-data.csv", index=False)
    with h5py.File(root / "embeddings.h5", "w") as f:
        f.create_dataset("embeddings", data=x.astype(np.float32))
    keys = shots["key"].tolist()
    text = {
        name: (d + rng.normal(scale=TEXT_NOISE, size=dim)).tolist()
        for d, name in zip(directions, labels)
    }
    _write_json(root / "text-embeddings.json", text)
    _write_json(
        root / "task_descriptions.json",
        {
            name: {
                "description": f"Shots that show {name.replace('-', ' ')}.",
                "keywords": name.replace("-", ", "),
            }
            for name in labels
        },
    )
    _write_json(root / "queries.json", {name: [name.replace("-", " ")] for name in labels})
    aggs = {}
    for i, (name, d) in enumerate(zip(labels, directions)):
        aggs[name] = _write_label(
            root,
            name,
            keys,
            x,
            truth[name],
            np.asarray(text[name]),
            d,
            primary=ANNOTATORS[i % 3],
            rng=rng,
            va_size=va_size,
            cmp_size=cmp_size,
            sizes=checkpoints,
        )
    return NetflixFixture(
        root,
        keys,
        list(dict.fromkeys(shots["yt_id"])),
        dim,
        tuple(labels),
        {name: dict(zip(keys, t.tolist())) for name, t in truth.items()},
        aggs,
        dict(zip(keys, cluster.tolist())),
    )


def _shot_table(rng: np.random.Generator, n_videos: int, per_video: int) -> pd.DataFrame:
    rows = []
    for v in range(n_videos):
        yt_id = "".join(rng.choice(list(_ID_CHARS), 11))
        title = f'The "Big" Heist, Part {v}' if v % 7 == 0 else f"Film {v:03d} - Scene {v % 13}"
        genre = ("action", "drama", "comedy", "")[v % 4]
        frame = int(rng.integers(0, 50))
        for _ in range(per_video):
            length = int(rng.integers(24, 200))
            rows.append(
                {
                    "key": f"{yt_id}|{frame}",
                    "yt_id": yt_id,
                    "desc": title,
                    "genre": genre,
                    "frame_in": frame,
                    "frame_out": frame + length,
                    "start": frame / FPS,
                    "end": (frame + length) / FPS,
                    "fps": FPS,
                }
            )
            frame += length
    return pd.DataFrame(rows)


def _write_label(
    root: Path,
    name: str,
    keys: list[str],
    x: np.ndarray,
    truth: np.ndarray,
    text: np.ndarray,
    direction: np.ndarray,
    *,
    primary: str,
    rng: np.random.Generator,
    va_size: int,
    cmp_size: int,
    sizes: tuple[int, ...],
) -> dict:
    n = len(keys)
    words = {a: truth ^ (rng.random(n) < FLIP) for a in ANNOTATORS}
    majority = (words["A"].astype(int) + words["B"] + words["C"]) >= 2
    if name == RARE:  # positives only on the training side: the split must fail
        order = [
            int(r)
            for r in rng.permutation(n)[:va_size]
            if not (majority[r] and _in_validation(keys[r]))
        ]
    else:
        order = _va_session(rng, x @ direction, va_size)
    secondaries = [a for a in ANNOTATORS if a != primary]
    agg = {"primary": primary, "secondaries": secondaries, "data": []}
    value_of: dict[str, bool] = {}
    for r in order:
        votes = {a: bool(words[a][r]) for a in ANNOTATORS}
        pos_cnt = sum(votes.values())
        value_of[keys[r]] = pos_cnt >= 2
        agg["data"].append(
            {
                "key": keys[r],
                "primary": votes[primary],
                "secondaries": {a: votes[a] for a in secondaries},
                "agg": pos_cnt >= 2,
                "pos_cnt": pos_cnt,
            }
        )
    _write_json(root / "agg" / f"{name}.json", agg)
    _write_json(
        root / "checkpoints" / f"{name}.json",
        [
            {
                "pos": [keys[r] for r in order[:size] if words[primary][r]],
                "neg": [keys[r] for r in order[:size] if not words[primary][r]],
            }
            for size in sizes
            if size <= len(order)
        ],
    )
    _write_json(
        root / "cmp" / f"{name}.json",
        _cmp(rng, keys, x, text, words[ANNOTATORS[0]], value_of, cmp_size),
    )
    return agg


def _va_session(rng: np.random.Generator, signal: np.ndarray, size: int) -> list[int]:
    """Half the picks are the best-ranked unlabelled shots of a noisy model, half random."""
    ranked = list(np.argsort(-(signal + rng.normal(scale=1.0, size=signal.size))))
    taken: set[int] = set()
    order: list[int] = []
    while len(order) < size:
        r = ranked.pop(0) if rng.random() < 0.5 else int(rng.integers(0, signal.size))
        if r not in taken:
            taken.add(r)
            order.append(int(r))
    return order


def _cmp(
    rng: np.random.Generator,
    keys: list[str],
    x: np.ndarray,
    text: np.ndarray,
    words: np.ndarray,
    value_of: dict[str, bool],
    size: int,
) -> dict:
    cosine = (x @ text) / (np.linalg.norm(x, axis=1) * np.linalg.norm(text))

    def item(r: int) -> dict:  # one word per shot, the same in every list
        return {"key": keys[r], "value": value_of.get(keys[r], bool(words[r]))}

    return {
        "random": [item(int(r)) for r in rng.permutation(len(keys))[:size]],
        "zero_shot": [item(int(r)) for r in np.argsort(-cosine)[:size]],
    }


def _in_validation(key: str) -> bool:
    return mmh3.hash(key, 0) % 5 < 1


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
