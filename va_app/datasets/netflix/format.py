"""The Netflix Video Annotator data release's files: the one reader and writer of each.

A release folder holds ``shot-data.csv`` (one row per shot: ``key``, ``yt_id``, ``desc``,
``genre``, ``frame_in``, ``frame_out``, ``start``, ``end``, ``fps``, ``cluster_index``),
``embeddings.h5`` (dataset ``embeddings``: row i is the vector of CSV row i),
``text-embeddings.json`` (``{label: vector}``), optionally ``task_descriptions.json`` and
``queries.json``, and per label:

- ``agg/<label>.json``: ``{"primary": "B", "secondaries": ["A", "C"], "data": [{"key": shot
  id, "primary": bool, "secondaries": {"A": bool, "C": bool}, "agg": bool, "pos_cnt": int},
  ...]}`` — every annotator's word per shot and the aggregate (its codec is
  :mod:`va_app.formats.netflix_agg`: a single agg file is also an annotation file format);
- ``cmp/<label>.json``: ``{"random": [{"key", "value"}, ...], "zero_shot": [...]}``;
- ``checkpoints/<label>.json``: ``[{"pos": [keys], "neg": [keys]}, ...]``, the growing
  VA-labelled sets of the annotation session.

Pure file handling (no store): :mod:`.importer` turns a release into a corpus and
:mod:`va_app.research.experiments` reads the label files.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from va_app.errors import ValidationError
from va_app.formats.netflix_agg import read_json as _read_json

#: Encoder id of the released vectors (Clip4CLIP video embeddings, CLIP ViT-B/32 based).
ENCODER_ID = "netflix:clip4clip-vit-b32"
SHOT_DATA = "shot-data.csv"
EMBEDDINGS = "embeddings.h5"
EMBEDDINGS_DATASET = "embeddings"
TEXT_EMBEDDINGS = "text-embeddings.json"
TASK_DESCRIPTIONS = "task_descriptions.json"
QUERIES = "queries.json"
LABEL_DIRS = ("agg", "cmp", "checkpoints")
SHOT_COLUMNS = (
    "key",
    "yt_id",
    "desc",
    "genre",
    "frame_in",
    "frame_out",
    "start",
    "end",
    "fps",
    "cluster_index",
)


@dataclass(frozen=True)
class NetflixFiles:
    """Where each file of a Netflix-format data dir lives; :meth:`open` checks the basics."""

    root: Path

    @classmethod
    def open(
        cls, path: str | Path, *, need: Sequence[str] = (SHOT_DATA, EMBEDDINGS)
    ) -> NetflixFiles:
        root = Path(path).expanduser().resolve()
        if not root.is_dir():
            raise ValidationError(
                f"{root} is not a folder: give the folder that holds "
                f"{SHOT_DATA}, {EMBEDDINGS} and agg/"
            )
        missing = [name for name in need if not (root / name).exists()]
        if missing:
            raise ValidationError(
                f"{root} lacks {', '.join(missing)}: is it the unpacked "
                "Netflix Video Annotator data folder?"
            )
        return cls(root)

    @property
    def shot_data(self) -> Path:
        return self.root / SHOT_DATA

    @property
    def embeddings(self) -> Path:
        return self.root / EMBEDDINGS

    @property
    def text_embeddings(self) -> Path:
        return self.root / TEXT_EMBEDDINGS

    def label_file(self, kind: str, label: str) -> Path:
        return self.root / kind / f"{label}.json"

    def labels(self, kind: str = "agg") -> list[str]:
        folder = self.root / kind
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


# -- shot-data.csv and embeddings.h5 -----------------------------------------------------------
def check_shot_data(files: NetflixFiles) -> tuple[int, int]:
    """``(shots, dims)`` once the CSV has its columns and unique keys and the vectors match."""
    header = pd.read_csv(files.shot_data, nrows=0).columns
    missing = [c for c in SHOT_COLUMNS if c not in header]
    if missing:
        raise ValidationError(
            f"{files.shot_data} lacks column(s) {', '.join(missing)}; "
            f"expected {', '.join(SHOT_COLUMNS)}"
        )
    keys = pd.read_csv(files.shot_data, usecols=["key"], dtype=str, keep_default_na=False)["key"]
    duplicated = keys[keys.duplicated()]
    if len(duplicated):
        raise ValidationError(
            f"{files.shot_data}: shot key {duplicated.iloc[0]!r} appears "
            f"more than once ({len(duplicated)} duplicates)"
        )
    rows, dim = embedding_shape(files.embeddings)
    if rows != len(keys):
        raise ValidationError(
            f"{files.embeddings} has {rows} vectors but {files.shot_data} has "
            f"{len(keys)} shots: row i of one must be shot i of the other"
        )
    return rows, dim


def embedding_shape(path: Path) -> tuple[int, int]:
    try:
        with h5py.File(path, "r") as f:
            if EMBEDDINGS_DATASET not in f:
                raise ValidationError(
                    f"{path} has no dataset {EMBEDDINGS_DATASET!r} "
                    f"(it has {', '.join(f.keys()) or 'none'})"
                )
            shape = f[EMBEDDINGS_DATASET].shape
    except OSError as exc:
        raise ValidationError(f"{path} is not a readable HDF5 file ({exc})") from exc
    if len(shape) != 2 or shape[1] == 0:
        raise ValidationError(f"{path}: {EMBEDDINGS_DATASET} should be shots × dims, got {shape}")
    return int(shape[0]), int(shape[1])


def shot_chunks(files: NetflixFiles, chunk_rows: int) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """The shots in file order, ``chunk_rows`` at a time, each chunk with its vectors (float32,
    as stored): bounded memory however large the release. Raises ValidationError naming the
    line of a non-numeric value and the row of a non-finite vector."""
    text = {"key": str, "yt_id": str, "desc": str, "genre": str}
    reader = pd.read_csv(
        files.shot_data,
        usecols=list(SHOT_COLUMNS),
        dtype=text,
        chunksize=chunk_rows,
        keep_default_na=False,
        na_values={"genre": ["", "nan", "NaN"]},
    )
    first_row = 0
    with h5py.File(files.embeddings, "r") as h5:
        vectors = h5[EMBEDDINGS_DATASET]
        for frame in reader:
            frame = _validated_chunk(frame, files.shot_data, first_row)
            block = np.asarray(vectors[first_row : first_row + len(frame)], dtype=np.float32)
            _check_finite(block, first_row, files.embeddings)
            yield frame, block
            first_row += len(frame)


def _validated_chunk(frame: pd.DataFrame, path: Path, first_row: int) -> pd.DataFrame:
    frame = frame.copy()
    frame["genre"] = frame["genre"].fillna("")
    for column, kind in (
        ("frame_in", "int"),
        ("frame_out", "int"),
        ("start", "float"),
        ("end", "float"),
        ("fps", "float"),
        ("cluster_index", "int"),
    ):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna()
        if bad.any():
            row = first_row + int(np.argmax(bad.to_numpy())) + 2  # + header, 1-based
            raise ValidationError(
                f"{path} line {row}: {column} is not a number "
                f"({frame[column].iloc[int(np.argmax(bad.to_numpy()))]!r})"
            )
        frame[column] = values.astype(np.int64 if kind == "int" else np.float64)
    if (frame["key"] == "").any() or (frame["yt_id"] == "").any():
        raise ValidationError(f"{path}: a row near line {first_row + 2} has no key or yt_id")
    return frame


def _check_finite(block: np.ndarray, first_row: int, path: Path) -> None:
    finite = np.isfinite(block).all(axis=1)
    if not finite.all():
        row = first_row + int(np.argmin(finite))
        raise ValidationError(f"{path}: vector {row} holds NaN or infinite values")


# -- the other label files ------------------------------------------------------------------------
def read_cmp(path: str | Path) -> dict[str, list[tuple[str, bool]]]:
    """``cmp/<label>.json`` as ``{"random": [(key, value), ...], "zero_shot": [...]}``, in order."""
    raw = _read_json(Path(path))
    try:
        return {
            name: [(str(d["key"]), bool(d["value"])) for d in raw.get(name) or ()]
            for name in ("random", "zero_shot")
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValidationError(f"{path} is not a cmp file ({exc!r})") from exc


def read_checkpoints(path: str | Path) -> list[tuple[frozenset[str], frozenset[str]]]:
    """``checkpoints/<label>.json``: the growing VA-labelled sets, as (positives, negatives)."""
    raw = _read_json(Path(path))
    try:
        return [(frozenset(map(str, c["pos"])), frozenset(map(str, c["neg"]))) for c in raw]
    except (KeyError, TypeError) as exc:
        raise ValidationError(f"{path} is not a checkpoints file ({exc!r})") from exc


def read_text_embeddings(path: str | Path) -> dict[str, np.ndarray]:
    """``{label: vector}`` (float32, as stored: not normalised)."""
    raw = _read_json(Path(path))
    if not isinstance(raw, dict):
        raise ValidationError(f"{path} should map each label to a vector")
    return {str(k): np.asarray(v, dtype=np.float32) for k, v in raw.items()}


def read_task_descriptions(files: NetflixFiles) -> dict:
    """``task_descriptions.json`` (``{label: {"description", "keywords"}}``); {} without one."""
    path = files.root / TASK_DESCRIPTIONS
    raw = _read_json(path) if path.is_file() else {}
    return raw if isinstance(raw, dict) else {}
