"""What ./run_app.sh does before the app starts (``demo --first-run``): the demo goes into an
empty data directory; an outdated demo nobody has labelled is moved aside and rebuilt; one that
holds someone's labels is left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py

from va_app.config import Settings
from va_app.store.catalog import Catalog
from va_app.store.meta import ENCODER_ID

ROOT = Path(__file__).resolve().parents[2]
OLD_DEMO_CLIP = "open_clip:va-demo-clip:va_demo_clip-0123456789+descriptor:v2"
SHOTS = "24"


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VA_")}
    env.update(VA_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "va_app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def _info(data_dir: Path) -> dict:
    return json.loads(_cli(data_dir, "info", "--json").stdout)


def _make_outdated(data_dir: Path) -> None:
    """As if another release's demo CLIP had encoded it (its weights hash differs)."""
    catalog = Catalog(Settings(data_dir=data_dir).sql_url)
    try:
        catalog.set_meta(ENCODER_ID, OLD_DEMO_CLIP)
    finally:
        catalog.close()
    with h5py.File(data_dir / "embeddings.h5", "a") as f:
        f.attrs["encoder_id"] = OLD_DEMO_CLIP


def test_first_run_builds_the_demo_once_and_replaces_an_outdated_untouched_one(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "README.md").write_text("kept where it is\n")
    built = _cli(data, "demo", "--first-run", "--shots", SHOTS)
    assert "empty data directory" in built.stderr
    info = _info(data)
    assert info["shots"] >= 20 and info["encoder"].startswith("open_clip:va-demo-clip:")
    current = info["encoder"]

    again = _cli(data, "demo", "--first-run", "--shots", SHOTS)
    assert again.stdout == "" and "building" not in again.stderr  # nothing to do

    _make_outdated(data)
    assert _info(data)["encoder"] == OLD_DEMO_CLIP
    rebuilt = _cli(data, "demo", "--first-run", "--shots", SHOTS)
    assert "another release's demo CLIP" in rebuilt.stderr and "moved it to" in rebuilt.stderr
    assert _info(data)["encoder"] == current
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("data.outdated-")]
    assert len(aside) == 1  # the old demo is kept, whole
    assert (aside[0] / "catalog.sqlite").exists() and (aside[0] / "embeddings.h5").exists()
    with h5py.File(aside[0] / "embeddings.h5", "r") as f:
        assert f.attrs["encoder_id"] == OLD_DEMO_CLIP
    assert (data / "README.md").read_text() == "kept where it is\n"
    # The rebuilt demo answers a search, as the app's Search page would.
    hits = json.loads(_cli(data, "search", "a car", "--limit", "3", "--json").stdout)
    assert len(hits) == 3


def test_an_outdated_demo_with_labels_is_left_alone(tmp_path):
    data = tmp_path / "data"
    _cli(data, "demo", "--shots", SHOTS)
    _cli(data, "labels", "create", "car chase")
    _make_outdated(data)
    proc = _cli(data, "demo", "--first-run", "--shots", SHOTS)
    assert proc.stdout == ""
    assert not [p for p in tmp_path.iterdir() if ".outdated-" in p.name]
    assert _info(data)["encoder"] == OLD_DEMO_CLIP and _info(data)["labels"] == 1
