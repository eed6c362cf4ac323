"""A team on one deployment, started natively: PostgreSQL + ``chroma run`` + ``streamlit run``.

The topology of ``deploy/compose.yaml`` without docker: a throw-away PostgreSQL server holds the
catalog and the annotations (``VA_DATABASE_URL``), a Chroma server the vector index
(``VA_CHROMA_HOST`` / ``VA_CHROMA_PORT``), and the app runs as a user starts it on a demo corpus
built into both. Two annotators (two browser contexts, ``?annotator=`` deep links) label the
same label at the same time — their clicks interleaved, each sent before the other's answer
came back; then a manager opens the Dashboard and sees both of them, and downloads the
per-annotator table. The store holds every acknowledged decision exactly once.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import TESTER, open_services
from tests.e2e.conftest import (
    BROWSER_TESTS,
    DEMO_SHOTS,
    IDLE,
    VIEWPORT,
    StreamlitServer,
    screenshot_dir,
)
from tests.servers import ChromaServer, chroma_cli
from va_app.config import Settings
from va_app.datasets.demo.corpus import build_demo_corpus
from va_app.store.catalog import Catalog
from va_app.store.index import VectorIndex
from va_app.store.labels import LabelStore

pytestmark = BROWSER_TESTS
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

LABEL = "night"
ANNOTATORS = ("ann", "bob")
CLICKS = 12  # decisions per annotator, on the same shots
DISAGREE_EVERY = 4  # bob contradicts ann on every 4th shot: 3 of 12
# The clicked button is highlighted (primary) and the page is idle: the click was answered.
ANSWERED_JS = f"""key => document.querySelector(`${{key}} [data-testid="stBaseButton-primary"]`)
                       && document.querySelector('{IDLE}')"""


def css_key(key: str) -> str:
    """The class Streamlit gives the container of the element keyed ``key``."""
    return ".st-key-" + re.sub(r"[^a-zA-Z0-9_-]", "-", key)


@pytest.fixture(scope="module")
def team(postgres, e2e_demo_template, tmp_path_factory) -> Iterator[tuple[Settings, str]]:
    """The three servers, the demo corpus built into them, the label; yields the corpus's
    settings and the app's URL."""
    assert chroma_cli() is not None, "no `chroma` command next to python (chromadb installs it)"
    root = tmp_path_factory.mktemp("team")
    chroma = ChromaServer(root / "chroma", root / "chroma.log").start()
    app = None
    try:
        settings = Settings(
            data_dir=root / "data",
            encoder="descriptor",
            database_url=postgres.new_catalog_url(),
            chroma_host="127.0.0.1",
            chroma_port=chroma.port,
        )
        # The session's rendered demo movies: ingest them, no second render.
        shutil.copytree(e2e_demo_template / "videos", settings.data_dir / "videos")
        build_demo_corpus(settings, n_shots=DEMO_SHOTS)
        ws = open_services(settings)
        ws.labelling.create_label(TESTER, LABEL, created_by="lead")
        ws.close()
        app = StreamlitServer(
            settings.data_dir,
            root / "streamlit.log",
            env={
                "VA_DATABASE_URL": settings.database_url,
                "VA_CHROMA_HOST": "127.0.0.1",
                "VA_CHROMA_PORT": str(chroma.port),
                "VA_CARD_GRID": "buttons",
            },
        ).start()
        yield settings, app.url
    finally:
        if app is not None:
            app.stop()
        chroma.stop()


def _open(browser, url: str):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.wait_for_selector(IDLE)
    return page


def _card_order(page, ids: list[str]) -> list[str]:
    """Shot ids of the search page's cards, in page order."""
    by_css = {re.sub(r"[^a-zA-Z0-9_-]", "-", s): s for s in ids}
    classes = page.locator('[class*="st-key-pos-search-"]').evaluate_all(
        "els => els.map(e => e.className)"
    )
    found = [re.search(r"st-key-pos-search-(\S+)", c).group(1) for c in classes]
    return [by_css[c] for c in dict.fromkeys(found)]


def _click(page, shot_id: str, value: bool) -> str:
    key = css_key(f"{'pos' if value else 'neg'}:search:{shot_id}")
    page.locator(key).get_by_role("button").click()
    return key


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_two_annotators_label_at_once_and_the_manager_sees_both(
    team, browser, tmp_path, e2e_report
):
    settings, url = team
    catalog = Catalog(settings.sql_url)
    truth = catalog.ground_truth(LABEL)
    pages = {
        who: _open(browser, f"{url}/search?annotator={who}&label={LABEL}") for who in ANNOTATORS
    }
    for page in pages.values():
        page.locator('[class*="st-key-pos-search-"]').first.wait_for()
        _no_exception(page)
    shots = _card_order(pages["ann"], list(truth))[:CLICKS]
    assert len(shots) == CLICKS and _card_order(pages["bob"], list(truth))[:CLICKS] == shots

    decided = {who: {} for who in ANNOTATORS}
    for i, shot in enumerate(shots):
        words = {"ann": truth[shot], "bob": truth[shot] != (i % DISAGREE_EVERY == 0)}
        # Both clicks leave before either answer is back: the two sessions write at once.
        keys = {who: _click(pages[who], shot, words[who]) for who in ANNOTATORS}
        for who in ANNOTATORS:
            pages[who].wait_for_function(ANSWERED_JS, arg=keys[who])
            decided[who][shot] = words[who]
    for page in pages.values():
        _no_exception(page)

    history = LabelStore(catalog).history(LABEL)
    catalog.close()
    # Every answered decision is in the store exactly once, as its annotator made it.
    assert Counter((a.annotator, a.shot_id) for a in history) == Counter(
        {(who, shot): 1 for who in ANNOTATORS for shot in shots}
    )
    assert {(a.annotator, a.shot_id): a.value for a in history} == {
        (who, shot): value for who in ANNOTATORS for shot, value in decided[who].items()
    }
    # The index the app searches is the Chroma server's: every shot of the corpus is in it.
    assert VectorIndex.from_settings(settings).count() == len(truth)

    manager = _open(browser, f"{url}/dashboard?label={LABEL}")
    manager.get_by_role("heading", name="Dashboard").wait_for()
    _no_exception(manager)
    legend = manager.locator(f"{css_key('chart-activity')} .legendtext")
    legend.first.wait_for()
    assert sorted(legend.all_text_contents()) == sorted(ANNOTATORS)
    shared = (
        manager.locator('[data-testid="stMetric"]')
        .filter(has_text="Shots with several annotators")
        .get_by_test_id("stMetricValue")
    )
    assert shared.inner_text() == str(CLICKS)
    with manager.expect_download() as download:
        manager.locator(css_key("download-annotator_activity-csv")).get_by_role("button").click()
    saved = Path(tmp_path / download.value.suggested_filename)
    download.value.save_as(saved)
    activity = pd.read_csv(saved)
    assert activity.groupby("annotator")["count"].sum().to_dict() == dict.fromkeys(
        ANNOTATORS, CLICKS
    )
    assert set(activity["label"]) == {LABEL}
    out = screenshot_dir()
    out.mkdir(parents=True, exist_ok=True)
    manager.locator(css_key("chart-agreement-time")).scroll_into_view_if_needed()
    manager.screenshot(path=str(out / "team-dashboard.png"))
    e2e_report["screenshots"].append("team-dashboard.png")
