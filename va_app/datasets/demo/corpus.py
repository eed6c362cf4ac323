"""The demo corpus: render procedural movies, ingest them, keep their ground truth.

A new demo corpus is encoded by the demo world's own CLIP (:mod:`va_app.encoders.bundled`)
when the encoder is ``auto``, so text search, zero-shot and "more like this" are real
text-to-video retrieval from the first run; ``VA_ENCODER=descriptor`` or ``clip`` choose as
for any corpus, and an existing corpus keeps the encoder it was built with.

Ground truth goes to its own table: simulations and tests read it; the app never shows it
as annotations.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from va_app.config import Settings
from va_app.datasets.demo.manifest import DemoManifest
from va_app.datasets.demo.world import render_demo_corpus
from va_app.domain import IngestReport
from va_app.encoders.bundled import demo_clip_available, demo_clip_settings
from va_app.ingest import VideoMeta, ingest
from va_app.store.corpus import Corpus

Progress = Callable[[int, int, str], None]
# Rendering is the first ~40 % of the work, ingesting the rest (measured on the demo).
RENDER_SHARE = 0.4


def build_demo_corpus(
    settings: Settings, *, n_shots: int | None = None, progress: Progress | None = None
) -> IngestReport:
    """Render (if needed) and ingest the demo corpus into ``settings.data_dir``."""
    out_dir = settings.demo_videos_dir
    n_shots = n_shots or settings.demo_shots
    render_demo_corpus(
        out_dir,
        n_shots=n_shots,
        seed=settings.demo_seed,
        progress=_scaled(progress, 0.0, RENDER_SHARE, "rendering"),
    )
    manifest = DemoManifest.load(out_dir / "manifest.json")
    raw = json.loads((out_dir / "manifest.json").read_text())
    metadata = {
        v["file"]: VideoMeta(v.get("title", ""), v.get("genre", ""), tuple(v.get("tags", ())))
        for v in raw["videos"]
    }
    report = ingest(
        demo_encoder_settings(settings),
        out_dir,
        metadata=metadata,
        progress=_scaled(progress, RENDER_SHARE, 1.0, "ingesting"),
    )
    store_ground_truth(settings, manifest)
    return report


def demo_encoder_settings(settings: Settings) -> Settings:
    """The settings the demo is ingested with: the demo CLIP for a new corpus in auto mode."""
    if settings.encoder != "auto" or not demo_clip_available():
        return settings
    corpus = Corpus(settings)
    try:
        new = not corpus.encoder_id
    finally:
        corpus.close()
    return demo_clip_settings(settings) if new else settings


def store_ground_truth(settings: Settings, manifest: DemoManifest) -> int:
    corpus = Corpus(settings)
    try:
        rows: list[tuple[str, str, bool]] = []
        for shot in corpus.shots():
            truth = manifest.ground_truth_for(
                Path(shot.video_path).name, shot.start_frame, shot.end_frame
            )
            rows.extend((shot.id, concept, value) for concept, value in truth.items())
        corpus.catalog.add_ground_truth(rows)
        return len(rows)
    finally:
        corpus.close()


def _scaled(progress: Progress | None, lo: float, hi: float, stage: str):
    """Map a stage's (done, total) onto one overall 0..1000 progress scale."""
    if progress is None:
        return None

    def update(done: int, total: int, name: str = "") -> None:
        fraction = lo + (hi - lo) * (done / total if total else 1.0)
        progress(round(fraction * 1000), 1000, f"{stage} {name}".strip())

    return update
