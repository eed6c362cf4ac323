"""Choosing the encoder from settings: CLIP when its weights are here, else the offline descriptor.

- ``VA_ENCODER=clip``: CLIP (open_clip) or :class:`WeightsNotFoundError`.
- ``VA_ENCODER=descriptor``: the offline visual descriptor (no text tower).
- ``VA_ENCODER=auto``: CLIP if its weights are here or can be fetched, else the descriptor; for
  an existing corpus, the encoder the corpus was built with when that one is available.

Weights named by a pretrained tag (``VA_CLIP_PRETRAINED=openai``) that are not in the local
Hugging Face cache are fetched once (``va_app.encoders.fetch``) when CLIP is wanted and the hub
can be reached; offline that fails at once and ``auto`` falls back to the descriptor. A demo
corpus keeps the demo world's own CLIP (:mod:`va_app.encoders.bundled`), bundled, never fetched.

A corpus records the id of the encoder that made its vectors; vectors of two encoders cannot
be compared, so :func:`encoder_for_corpus` refuses a mismatch before loading anything.
Imports of torch/open_clip stay inside functions: ``va_app.encoders.base`` must stay light.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from va_app.config import Settings
from va_app.encoders.base import Encoder, NoTextTowerError, l2_normalise, require_same_encoder
from va_app.encoders.bundled import (
    bundled_encoder,
    bundled_encoder_id,
    demo_clip_settings,
    is_demo_clip_id,
    register_bundled,
)
from va_app.errors import ConfigError, WeightsNotFoundError

__all__ = [
    "Encoder",
    "NoTextTowerError",
    "describe_encoder_choice",
    "encoder_for_corpus",
    "ensure_clip_weights",
    "encoder_status_line",
    "l2_normalise",
    "make_encoder",
    "planned_encoder_id",
]

CLIP_ID_PREFIX = "open_clip:"
DESCRIPTOR_ID_PREFIX = "descriptor:"
KEYWORD_FALLBACK = "text search falls back to keywords over titles and tags"

log = logging.getLogger(__name__)
#: ``progress(done_bytes, total_bytes, note)`` of a weights download (see encoders.fetch).
ByteProgress = Callable[[int, int, str], None]
#: Why the last fetch of (model, tag) failed in this process, for describe_encoder_choice.
_fetch_failures: dict[tuple[str, str], str] = {}


def make_encoder(settings: Settings, *, progress: ByteProgress | None = None) -> Encoder:
    """The encoder ``settings`` ask for; CLIP models are loaded once per process.

    Missing weights of a pretrained tag are fetched first (``progress`` follows the bytes).
    """
    if settings.encoder == "clip" or (
        settings.encoder == "auto" and not ensure_clip_weights(settings, progress=progress)
    ):
        return _clip_encoder(settings, progress)
    return _descriptor_encoder()


def encoder_for_corpus(
    settings: Settings, corpus_encoder_id: str | None, *, progress: ByteProgress | None = None
) -> Encoder:
    """The encoder for a corpus whose vectors were made by ``corpus_encoder_id`` (None: new corpus).

    In auto mode the corpus's own encoder wins when it is available. Raises
    :class:`EncoderMismatchError` (before loading any model) when the settings give another.
    """
    if corpus_encoder_id is None:
        return make_encoder(settings, progress=progress)
    if settings.encoder == "auto" and is_demo_clip_id(corpus_encoder_id):
        settings = demo_clip_settings(settings)  # the corpus remembers its encoder
    elif settings.encoder == "auto":
        settings = _own_clip_settings(settings, corpus_encoder_id)
    chosen: Encoder | None
    if settings.encoder in ("auto", "descriptor") and corpus_encoder_id.startswith(
        DESCRIPTOR_ID_PREFIX
    ):
        # The corpus's own descriptor version: a corpus built by an older release keeps
        # growing with the features it was built with.
        chosen = _descriptor_encoder(corpus_encoder_id)
        planned = chosen.id
    else:
        if settings.encoder != "descriptor" and _fetch_would_give(settings, corpus_encoder_id):
            ensure_clip_weights(settings, progress=progress)
        chosen, planned = None, planned_encoder_id(settings)
    require_same_encoder(
        corpus_encoder_id, planned, _mismatch_message(settings, corpus_encoder_id, planned)
    )
    return chosen if chosen is not None else make_encoder(settings)


def _own_clip_settings(settings: Settings, corpus_encoder_id: str) -> Settings:
    """Auto mode: a corpus built with another pretrained tag than the settings name (the
    default changed since: ViT-B-32/openai before this release) keeps its own CLIP when that
    one's weights are on this machine. Nothing is fetched for it."""
    from va_app.encoders.clip import clip_weights_available

    parts = corpus_encoder_id.split(":")
    if not corpus_encoder_id.startswith(CLIP_ID_PREFIX) or len(parts) != 3 or "-" in parts[2]:
        return settings  # not a tag's id (a weights file, a folder, a combined encoder)
    model, tag = parts[1], parts[2]
    if (model, tag) == (settings.clip_model, settings.clip_pretrained):
        return settings
    if model == "local-dir" or not clip_weights_available(model, tag):
        return settings
    return replace(settings, clip_model=model, clip_pretrained=tag)


