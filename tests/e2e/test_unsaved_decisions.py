"""Nothing on screen is lost: the keyboard grid's decisions survive a killed server, a reload
and a restart, and each lands in the store exactly once.

A real ``streamlit run`` server is killed with SIGKILL while decisions are in flight; the
expert keeps labelling (the grid says how many decisions are unsaved), reloads (the page asks
first), the server comes back, and the decisions kept in the browser's storage are sent again
with the new page's ticket. The store is read back directly: every decision once, by its id.
On a full disk (a small tmpfs, root only) the decisions wait in the browser, the page says
why, and they are written once there is space again.
"""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import TESTER, open_services
from tests.e2e.conftest import BROWSER_TESTS, IDLE, StreamlitServer
from va_app.config import Settings
from va_app.store.catalog import Catalog
from va_app.store.labels import LabelStore

pytestmark = BROWSER_TESTS
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=30_000)

LABEL, ANNOTATOR = "night", "ana"


def _open(page, url: str) -> None:
    try:
        page.goto(url)
    except playwright_api.Error as exc:
        # Chromium reloads its own error page once the server answers again (after a failed
        # reload): that navigation to the same URL may win the race with this one.
        if "interrupted by another navigation" not in str(exc):
            raise
    page.wait_for_selector(".va-card", timeout=120_000)
    page.wait_for_selector(IDLE, timeout=120_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def _shot_ids(page) -> list[str]:
    return page.locator(".va-card").evaluate_all("cards => cards.map(c => c.dataset.shot)")


def _label(page, truth: dict[str, bool], ids: list[str]) -> dict[str, bool]:
    """Press p or n for each card in turn (the focus moves on after each decision)."""
    for shot_id in ids:
        page.keyboard.press("p" if truth[shot_id] else "n")
    return {shot_id: truth[shot_id] for shot_id in ids}


def _create_label(settings) -> None:
    app = open_services(settings)
    try:
        app.labelling.create_label(TESTER, LABEL)
    finally:
        app.close()


def _stored(settings) -> list:
    """The label's rows, read from the catalog alone (the services would open the index too,
    which a full disk refuses)."""
    catalog = Catalog(settings.sql_url)
    try:
        return LabelStore(catalog).history(LABEL)
    finally:
        catalog.close()


def _decision_ids(settings) -> list[str | None]:
    from sqlalchemy import text

    catalog = Catalog(settings.sql_url)
    try:
        with catalog.read() as s:
            return list(s.execute(text("SELECT decision_id FROM annotations")).scalars())
    finally:
        catalog.close()


def _says_saved(page, n: int, wanted: dict[str, bool]) -> None:
    expect(page.locator(".va-sync")).to_have_text("✓ saved", timeout=60_000)
    n_pos = sum(wanted.values())
    expect(page.locator(".va-counts")).to_have_text(
        f"Annotated {n} · {n_pos} positive · {n - n_pos} negative"
    )


def test_thirty_decisions_survive_a_killed_server_and_a_reload_once_each(
    server, page, e2e_settings
):
    truth = Catalog(e2e_settings.sql_url).ground_truth(LABEL)
    _create_label(e2e_settings)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.accept()))
    url = f"{server.url}/search?annotator={ANNOTATOR}&label={LABEL}"
    _open(page, url)
    first_page = _shot_ids(page)
    assert len(first_page) == 20

    wanted = _label(page, truth, first_page[:15])
    server.kill()  # right after the 15th key: the last ones are still in flight
    wanted |= _label(page, truth, first_page[15:20])  # the expert keeps labelling
    sync = page.locator(".va-sync")
    expect(sync).to_have_attribute("data-state", "reconnecting")
    unsaved = int(sync.get_attribute("data-unsaved"))
    assert unsaved >= 5
    expect(sync).to_have_text(f"{unsaved} unsaved — reconnecting")
    stored_ids = page.evaluate(
        "() => Object.keys(localStorage).filter(k => k.startsWith('va-unsaved:'))"
        ".map(k => JSON.parse(localStorage[k]))"
    )
    assert len(stored_ids) == unsaved  # the unsaved ones wait in the browser's storage

    with pytest.raises(playwright_api.Error):  # the server is down: the reload cannot load
        page.reload()
    assert dialogs == ["beforeunload"]  # ... and closing the page asked first

    server.start()
    _open(page, url)  # the expert reloads once the server is back
    _says_saved(page, 20, wanted)

    page.keyboard.press("PageDown")  # Search's next page
    page.wait_for_function(
        "first => { const c = document.querySelector('[data-testid=\"stBidiComponentIsolated\"]')"
        ".shadowRoot.querySelector('.va-card'); return c && c.dataset.shot !== first; }",
        arg=first_page[0],
        timeout=60_000,
    )
    page.wait_for_selector(IDLE)
    second_page = _shot_ids(page)
    assert not set(second_page) & set(first_page)
    page.locator(".va-card").first.click()
    wanted |= _label(page, truth, second_page[:10])
    _says_saved(page, 30, wanted)

    rows = _stored(e2e_settings)
    assert len(rows) == 30  # exactly once each: nothing lost, nothing doubled
    assert {a.shot_id: a.value for a in rows} == wanted
    assert {(a.annotator, a.source) for a in rows} == {(ANNOTATOR, "search")}
    ids = _decision_ids(e2e_settings)
    assert None not in ids and len(set(ids)) == 30


