"""CLIP (open_clip) behind the Encoder protocol: finding its weights offline, loading, encoding.

Owns three things:

- **where the weights are**, without the network: a weights file, a local directory with
  ``open_clip_config.json``, or a pretrained tag whose file is already in the local Hugging
  Face cache. A miss raises :class:`WeightsNotFoundError` at once; only
  :func:`fetch_clip_weights` goes online (once, into that cache; see ``encoders.fetch``).
- **loading** a model once per process per (weights, device) — loading CLIP takes seconds.
- **encoding**: a shot's vector is the mean of its frames' image vectors, renormalised; texts
  go through the model's tokenizer and text tower. Every output is L2-normalised float32.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import open_clip
import torch
from huggingface_hub import constants as hf_constants
from huggingface_hub import try_to_load_from_cache
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as tvf

from va_app.encoders.base import l2_normalise
from va_app.errors import ConfigError, ValidationError, WeightsNotFoundError

#: ``pretrained`` values (besides None) meaning "random weights" — only useful in tests.
RANDOM_WEIGHTS = frozenset({"none", "random"})
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
LOCAL_DIR_PREFIX = "local-dir:"
CONFIG_FILE = "open_clip_config.json"
#: open_clip's file names inside a Hugging Face repo, safetensors first.
HF_FILE_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
#: Texts per forward pass of the text tower (texts are short; a large batch is cheap).
TEXT_BATCH = 256
_HASH_CHARS = 10
_PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_mode")


@dataclass(frozen=True)
class ClipWeights:
    """Where one open_clip model's weights come from, resolved without the network."""

    model_name: str  # what open_clip is given; may be "local-dir:/path"
    checkpoint: str | None  # the weights file; None means random weights
    id: str  # the encoder id recorded with a corpus
    description: str  # for people: "CLIP ViT-B-32 (openai) from the local Hugging Face cache"
    quick_gelu: bool = False
    preprocess: tuple[tuple[str, object], ...] = ()  # a pretrained tag's mean/std/...


def resolve_clip_weights(
    model_name: str, pretrained: str | None, *, cache_dir: str | Path | None = None
) -> ClipWeights:
    """Find the weights ``pretrained`` names — a file, a directory, a cached tag — or raise.

    Never touches the network. Raises :class:`WeightsNotFoundError` when the weights are not
    here and :class:`ConfigError` when ``model_name`` is not an open_clip architecture.
    """
    value = (pretrained or "").strip()
    if value.startswith(LOCAL_DIR_PREFIX) or (value and Path(value).expanduser().is_dir()):
        return _from_directory(_absolute(value.removeprefix(LOCAL_DIR_PREFIX)))
    _check_model_name(model_name)
    if pretrained is None or value.lower() in RANDOM_WEIGHTS:
        return ClipWeights(
            model_name,
            None,
            f"open_clip:{model_name}:random",
            f"CLIP {model_name} with random weights (for tests only)",
        )
    if not value:
        raise WeightsNotFoundError(
            "VA_CLIP_PRETRAINED is empty: set it to a pretrained tag (e.g. openai) or to an "
            "open_clip weights file, or use VA_ENCODER=descriptor"
        )
    if Path(value).expanduser().is_file():
        return _from_file(model_name, _absolute(value))
    if value.endswith(WEIGHT_SUFFIXES) or os.sep in value:
        raise WeightsNotFoundError(
            f"CLIP weights file {value} does not exist; set VA_CLIP_PRETRAINED to an existing "
            "open_clip weights file (.safetensors/.bin/.pt), or use VA_ENCODER=descriptor"
        )
    return _from_hf_cache(model_name, value, _cache_dir(cache_dir))


def clip_weights_available(
    model_name: str, pretrained: str | None, *, cache_dir: str | Path | None = None
) -> bool:
    """Whether :func:`resolve_clip_weights` would succeed (local look-ups only, no network)."""
    try:
        resolve_clip_weights(model_name, pretrained, cache_dir=cache_dir)
    except (WeightsNotFoundError, ConfigError):
        return False
    return True


