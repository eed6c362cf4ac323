"""The Timeline page in a real Chromium on a labelled demo corpus: every title's shots are on
the strips, a click on a shot plays it and opens it in the card grid, whose keys label it, and
the edit downloads as an EDL that OpenTimelineIO reads back to the positives' frames."""

from __future__ import annotations

import opentimelineio as otio
import pytest

from tests.conftest import TESTER, open_services
from tests.e2e.conftest import BROWSER_TESTS, IDLE, screenshot_dir
from va_app.services.bootstrap import Services
from va_app.store.catalog import Catalog

pytestmark = BROWSER_TESTS
expect = pytest.importorskip("playwright.sync_api").expect
expect.set_options(timeout=30_000)  # a busy 2-core machine: the first run of a page is slow

LABEL, ANNOTATOR = "night", "ana"
CHART = '[data-testid="stPlotlyChart"] .js-plotly-plot'
# Where shot `id` is drawn on the chart, in page pixels (Plotly's own axis mapping).
SHOT_XY_JS = """([selector, id]) => {
  const gd = document.querySelector(selector);
  const trace = gd._fullData.find(t => t.name === 'shots' && [...t.customdata].includes(id));
  const i = [...trace.customdata].indexOf(id);
  const xa = gd._fullLayout['xaxis' + trace.xaxis.slice(1)];
  const ya = gd._fullLayout['yaxis' + trace.yaxis.slice(1)];
  const box = gd.querySelector('.main-svg').getBoundingClientRect();
  return [box.left + xa._offset + xa.l2p(trace.x[i]), box.top + ya._offset + ya.l2p(0)];
}"""
SHOT_IDS_JS = """selector => document.querySelector(selector)._fullData
  .filter(t => t.name === 'shots').flatMap(t => [...t.customdata])"""


def _labelled_and_built(settings) -> list[str]:
    ws = open_services(settings)
    try:
        ws.labelling.create_label(TESTER, LABEL)
        truth = Catalog(settings.sql_url).ground_truth(LABEL)
        pos = [s for s, v in sorted(truth.items()) if v][:10]
        neg = [s for s, v in sorted(truth.items()) if not v][:10]
        ws.uow().labels.annotate_many(
            LABEL, [(s, True) for s in pos] + [(s, False) for s in neg], annotator="bo"
        )
        ws.modelling.build(TESTER, LABEL)
        return pos
    finally:
        ws.close()


def _cards(page):
    return page.locator(".va-card")


def test_the_timeline_shows_every_title_and_its_clicks_label_shots(
    server, page, e2e_settings, tmp_path, e2e_report
):
    positives = _labelled_and_built(e2e_settings)
    ws = open_services(e2e_settings)
    shots = ws.corpus.shots()
    titles = sorted({s.title for s in shots})
    page.goto(f"{server.url}/timeline?annotator={ANNOTATOR}&label={LABEL}")
    expect(page.locator("h1", has_text="Timeline")).to_be_visible(timeout=90_000)
    page.wait_for_selector(IDLE, timeout=90_000)
    expect(page.locator(CHART)).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)

    # Every title is a strip, every shot of it on the strip (the demo fits one page).
    strip_titles = page.locator(f"{CHART} .annotation-text").evaluate_all(
        "texts => texts.map(t => t.textContent)"
    )
    assert sorted(t.split(" · ")[0] for t in strip_titles if " shots · " in t) == titles
    assert sorted(page.evaluate(SHOT_IDS_JS, CHART)) == sorted(s.id for s in shots)
    assert page.locator(f"{CHART} .heatmaplayer image").count() == len(titles)

    # Click an unlabelled shot on its strip: it plays, and the grid opens on it.
    labelled = set(positives) | set(ws.uow().labels.labelled_set(LABEL).negatives)
    target = next(s for s in shots if s.id not in labelled and s.start_frame > 0)
    x, y = page.evaluate(SHOT_XY_JS, [CHART, target.id])
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    expect(_cards(page).first).to_have_attribute("data-shot", target.id, timeout=60_000)
    page.wait_for_selector(IDLE)
    expect(page.locator('[data-testid="stVideo"]')).to_have_count(1)
    expect(page.locator(".va-card.va-focused")).to_have_attribute("data-shot", target.id)
    _shot(page, e2e_report)
    after = _cards(page).nth(1).get_attribute("data-shot")
    page.keyboard.press("p")  # the clicked shot
    page.keyboard.press("n")  # the focus moved on to the next shot of the title
    page.wait_for_function(
        "() => [...document.querySelector('[data-testid=stBidiComponentIsolated]')"
        ".shadowRoot.querySelectorAll('.va-card')].slice(0, 2)"
        ".every(c => c.dataset.saved === 'true')",
        timeout=30_000,
    )
    mine = {
        a.shot_id: (a.value, a.source)
        for a in ws.uow().labels.history(LABEL)
        if a.annotator == ANNOTATOR
    }
    assert mine == {target.id: (True, "timeline"), after: (False, "timeline")}

    # The next run draws the new label on the strip.
    page.reload()
    page.wait_for_selector(CHART, timeout=90_000)
    page.wait_for_selector(IDLE)
    marked = page.evaluate(
        f"() => document.querySelector('{CHART}')._fullData"
        ".filter(t => t.name === 'positive').flatMap(t => [...t.customdata])"
    )
    assert sorted(marked) == sorted([*positives, target.id])

    _download_reads_back(page, ws, [*positives, target.id], tmp_path)
    ws.close()


def _download_reads_back(page, ws: Services, positives: list[str], tmp_path) -> None:
    """Prepare the export, download it, read it with OpenTimelineIO: the positives' frames."""
    page.get_by_text("Export to the edit").click()
    prepare = page.locator(".st-key-tl_x_prepare button")
    prepare.scroll_into_view_if_needed()  # the expander has opened: its layout has settled
    expect(prepare).to_be_in_viewport()
    prepare.click()
    button = page.locator(".st-key-tl_x_download button")
    expect(button).to_be_visible(timeout=60_000)
    with page.expect_download() as download:
        button.click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.name == "night-selects.edl"
    clips = list(otio.adapters.read_from_file(str(path), rate=24).find_clips())
    want = sorted(ws.corpus.shots(positives), key=lambda s: (s.video_id, s.start_frame))
    assert [(c.source_range.start_time.value, c.source_range.duration.value) for c in clips] == [
        (s.start_frame, s.end_frame - s.start_frame) for s in want
    ]


def _shot(page, report) -> None:
    """The strips with the picked shot ringed, its player and its cards (README)."""
    out = screenshot_dir()
    out.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.locator(CHART).evaluate(
        "el => document.querySelector('[data-testid=stMain]')"
        ".scrollBy(0, el.getBoundingClientRect().top - 8)"
    )
    page.wait_for_timeout(300)
    page.screenshot(path=str(out / "timeline.png"))
    report["screenshots"].append("timeline.png")
