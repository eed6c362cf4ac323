"""Heavy objects, created once per server process and shared by every browser session.

The workspace (SQL engine, Chroma client, the embedding matrix held in memory), the encoder
(CLIP weights) and the search structure live in ``st.cache_resource``: a click or a page switch
never reloads them.
"""

from __future__ import annotations

import streamlit as st

from va_app.services.access import AccessPolicy
from va_app.config import Settings
from va_app.encoders import encoder_for_corpus
from va_app.encoders.base import Encoder
from va_app.errors import VAError
from va_app.search.shots import ShotSearch
from va_app.services.workspace import Workspace


@st.cache_resource(show_spinner=False)
def _settings() -> Settings:
    return Settings.from_env()


def settings() -> Settings:
    return _settings()


@st.cache_resource(show_spinner=False)
def policy() -> AccessPolicy:
    """Who may do what (VA_ADMINS / VA_ANNOTATORS / VA_VIEWERS); local mode when unset."""
    return AccessPolicy.from_settings(settings())


@st.cache_resource(show_spinner="Opening the corpus …")
def _workspace(data_dir: str) -> Workspace:
    return Workspace(settings().with_data_dir(data_dir))


def workspace() -> Workspace:
    return _workspace(str(settings().data_dir))


@st.cache_resource(show_spinner="Loading the encoder …")
def _encoder(data_dir: str, corpus_encoder_id: str) -> Encoder | None:
    try:
        return encoder_for_corpus(settings().with_data_dir(data_dir), corpus_encoder_id or None)
    except VAError:
        # e.g. an imported corpus (Netflix's Clip4CLIP vectors) whose encoder is not here:
        # search then works by keywords, by example and by stored zero-shot text vectors.
        return None


def encoder() -> Encoder | None:
    """The corpus's encoder, or None when it cannot be loaded on this machine."""
    ws = workspace()
    return _encoder(str(ws.settings.data_dir), ws.corpus.encoder_id)


@st.cache_resource(show_spinner="Preparing search …", max_entries=2)
def _search(data_dir: str, corpus_version: str) -> ShotSearch:
    ws = workspace()
    return ShotSearch.from_corpus(ws.corpus, ws.matrix)


def search() -> ShotSearch:
    ws = workspace()
    return _search(str(ws.settings.data_dir), ws.corpus_version)


@st.cache_resource(show_spinner="Scoring every shot …", max_entries=16)
def _feeds(data_dir: str, label: str, version: int, n: int, hide_labelled: bool):
    # Keyed by version: the feeds stay put while the expert labels them (no cards vanish
    # mid-page), and change only with the next build.
    return workspace().feeds_for(label, version=version, n=n, hide_labelled=hide_labelled)


def feeds(label: str, *, n: int, hide_labelled: bool):
    """The latest version's feeds for ``label``, or None before the first build."""
    ws = workspace()
    latest = ws.models.latest(label)
    if latest is None:
        return None
    return _feeds(str(ws.settings.data_dir), latest.label, latest.version, n, hide_labelled)


@st.cache_resource(show_spinner=False, max_entries=64)
def _advice(data_dir: str, label: str, version: int, corpus_version: str):
    # A round ends at a build: labels made since the latest build change nothing until the
    # next one, so the advice is keyed by the latest version.
    return workspace().next_batch_advice(label)


def advice(label: str, version: int):
    """The recommender's suggestion for ``label`` after its ``version`` (the latest)."""
    ws = workspace()
    return _advice(str(ws.settings.data_dir), label, version, ws.corpus_version)
