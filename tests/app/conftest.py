"""AppTest fixtures: one small demo corpus per session, fresh Streamlit caches per test."""

from __future__ import annotations

import shutil

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from va_app.config import Settings
from va_app.datasets.demo.corpus import build_demo_corpus

APP = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("demo-template") / "data"
    build_demo_corpus(Settings(data_dir=data_dir, encoder="descriptor"), n_shots=48)
    return data_dir


@pytest.fixture
def app_settings(demo_template, tmp_path, monkeypatch) -> Settings:
    """A private copy of the demo corpus, so each test may change it."""
    data_dir = tmp_path / "data"
    shutil.copytree(demo_template, data_dir)
    monkeypatch.setenv("VA_DATA_DIR", str(data_dir))
    monkeypatch.setenv("VA_ENCODER", "descriptor")
    st.cache_resource.clear()
    st.cache_data.clear()
    yield Settings.from_env()
    st.cache_resource.clear()
    st.cache_data.clear()


def make_app(*, annotator: str = "ana", label: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if annotator:
        at.session_state["annotator"] = annotator
    if label:
        at.session_state["label"] = label
    return at