def ensure_clip_weights(settings: Settings, *, progress: ByteProgress | None = None) -> str:
    """Make the configured CLIP weights local: fetch a missing tag's file once.

    Returns "" when the weights are here (now), else why not (one line). Never raises for
    missing weights; a setting that is not a tag (a file, a folder) is only looked up.
    """
    from va_app.encoders.clip import clip_weights_available, fetch_clip_weights, fetchable_tag

    model, tag = settings.clip_model, settings.clip_pretrained
    if clip_weights_available(model, tag):
        return ""
    if not fetchable_tag(model, tag):
        return "the weights are not here and are not a pretrained tag that can be fetched"
    try:
        fetch_clip_weights(model, tag, progress=progress)
    except WeightsNotFoundError as exc:
        log.info("CLIP weights not fetched: %s", exc)
        _fetch_failures[(model, tag)] = str(exc)
        return str(exc)
    _fetch_failures.pop((model, tag), None)
    return ""


def planned_encoder_id(settings: Settings) -> str:
    """The id :func:`make_encoder` would give, without loading a model."""
    if _wants_clip(settings):
        from va_app.encoders.clip import resolve_clip_weights

        register_bundled(settings.clip_model)
        clip_id = resolve_clip_weights(settings.clip_model, settings.clip_pretrained).id
        return bundled_encoder_id(clip_id)
    return _descriptor_encoder().id


def describe_encoder_choice(settings: Settings) -> str:
    """One line for the CLI and the app: which encoder, from where, and how to change it."""
    if settings.encoder == "descriptor":
        return f"offline visual descriptor (VA_ENCODER=descriptor); {KEYWORD_FALLBACK}"
    from va_app.encoders.clip import resolve_clip_weights, resolve_device

    register_bundled(settings.clip_model)
    try:
        weights = resolve_clip_weights(settings.clip_model, settings.clip_pretrained)
    except (WeightsNotFoundError, ConfigError) as exc:
        why = _fetch_failures.get((settings.clip_model, settings.clip_pretrained)) or str(exc)
        if settings.encoder == "clip":
            return f"CLIP {settings.clip_model} ({settings.clip_pretrained}) — not available: {why}"
        reason = why.removesuffix(", or use VA_ENCODER=descriptor")  # already in use
        return f"offline visual descriptor — {KEYWORD_FALLBACK}. CLIP is not used: {reason}"
    return f"{weights.description}, on {resolve_device(settings.device)}"


def _wants_clip(settings: Settings) -> bool:
    if settings.encoder == "auto":
        from va_app.encoders.clip import clip_weights_available

        register_bundled(settings.clip_model)
        return clip_weights_available(settings.clip_model, settings.clip_pretrained)
    return settings.encoder == "clip"


def _fetch_would_give(settings: Settings, corpus_encoder_id: str) -> bool:
    """Whether the settings name a tag whose weights make ``corpus_encoder_id`` (so fetching
    them is worth it; other weights would be refused as a mismatch anyway)."""
    from va_app.encoders.clip import fetchable_tag, tag_encoder_id

    model, tag = settings.clip_model, settings.clip_pretrained
    return fetchable_tag(model, tag) and tag_encoder_id(model, tag) == corpus_encoder_id