def _absolute(path: str) -> Path:
    return Path(path).expanduser().resolve()


def _cache_dir(cache_dir: str | Path | None) -> Path:
    # Read at call time so HF_HUB_CACHE / HF_HOME and a changed constant both count.
    return Path(cache_dir if cache_dir is not None else hf_constants.HF_HUB_CACHE)


def _check_model_name(model_name: str) -> None:
    if open_clip.get_model_config(model_name) is None:
        raise ConfigError(
            f"VA_CLIP_MODEL={model_name!r} is not an open_clip model "
            "(e.g. ViT-B-32, ViT-B-16, ViT-L-14; see open_clip.list_models())"
        )


def _from_file(model_name: str, path: Path) -> ClipWeights:
    label = f"{path.stem}-{_content_hash(path)}"
    return ClipWeights(
        model_name,
        str(path),
        f"open_clip:{model_name}:{label}",
        f"CLIP {model_name} from file {path}",
    )


def _from_directory(folder: Path) -> ClipWeights:
    if not (folder / CONFIG_FILE).is_file():
        raise WeightsNotFoundError(
            f"CLIP directory {folder} has no {CONFIG_FILE}; point VA_CLIP_PRETRAINED at a folder "
            f"holding {CONFIG_FILE} and open_clip_model.safetensors, or use VA_ENCODER=descriptor"
        )
    files = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    files.sort(key=lambda p: (p.name not in HF_FILE_NAMES, p.suffix != ".safetensors"))
    if not files:
        raise WeightsNotFoundError(
            f"CLIP directory {folder} has no weights file (.safetensors/.bin)"
        )
    label = f"{folder.name}-{_content_hash(files[0])}"
    return ClipWeights(
        f"{LOCAL_DIR_PREFIX}{folder}",
        None,
        f"open_clip:local-dir:{label}",
        f"CLIP from folder {folder}",
    )


def _from_hf_cache(model_name: str, tag: str, cache_dir: Path) -> ClipWeights:
    cfg = open_clip.get_pretrained_cfg(model_name, tag)
    if not cfg:
        known = open_clip.list_pretrained_tags_by_model(model_name)
        raise WeightsNotFoundError(
            f"{tag!r} is neither a pretrained tag of open_clip {model_name} "
            f"(known: {', '.join(known[:6]) or 'none'}{', ...' if len(known) > 6 else ''}) "
            "nor an existing weights file; fix VA_CLIP_PRETRAINED or use VA_ENCODER=descriptor"
        )
    clean_tag = _clean_tag(tag)
    return ClipWeights(
        model_name,
        _cached_weights_file(model_name, clean_tag, cfg, cache_dir),
        tag_encoder_id(model_name, tag),
        f"CLIP {model_name} ({clean_tag}) from the local Hugging Face cache",
        quick_gelu=bool(cfg.get("quick_gelu", False)),
        preprocess=tuple((k, _hashable(cfg[k])) for k in _PREPROCESS_KEYS if k in cfg),
    )


def _cached_weights_file(model_name: str, tag: str, cfg: Mapping, cache_dir: Path) -> str:
    repo, names = _hf_repo_and_files(cfg.get("hf_hub", ""))
    for name in names if repo else ():
        found = try_to_load_from_cache(repo, name, cache_dir=cache_dir)
        if isinstance(found, str):
            return found
    legacy = Path("~/.cache/clip").expanduser() / Path(cfg.get("url", "") or "-").name
    if cfg.get("url") and legacy.is_file():  # open_clip's own cache for URL-only weights
        return str(legacy)
    raise WeightsNotFoundError(missing_weights_message(model_name, tag, cfg, cache_dir))


