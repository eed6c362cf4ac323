"""Shared fixtures: isolated settings per test, offline encoder, generated video folders."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from va_app.config import Settings  # noqa: E402


@pytest.fixture
def settings(tmp_path) -> Settings:
    """A fresh corpus under tmp_path with the offline descriptor encoder."""
    return Settings(data_dir=tmp_path / "data", encoder="descriptor")