def _clip_encoder(settings: Settings, progress: ByteProgress | None = None) -> Encoder:
    # The model itself is cached per (weights, device) in va_app.encoders.clip (lru_cache).
    from va_app.encoders.clip import OpenClipEncoder, fetch_clip_weights, fetchable_tag

    if fetchable_tag(settings.clip_model, settings.clip_pretrained):
        # VA_ENCODER=clip: a failed fetch is the error the user sees (with its reason).
        fetch_clip_weights(settings.clip_model, settings.clip_pretrained, progress=progress)

    register_bundled(settings.clip_model)
    return bundled_encoder(
        OpenClipEncoder(
            settings.clip_model,
            settings.clip_pretrained,
            device=settings.device,
            batch_size=settings.batch_size,
            frames_per_shot=settings.keyframes_per_shot,
        )
    )


def _descriptor_encoder(corpus_encoder_id: str | None = None) -> Encoder:
    """The offline descriptor: the version ``corpus_encoder_id`` names when this release
    computes it, else the latest (an unknown id is then refused as a mismatch)."""
    from va_app.encoders.descriptor import LATEST_VERSION, DescriptorEncoder, version_of

    version = version_of(corpus_encoder_id or "") or LATEST_VERSION
    # It picks its own frame count (its motion features need several frames), not VA_KEYFRAMES.
    return DescriptorEncoder(version)


def encoder_status_line(corpus_encoder_id: str, encoder: Encoder | None) -> str:
    """One line for the app: which encoder the corpus uses and what text search can do."""
    name = f"Encoder: `{corpus_encoder_id}`"
    if encoder is None:
        return (
            f"{name} — not available on this machine: search works by keywords, by example "
            "(more like this) and by stored zero-shot text vectors."
        )
    if not encoder.has_text:
        return (
            f"{name} — offline visual descriptor: text search falls back to keywords over "
            "titles and tags. Set VA_ENCODER=clip with local CLIP weights for semantic "
            "search (see README)."
        )
    if is_demo_clip_id(corpus_encoder_id):
        return (
            f"{name} — the demo world's own small CLIP (trained on another rendering of "
            "the demo world): text search finds times of day, places, cars, people and "
            "rain, not camera moves or shot types — those need active learning."
        )
    return f"{name} — text search is semantic (CLIP)."


def _mismatch_message(settings: Settings, corpus_id: str, current_id: str) -> str:
    if is_demo_clip_id(corpus_id) and is_demo_clip_id(current_id):
        return (
            f"the demo corpus in {settings.data_dir} was encoded by another release's demo CLIP "
            f"({corpus_id!r}; this release ships {current_id!r}), and vectors of different "
            "encoders cannot be compared. Fix: run ./run_app.sh (or python -m va_app demo "
            "--first-run): it moves a demo without labels or annotations aside and builds "
            "this release's. A demo with labels stays: set VA_DATA_DIR to a new directory and "
            "build the demo there"
        )
    return (
        f"the corpus in {settings.data_dir} was built with encoder {corpus_id!r} but the current "
        f"settings give {current_id!r}, and vectors of different encoders cannot be compared. "
        f"Fix: run with the corpus's settings ({_settings_for(corpus_id)}), or set VA_DATA_DIR to "
        "a new directory, or re-ingest the videos into a new corpus"
    )


def _settings_for(encoder_id: str) -> str:
    """The VA_* settings that give ``encoder_id`` again, as far as the id tells."""
    if encoder_id.startswith(DESCRIPTOR_ID_PREFIX):
        return "VA_ENCODER=descriptor"
    parts = encoder_id.split(":")
    if encoder_id.startswith(CLIP_ID_PREFIX) and len(parts) == 3 and parts[1] != "local-dir":
        model, weights = parts[1], parts[2]
        if "-" in weights:  # "<file stem>-<content hash>" (tags have no "-"): a weights file
            weights = f"<path of the {weights.rsplit('-', 1)[0]} weights file>"
        return f"VA_ENCODER=clip VA_CLIP_MODEL={model} VA_CLIP_PRETRAINED={weights}"
    return "VA_ENCODER / VA_CLIP_MODEL / VA_CLIP_PRETRAINED"