def missing_weights_message(
    model_name: str, tag: str, cfg: Mapping, cache_dir: Path, why_not_fetched: str = ""
) -> str:
    """What to do when a tag's weights are not in the cache (and, if given, why no fetch)."""
    repo, names = _hf_repo_and_files(cfg.get("hf_hub", ""))
    hint = f"`hf download {repo} {names[0]}`" if repo else f"a download of {cfg.get('url')}"
    fetched = f"; they could not be downloaded: {why_not_fetched}" if why_not_fetched else ""
    online = (
        "connect to the internet and run again (they are fetched once), or "
        if why_not_fetched
        else ""
    )
    return (
        f"no CLIP weights for {model_name}/{tag} in the local Hugging Face cache ({cache_dir})"
        f"{fetched}. Fix: {online}on a machine with internet run {hint} and copy the cache "
        "here (or set HF_HUB_CACHE to it), or set VA_CLIP_PRETRAINED=/path/to/"
        "open_clip_model.safetensors, or use VA_ENCODER=descriptor"
    )


def fetchable_tag(model_name: str, pretrained: str | None) -> bool:
    """Whether ``pretrained`` is a tag of ``model_name`` with a Hugging Face repo to fetch from
    (not a file, a folder, random weights or an unknown tag). No network."""
    value = (pretrained or "").strip()
    if not value or value.lower() in RANDOM_WEIGHTS or value.startswith(LOCAL_DIR_PREFIX):
        return False
    if os.sep in value or value.endswith(WEIGHT_SUFFIXES) or Path(value).expanduser().exists():
        return False
    if open_clip.get_model_config(model_name) is None:
        return False
    return bool((open_clip.get_pretrained_cfg(model_name, value) or {}).get("hf_hub"))


def tag_encoder_id(model_name: str, tag: str) -> str:
    """The encoder id a pretrained tag's weights give, wherever the file is (or will be)."""
    return f"open_clip:{model_name}:{_clean_tag(tag)}"


def _clean_tag(tag: str) -> str:
    return tag.strip().lower().replace("-", "_")  # open_clip's own tag normalisation


def fetch_clip_weights(
    model_name: str,
    tag: str,
    *,
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    progress=None,
) -> ClipWeights:
    """The tag's weights, downloaded once into the Hugging Face cache when they are not there.

    ``progress(done_bytes, total_bytes, note)`` follows the download. Raises
    :class:`~va_app.encoders.fetch.WeightsDownloadError` (a :class:`WeightsNotFoundError`)
    with the usual fix when the weights are neither cached nor fetchable.
    """
    from va_app.encoders import fetch

    folder = _cache_dir(cache_dir)
    try:
        return resolve_clip_weights(model_name, tag, cache_dir=folder)
    except WeightsNotFoundError:
        if not fetchable_tag(model_name, tag):
            raise
    cfg = open_clip.get_pretrained_cfg(model_name, tag)
    repo, names = _hf_repo_and_files(cfg["hf_hub"])
    try:
        remote = fetch.locate_remote_weights(repo, names, endpoint=endpoint)
        fetch.download_weights(remote, cache_dir=folder, endpoint=endpoint, progress=progress)
    except fetch.WeightsDownloadError as exc:
        raise fetch.WeightsDownloadError(
            missing_weights_message(model_name, tag, cfg, folder, str(exc))
        ) from exc
    return resolve_clip_weights(model_name, tag, cache_dir=folder)


def _hf_repo_and_files(hf_hub: str) -> tuple[str, tuple[str, ...]]:
    """open_clip writes ``org/repo/`` (default file names) or ``org/repo/file.bin``."""
    repo, name = os.path.split(hf_hub)
    if not name:
        return repo, HF_FILE_NAMES
    stem, suffix = os.path.splitext(name)
    safe = (f"{stem}.safetensors",) if suffix in (".bin", ".pth") else ()
    return repo, (*safe, name)


