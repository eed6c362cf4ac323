"""Heavy objects, created once per server process and shared by every browser session.

The workspace (SQL engine, Chroma client, the embedding matrix held in memory), the encoder
(CLIP weights) and the search structure live in ``st.cache_resource``: a click or a page switch
never reloads them. Also here: :func:`shot_clip`, the file that plays exactly a shot.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from va_app.config import Settings
from va_app.encoders.base import Encoder
from va_app.encoders.fetch import human_size
from va_app.search.shots import ShotSearch
from va_app.services.access import AccessPolicy
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
    return Workspace(settings().with_data_dir(data_dir), policy=policy())


def workspace() -> Workspace:
    return _workspace(str(settings().data_dir))


def encoder() -> Encoder | None:
    """The corpus's encoder (loaded once, in the shared workspace), or None when it cannot be
    loaded on this machine — e.g. an imported corpus (Netflix's Clip4CLIP vectors): search then
    works by keywords, by example and by stored zero-shot text vectors.

    CLIP weights that have to be fetched first are downloaded here, once, under an
    ``st.progress`` bar on the page that asked.
    """
    with st.spinner("Loading the encoder …"):
        return workspace().encoder(progress=_download_bar())


def search() -> ShotSearch:
    """Search over the corpus, rebuilt only after an ingest (held by the workspace)."""
    return workspace().shot_search


def _download_bar():
    """``progress(done, total, note)`` drawn as one ``st.progress``, made on the first call."""
    bars: list = []
    notes: list[str] = []

    def update(done: int, total: int, note: str = "") -> None:
        if note:
            notes[:] = [note[:1].upper() + note[1:]]
        text = f"{notes[0] if notes else 'Downloading CLIP weights'} — {human_size(done)}"
        share = min(done / total, 1.0) if total else 0.0
        if not bars:
            bars.append(st.progress(share, text=text))
        else:
            bars[0].progress(share, text=text)

    return update


@st.cache_resource(show_spinner="Scoring every shot …", max_entries=16)
def _feeds(data_dir: str, label: str, version: int, n: int, hide_labelled: bool):
    # Keyed by version: the feeds stay put while the expert labels them (no cards vanish
    # mid-page), and change only with the next build. Right after a build the workspace hands
    # out that build's own feeds; only an older version, a new feed size or a restarted
    # server scores the corpus again.
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


def shot_clip(shot_id: str) -> Path:
    """The file that plays exactly the shot, first frame to last (H.264 mp4, ~360 lines, no
    audio; cut on the first call, then cached under the data dir's ``previews/``).

    For ``st.video(path, loop=True)`` or a component (``path.read_bytes()``: tens to a few
    hundred kB). Raises ``NotFoundError`` for a shot whose video is not on this machine
    (imported corpora of YouTube links): show its ``source_url`` instead.
    """
    return workspace().shot_clip(shot_id)
