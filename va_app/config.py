"""Settings: the one place configuration is read, from ``VA_*`` environment variables.

Every default lives under the data directory, so a fresh checkout runs with no set-up:
``data/catalog.sqlite`` (SQL catalog), ``data/embeddings.h5`` (vectors), ``data/chroma/``
(vector index), ``data/thumbs/``, ``data/previews/``, ``data/models/``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from va_app.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
ENCODER_CHOICES = ("auto", "clip", "descriptor")


CARD_GRIDS = ("keyboard", "buttons")
#: The default CLIP model and pretrained tag (VA_CLIP_MODEL / VA_CLIP_PRETRAINED);
#: ViT-B-32 / openai stays one setting away.
DEFAULT_CLIP_MODEL, DEFAULT_CLIP_PRETRAINED = "ViT-B-32-256", "datacomp_s34b_b86k"
MATRIX_PRECISIONS = ("auto", "float32", "float16")
SCORING_BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class Settings:
    """All tunables of one corpus. Build with :meth:`from_env`; tests pass overrides."""

    data_dir: Path = DEFAULT_DATA_DIR
    # SQLAlchemy URL; empty means the embedded SQLite file under data_dir.
    database_url: str = ""
    # Chroma: embedded (persistent files under data_dir/chroma) unless a server host is set.
    chroma_host: str = ""
    chroma_port: int = 8000
    chroma_collection: str = "shots"
    # Chroma 1.x checks no credentials itself: a reverse proxy in front of it may. Sent with
    # every request to the server: a bearer token, and/or headers as a JSON object.
    chroma_token: str = field(default="", repr=False)
    chroma_headers: str = field(default="", repr=False)
    # Encoder: "clip" needs local weights; "descriptor" is the offline visual descriptor;
    # "auto" takes CLIP when its weights are present locally, else the descriptor.
    encoder: str = "auto"
    # The default CLIP: DataComp's ViT-B-32 at 256 px (72.8 % zero-shot ImageNet, MIT licence)
    # costs about what ViT-B-32/openai (63.3 %) does on a CPU (README, "Real CLIP weights").
    clip_model: str = DEFAULT_CLIP_MODEL
    # A pretrained tag (fetched once into the Hugging Face cache) or a weights file path.
    clip_pretrained: str = DEFAULT_CLIP_PRETRAINED
    device: str = "auto"
    batch_size: int = 32
    # Shot detection (PySceneDetect ContentDetector).
    shot_threshold: float = 27.0
    min_shot_s: float = 0.5
    max_shot_s: float = 12.0
    keyframes_per_shot: int = 3
    # Processes for ingest's CPU stages (decode, detect, sample); 0 = one per CPU core,
    # 1 = serial (one video at a time, in the ingesting process).
    ingest_workers: int = 0
    # Demo corpus.
    demo_shots: int = 400
    demo_seed: int = 0
    # Diversity clusters (paper: k = 10).
    kmeans_k: int = 10
    min_positives: int = 10
    min_negatives: int = 10
    # The app's cards: "keyboard" (the card-grid component: keys, batched decisions) or
    # "buttons" (one Streamlit button per decision, the old path; the browser bench's reference).
    card_grid: str = "keyboard"
    # The matrix file's scoring copy: "float16" keeps one beside the float32 vectors (half the
    # memory, scored with torch, feeds and search re-checked in float32); "auto" keeps it once
    # the float32 matrix is larger than 8 GiB (docs/scale.md).
    matrix_precision: str = "auto"
    # Where a build's scoring pass runs: "local" (this process) or "ray" (actors that each map
    # one shard of the matrix file; ray_address "" starts a local Ray, else e.g. "auto").
    scoring: str = "local"
    ray_address: str = ""
    ray_shards: int = 2
    # Fill the vector index in a background job after an ingest, an import or a demo build;
    # off: only `reindex` fills it.
    index_job: bool = True
    # Access control (va_app.services.access): comma-separated e-mails or names per role;
    # none set means local mode (no sign-in, everyone is an admin).
    admins: str = ""
    annotators: str = ""
    viewers: str = ""
    # The role of whoever matches no entry (never admin).
    default_role: str = "viewer"

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``VA_<FIELD>`` variables (e.g. ``VA_DATA_DIR``, ``VA_ENCODER``)."""
        env = os.environ if env is None else env
        # Each value has its own field's type (_parse converts to it): Any, as no one type fits.
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"VA_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _parse(f.name, raw, getattr(cls(), f.name))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)._validated()

    def as_env(self) -> dict[str, str]:
        """These settings as ``VA_*`` variables, for a child process (:meth:`from_env` reads
        them back to equal settings)."""
        return {f"VA_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}

    def with_data_dir(self, data_dir: str | Path) -> Settings:
        return replace(self, data_dir=Path(data_dir))._validated()

    def _validated(self) -> Settings:
        settings = replace(self, data_dir=Path(self.data_dir).expanduser().resolve())
        if settings.encoder not in ENCODER_CHOICES:
            raise ConfigError(
                f"VA_ENCODER={settings.encoder!r} is not one of {', '.join(ENCODER_CHOICES)}"
            )
        if settings.card_grid not in CARD_GRIDS:
            raise ConfigError(
                f"VA_CARD_GRID={settings.card_grid!r} is not one of {', '.join(CARD_GRIDS)}"
            )
        if settings.matrix_precision not in MATRIX_PRECISIONS:
            raise ConfigError(
                f"VA_MATRIX_PRECISION={settings.matrix_precision!r} is not one of "
                f"{', '.join(MATRIX_PRECISIONS)}"
            )
        if settings.scoring not in SCORING_BACKENDS:
            raise ConfigError(
                f"VA_SCORING={settings.scoring!r} is not one of {', '.join(SCORING_BACKENDS)}"
            )
        if settings.ray_shards < 1:
            raise ConfigError("VA_RAY_SHARDS must be at least 1")
        if settings.keyframes_per_shot < 1 or settings.kmeans_k < 1:
            raise ConfigError("VA_KEYFRAMES_PER_SHOT and VA_KMEANS_K must be at least 1")
        if settings.ingest_workers < 0:
            raise ConfigError("VA_INGEST_WORKERS must be 0 (one per CPU core) or more")
        if settings.min_shot_s <= 0 or settings.max_shot_s <= settings.min_shot_s:
            raise ConfigError("need 0 < VA_MIN_SHOT_S < VA_MAX_SHOT_S")
        settings.chroma_request_headers  # noqa: B018 — a malformed value fails at start
        return settings

    @property
    def chroma_request_headers(self) -> dict[str, str]:
        """Headers for every Chroma server request (``VA_CHROMA_HEADERS``, ``VA_CHROMA_TOKEN``)."""
        headers: dict[str, str] = {}
        if self.chroma_headers.strip():
            try:
                parsed = json.loads(self.chroma_headers)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
            ):
                raise ConfigError(
                    "VA_CHROMA_HEADERS must be a JSON object of text values, "
                    'e.g. {"X-Api-Key": "..."}'
                )
            headers.update(parsed)
        if self.chroma_token:
            headers["Authorization"] = f"Bearer {self.chroma_token}"
        return headers

    @property
    def worker_count(self) -> int:
        """Ingest's CPU-stage processes: ``ingest_workers``, or the CPU cores this process may
        use when 0."""
        return self.ingest_workers or cpu_cores()

    @property
    def sql_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'catalog.sqlite'}"

    @property
    def embeddings_path(self) -> Path:
        return self.data_dir / "embeddings.h5"

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def thumbs_dir(self) -> Path:
        return self.data_dir / "thumbs"

    @property
    def previews_dir(self) -> Path:
        return self.data_dir / "previews"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def demo_videos_dir(self) -> Path:
        return self.data_dir / "videos" / "demo"


def cpu_cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _parse(name: str, raw: str, default: object) -> object:
    """Convert ``raw`` to the type of the field's default."""
    try:
        if isinstance(default, Path):
            return Path(raw)
        if isinstance(default, bool):
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if isinstance(default, (int, float)):
            return type(default)(raw)
        return raw
    except ValueError as exc:
        kind = type(default).__name__
        raise ConfigError(f"VA_{name.upper()}={raw!r}: expected a number ({kind})") from exc