def _hashable(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def _content_hash(path: Path) -> str:
    stat = path.stat()
    return _hash_file(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _hash_file(path: str, size: int, mtime_ns: int) -> str:
    """Short content hash, so two weight files with the same name give different ids."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "blake2b").hexdigest()[:_HASH_CHARS]


def resolve_device(device: str) -> str:
    """``"auto"`` means CUDA when torch sees a GPU, else the CPU."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class ClipModel(Protocol):
    """What the encoder calls of an open_clip model (an ``nn.Module``; open_clip is untyped)."""

    def encode_image(self, image: torch.Tensor) -> torch.Tensor: ...
    def encode_text(self, text: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class _LoadedClip:
    model: ClipModel
    tokenizer: Callable[[list[str]], torch.Tensor]
    # open_clip's PIL transform, for resize modes we do not vectorise
    preprocess: Callable[[Image.Image], torch.Tensor]
    size: tuple[int, int]
    mean: torch.Tensor  # (1, 3, 1, 1) on the model's device
    std: torch.Tensor
    interpolation: InterpolationMode
    resize_mode: str
    dim: int


@functools.lru_cache(maxsize=4)
def _load_clip(weights: ClipWeights, device: str) -> _LoadedClip:
    """One model per (weights, device) per process: loading CLIP is slow."""
    overrides = dict(weights.preprocess)
    # Always a file, a folder or None, never a tag: open_clip's own download of a tag retries
    # for ~46 s offline; tags are fetched (once, verified) by fetch_clip_weights instead.
    model, _, preprocess = open_clip.create_model_and_transforms(
        weights.model_name,
        pretrained=weights.checkpoint,
        device=device,
        force_quick_gelu=weights.quick_gelu,
        image_mean=overrides.get("mean"),
        image_std=overrides.get("std"),
        image_interpolation=overrides.get("interpolation"),
        image_resize_mode=overrides.get("resize_mode"),
    )
    model.eval()
    cfg = model.visual.preprocess_cfg
    size = cfg["size"] if isinstance(cfg["size"], (tuple, list)) else (cfg["size"],) * 2
    tokenizer = open_clip.get_tokenizer(weights.model_name)
    with torch.inference_mode():
        dim = int(model.encode_text(tokenizer([""]).to(device)).shape[-1])
    return _LoadedClip(
        model=model,
        tokenizer=tokenizer,
        preprocess=preprocess,
        size=(int(size[0]), int(size[1])),
        mean=torch.tensor(cfg["mean"], device=device).view(1, 3, 1, 1),
        std=torch.tensor(cfg["std"], device=device).view(1, 3, 1, 1),
        interpolation=InterpolationMode(cfg["interpolation"]),
        resize_mode=cfg["resize_mode"],
        dim=dim,
    )


class OpenClipEncoder:
    """CLIP image and text towers (open_clip): shots and texts -> unit vectors in one space."""

    has_text = True

    def __init__(
        self,
        model_name: str = "ViT-B-32",
        pretrained: str | None = "openai",
        *,
        device: str = "auto",
        batch_size: int = 32,
        frames_per_shot: int = 3,
        cache_dir: str | Path | None = None,
    ) -> None:
        if batch_size < 1 or frames_per_shot < 1:
            raise ConfigError("batch_size and frames_per_shot must be at least 1")
        self.weights = resolve_clip_weights(model_name, pretrained, cache_dir=cache_dir)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.frames_per_shot = frames_per_shot
        self._clip = _load_clip(self.weights, self.device)
        self.id = self.weights.id
        self.dim = self._clip.dim

    @property
    def model(self) -> ClipModel:
        """The loaded open_clip model (shared by every encoder with the same weights/device)."""
        return self._clip.model

    def __repr__(self) -> str:
        return f"OpenClipEncoder(id={self.id!r}, device={self.device!r})"

    def encode_shots(self, shots: list[np.ndarray]) -> np.ndarray:
        """One row per shot (frames ``(K, H, W, 3)`` uint8 RGB): its frames' mean, renormalised."""
        counts = np.array(
            [_check_frames(i, frames) for i, frames in enumerate(shots)], dtype=np.int64
        )
        if not len(counts):
            return np.zeros((0, self.dim), dtype=np.float32)
        frame_vectors = np.concatenate(list(self._encode_batches(shots)))
        sums = np.add.reduceat(frame_vectors, np.cumsum(counts) - counts, axis=0)
        return l2_normalise(sums / counts[:, None])

    def encode_images(self, frames: np.ndarray) -> np.ndarray:
        """One unit vector per frame of ``(N, H, W, 3)`` uint8 RGB (e.g. a query image)."""
        return self.encode_shots([frame[None] for frame in frames])

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise ValidationError("encode_texts takes a list of texts, not one string")
        out = [np.zeros((0, self.dim), dtype=np.float32)]
        for start in range(0, len(texts), TEXT_BATCH):
            tokens = self._clip.tokenizer(list(texts[start : start + TEXT_BATCH]))
            with torch.inference_mode(), self._autocast():
                out.append(self._to_numpy(self.model.encode_text(tokens.to(self.device))))
        return l2_normalise(np.concatenate(out))

    def _encode_batches(self, shots: list[np.ndarray]) -> Iterator[np.ndarray]:
        for batch in _rebatch((self._preprocess(frames) for frames in shots), self.batch_size):
            with torch.inference_mode(), self._autocast():
                vectors = self._to_numpy(self.model.encode_image(batch))
            yield l2_normalise(vectors)

    def _preprocess(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 ``(K, H, W, 3)`` -> the model's normalised input ``(K, 3, h, w)``, on device.

        Same steps as open_clip's PIL transform (resize, centre crop, normalise), done on a
        whole shot at once with torch; other resize modes use the PIL transform itself.
        """
        clip = self._clip
        square = clip.size[0] == clip.size[1]
        if clip.resize_mode not in ("shortest", "squash") or (
            clip.resize_mode == "shortest" and not square
        ):
            pil = [clip.preprocess(Image.fromarray(frame)) for frame in frames]
            return torch.stack(pil).to(self.device)
        images = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).permute(0, 3, 1, 2)
        size = clip.size[0] if clip.resize_mode == "shortest" else list(clip.size)
        images = tvf.resize(images, size, interpolation=clip.interpolation, antialias=True)
        images = tvf.center_crop(images, list(clip.size))
        return (images.float() / 255.0 - clip.mean) / clip.std

    def _autocast(self) -> torch.autocast:
        # Half precision on a GPU roughly doubles throughput; the CPU stays in float32.
        enabled = self.device.startswith("cuda")
        return torch.autocast("cuda" if enabled else "cpu", dtype=torch.float16, enabled=enabled)

    @staticmethod
    def _to_numpy(vectors: torch.Tensor) -> np.ndarray:
        return vectors.float().cpu().numpy()


def _check_frames(index: int, frames: np.ndarray) -> int:
    if not (isinstance(frames, np.ndarray) and frames.dtype == np.uint8 and frames.ndim == 4):
        kind = getattr(frames, "dtype", type(frames).__name__)
        raise ValidationError(
            f"shot {index}: frames must be a uint8 array (K, H, W, 3), got {kind} "
            f"{getattr(frames, 'shape', '')}"
        )
    if frames.shape[0] < 1 or frames.shape[-1] != 3:
        raise ValidationError(
            f"shot {index}: need at least one RGB frame, got shape {frames.shape}"
        )
    return int(frames.shape[0])


def _rebatch(chunks: Iterator[torch.Tensor], batch_size: int) -> Iterator[torch.Tensor]:
    """Regroup per-shot tensors into batches of ``batch_size`` rows (the last may be shorter)."""
    pending: list[torch.Tensor] = []
    rows = 0
    for chunk in chunks:
        pending.append(chunk)
        rows += len(chunk)
        if rows >= batch_size:
            merged = torch.cat(pending)
            full = rows - rows % batch_size
            yield from merged[:full].split(batch_size)
            pending, rows = [merged[full:]], rows - full
    if rows:
        yield torch.cat(pending)
