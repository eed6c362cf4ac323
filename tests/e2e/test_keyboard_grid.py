"""The keyboard card grid in a real Chromium: labelling without a mouse, undo, bulk, reload,
and deep links into ``pages/`` on a freshly started server.

The grid's JavaScript runs here (AppTests only send its events). The demo corpus's ground
truth decides each key, so the labels are meaningful; the store is read back directly.
"""

from __future__ import annotations

import pytest

from tests.conftest import TESTER, open_services
from tests.e2e.conftest import BROWSER_TESTS, IDLE, NAV_LINK, screenshot_dir
from va_app.store.catalog import Catalog

pytestmark = BROWSER_TESTS
expect = pytest.importorskip("playwright.sync_api").expect
expect.set_options(timeout=30_000)  # a busy 2-core machine: the first run of a page is slow

LABEL, ANNOTATOR = "night", "ana"
N = 20


def _open(page, url: str, title: str) -> None:
    page.goto(url)
    expect(page.locator("h1", has_text=title)).to_be_visible(timeout=90_000)
    page.wait_for_selector(IDLE, timeout=90_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def _cards(page):
    return page.locator(".va-card")


def _all_saved(page) -> None:
    page.wait_for_function(
        "() => [...document.querySelector('[data-testid=\"stBidiComponentIsolated\"]')"
        ".shadowRoot.querySelectorAll('.va-card')].every(c => c.dataset.saved === 'true')",
        timeout=30_000,
    )


def _states(page) -> dict[str, str]:
    return dict(
        _cards(page).evaluate_all("cards => cards.map(c => [c.dataset.shot, c.dataset.state])")
    )


def _history(settings):
    ws = open_services(settings)
    try:
        return ws.uow().labels.history(LABEL)
    finally:
        ws.close()


def test_keyboard_only_labelling_survives_a_reload(server, page, e2e_settings):
    truth = Catalog(e2e_settings.sql_url).ground_truth(LABEL)
    open_services(e2e_settings).labelling.create_label(TESTER, LABEL)
    # A deep link on a freshly started server runs through app.py: sidebar and annotator.
    _open(page, f"{server.url}/search?annotator={ANNOTATOR}&label={LABEL}", "Search")
    expect(page.locator(".st-key-annotator input")).to_have_value(ANNOTATOR)
    expect(_cards(page)).to_have_count(N)
    ids = list(_states(page))
    expect(page.locator(".va-card.va-focused")).to_have_attribute("data-shot", ids[0])
    wanted = {}
    for shot_id in ids:  # focus moves on after each decision, like Prodigy
        wanted[shot_id] = "positive" if truth[shot_id] else "negative"
        page.keyboard.press("p" if truth[shot_id] else "n")
    _all_saved(page)
    assert _states(page) == wanted
    n_pos = sum(v == "positive" for v in wanted.values())
    expect(page.locator(".va-counts")).to_have_text(
        f"Annotated {N} · {n_pos} positive · {N - n_pos} negative"
    )
    stored = {a.shot_id: a for a in _history(e2e_settings)}
    assert {s: ("positive" if a.value else "negative") for s, a in stored.items()} == wanted
    assert {(a.annotator, a.source) for a in stored.values()} == {(ANNOTATOR, "search")}
    # Confirmed by the decision endpoint's answers, not by reruns of the page.
    assert set(page.evaluate("() => window.__vaGrid.log.map(e => e.via)")) == {"endpoint"}

    page.keyboard.press("?")
    expect(page.locator(".va-help")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("Home")
    page.keyboard.press("Space")  # one live player, for the focused card
    expect(page.locator("video")).to_have_count(1, timeout=30_000)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stBidiComponentIsolated\"]')"
        ".shadowRoot.querySelector('video').readyState >= 2",
        timeout=30_000,
    )
    _shot(page, "search")

    page.reload()
    page.wait_for_selector(".va-card", timeout=90_000)
    page.wait_for_selector(IDLE)
    assert _states(page) == wanted


def test_undo_and_bulk_land_in_the_annotation_log(server, page, e2e_settings):
    open_services(e2e_settings).labelling.create_label(TESTER, LABEL)
    _open(page, f"{server.url}/search?annotator={ANNOTATOR}&label={LABEL}", "Search")
    expect(_cards(page)).to_have_count(N)
    ids = list(_states(page))
    page.get_by_label("Describe what you are looking for").click()  # keys go to the field,
    page.keyboard.press("Escape")  # until Esc hands them back to the cards
    page.keyboard.press("p")  # card 0 positive, focus on card 1
    page.keyboard.press("u")  # undo: card 0 unlabelled again
    _all_saved(page)
    assert _states(page)[ids[0]] == "none"
    # Bulk: select cards 2, 3 and 4 (x, then Shift+arrows), one key labels them all.
    page.keyboard.press("ArrowRight")  # the undo put the focus back on card 0
    page.keyboard.press("ArrowRight")
    page.keyboard.press("x")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    expect(page.locator(".va-card.va-selected")).to_have_count(3)
    page.keyboard.press("n")
    _all_saved(page)
    states = _states(page)
    assert [states[s] for s in ids[2:5]] == ["negative"] * 3
    expect(page.locator(".va-recent li")).to_have_count(1)  # the undone one is gone
    expect(page.locator(".va-recent li")).to_contain_text("3 shots: negative")
    log = [(a.shot_id, a.value, a.annotator, a.source) for a in _history(e2e_settings)]
    assert log == [(ids[0], True, ANNOTATOR, "search"), (ids[0], None, ANNOTATOR, "search")] + [
        (s, False, ANNOTATOR, "search") for s in ids[2:5]
    ]
    page.locator(".va-undo").click()  # the listed bulk action, undone with the mouse
    _all_saved(page)
    assert [_states(page)[s] for s in ids[2:5]] == ["none"] * 3
    assert [a.value for a in _history(e2e_settings)][-3:] == [None] * 3


def test_every_page_opens_by_deep_link_on_a_fresh_server(server, page, e2e_settings):
    ws = open_services(e2e_settings)
    ws.labelling.create_label(TESTER, LABEL)
    truth = Catalog(e2e_settings.sql_url).ground_truth(LABEL)
    pos = [s for s, v in sorted(truth.items()) if v][:10]
    neg = [s for s, v in sorted(truth.items()) if not v][:10]
    ws.uow().labels.annotate_many(
        LABEL, [(s, True) for s in pos] + [(s, False) for s in neg], annotator="bo", source="search"
    )
    ws.modelling.build(TESTER, LABEL)
    ws.close()
    for path, title in [
        ("learn", "Active learning"),
        ("review", "Review"),
        ("dashboard", "Dashboard"),
    ]:
        server.restart()
        _open(page, f"{server.url}/{path}?annotator={ANNOTATOR}&label={LABEL}", title)
        expect(page.locator(".st-key-annotator input")).to_have_value(ANNOTATOR)
        expect(page.locator(NAV_LINK)).to_have_count(6)
        if path == "learn":
            expect(_cards(page)).to_have_count(20)  # one lazy tab's grid, not four
            page.keyboard.press("p")
            _all_saved(page)
            _shot(page, "learn")


def _shot(page, name: str) -> None:
    out = screenshot_dir()
    out.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.screenshot(path=str(out / f"{name}.png"))