def test_a_restarted_server_gets_the_unsaved_decisions_without_a_manual_reload(
    server, page, e2e_settings
):
    truth = Catalog(e2e_settings.sql_url).ground_truth(LABEL)
    _create_label(e2e_settings)
    _open(page, f"{server.url}/search?annotator={ANNOTATOR}&label={LABEL}")
    ids = _shot_ids(page)
    wanted = _label(page, truth, ids[:3])
    server.kill()
    wanted |= _label(page, truth, ids[3:6])
    expect(page.locator(".va-sync")).to_have_attribute("data-state", "reconnecting")
    server.start()
    # The old ticket is unknown to the new process (410): the page reloads itself and sends
    # what its storage holds.
    page.wait_for_selector(IDLE, timeout=120_000)
    _says_saved(page, 6, wanted)
    rows = _stored(e2e_settings)
    assert {a.shot_id: a.value for a in rows} == wanted and len(rows) == 6


def test_decisions_made_on_a_full_disk_wait_in_the_browser_and_are_written_later(
    small_disk, e2e_demo_template, page, tmp_path
):
    data_dir = small_disk.path / "data"
    shutil.copytree(e2e_demo_template, data_dir)
    settings = Settings(data_dir=data_dir, encoder="descriptor")
    truth = Catalog(settings.sql_url).ground_truth(LABEL)
    _create_label(settings)
    server = StreamlitServer(data_dir, tmp_path / "streamlit.log").start()
    try:
        _open(page, f"{server.url}/search?annotator={ANNOTATOR}&label={LABEL}")
        ids = _shot_ids(page)
        wanted = _label(page, truth, ids[:2])
        _says_saved(page, 2, wanted)
        small_disk.fill()
        wanted |= _label(page, truth, ids[2:5])
        sync = page.locator(".va-sync")
        expect(sync).to_have_text("3 unsaved — retrying")
        expect(page.locator(".va-message")).to_contain_text("is full")
        assert len(_stored(settings)) == 2
        small_disk.free_up()  # the grid sends them again by itself
        _says_saved(page, 5, wanted)
    finally:
        server.stop()
    rows = _stored(settings)
    assert len(rows) == 5 and {a.shot_id: a.value for a in rows} == wanted


def test_another_tab_sends_what_a_closed_tab_left_unsaved(server, browser, e2e_settings):
    truth = Catalog(e2e_settings.sql_url).ground_truth(LABEL)
    _create_label(e2e_settings)
    url = f"{server.url}/search?annotator={ANNOTATOR}&label={LABEL}"
    context = browser.new_context()  # two tabs of one browser: one localStorage
    try:
        first = context.new_page()
        _open(first, url)
        ids = _shot_ids(first)
        server.kill()
        wanted = _label(first, truth, ids[:3])
        expect(first.locator(".va-sync")).to_have_text("3 unsaved — reconnecting")
        first.close()  # the tab is gone (closed without the prompt): only storage holds them
        server.start()
        second = context.new_page()
        _open(second, url)
        _says_saved(second, 3, wanted)
    finally:
        context.close()
    rows = _stored(e2e_settings)
    assert len(rows) == 3 and {a.shot_id: a.value for a in rows} == wanted
