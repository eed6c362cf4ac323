"""Heavy objects, created once per server process and shared by every browser session.

The corpus's services (:func:`va_app.services.bootstrap.bootstrap`: the stores, the embedding
matrix held in memory, search, the encoder) live in ``st.cache_resource``: a click or a page
switch never reloads them. Also here: the feeds of a model version, the recommender's advice
and the Dashboard's score histogram, cached per version, and the encoder loaded under a
progress bar.
"""

from __future__ import annotations

import streamlit as st

from va_app.config import Settings
from va_app.encoders.base import Encoder
from va_app.encoders.fetch import human_size
from va_app.learn.recommender import Recommendation
from va_app.services import dashboard, feed_reads, reads
from va_app.services.access import AccessPolicy
from va_app.services.bootstrap import Services, bootstrap
from va_app.services.corpus_view import ByteProgress, FeedView


@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    return Settings.from_env()


@st.cache_resource(show_spinner=False)
def policy() -> AccessPolicy:
    """Who may do what (VA_ADMINS / VA_ANNOTATORS / VA_VIEWERS); local mode when unset."""
    return AccessPolicy.from_settings(settings())


@st.cache_resource(show_spinner="Opening the corpus …")
def _services(data_dir: str) -> Services:
    return bootstrap(settings().with_data_dir(data_dir), policy=policy())


def services() -> Services:
    """The corpus's actions and reads, built once per server process."""
    return _services(str(settings().data_dir))


def encoder() -> Encoder | None:
    """The corpus's encoder (loaded once, shared), or None when it cannot be loaded on this
    machine — e.g. an imported corpus (Netflix's Clip4CLIP vectors): search then works by
    keywords, by example and by stored zero-shot text vectors.

    CLIP weights that have to be fetched first are downloaded here, once, under an
    ``st.progress`` bar on the page that asked.
    """
    with st.spinner("Loading the encoder …"):
        return reads.encoder(services(), progress=_download_bar())


def _download_bar() -> ByteProgress:
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
def _feeds(data_dir: str, label: str, version: int, n: int, hide_labelled: bool) -> FeedView | None:
    # Keyed by version: the feeds stay put while the expert labels them (no cards vanish
    # mid-page), and change only with the next build. Right after a build the services hand
    # out that build's own feeds; only an older version, a new feed size or a restarted
    # server scores the corpus again.
    return feed_reads.feeds_for(
        services(), label, version=version, n=n, hide_labelled=hide_labelled
    )


def feeds(label: str, *, n: int, hide_labelled: bool) -> FeedView | None:
    """The latest version's feeds for ``label``, or None before the first build."""
    app = services()
    latest = reads.latest_version(app, label)
    if latest is None:
        return None
    return _feeds(str(app.settings.data_dir), latest.label, latest.version, n, hide_labelled)


@st.cache_resource(show_spinner=False, max_entries=64)
def _advice(data_dir: str, label: str, version: int, corpus_version: str) -> Recommendation:
    # A round ends at a build: labels made since the latest build change nothing until the
    # next one, so the advice is keyed by the latest version.
    return feed_reads.next_batch_advice(services(), label)


def advice(label: str, version: int) -> Recommendation:
    """The recommender's suggestion for ``label`` after its ``version`` (the latest)."""
    app = services()
    return _advice(str(app.settings.data_dir), label, version, reads.corpus_version(app))


@st.cache_resource(show_spinner=False, max_entries=16)
def _score_distribution_figure(data_dir: str, label: str, built: str, corpus_version: str):
    # A pass over the matrix and every shot id (1.5 s of the Dashboard's rerun at 2M shots):
    # it changes only with a build (``built``: version and time, so a label deleted and made
    # again is not mistaken for the old one) or an ingest. The figure is kept, not the frame.
    from va_app.reports import charts  # plotly: only the Dashboard draws

    return charts.score_distribution_figure(dashboard.score_distribution(services(), label))


def score_distribution_figure(label: str):
    """The Dashboard's histogram of the latest version's scores of every shot."""
    app = services()
    latest = reads.latest_version(app, label)
    return _score_distribution_figure(
        str(app.settings.data_dir),
        latest.label if latest else label,
        f"{latest.version}@{latest.created_at}" if latest else "",
        reads.corpus_version(app),
    )
