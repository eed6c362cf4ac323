"""The whole expert flow in a real Chromium against ``streamlit run app.py`` on the demo corpus.

Create a label → search and label 10 positives + 10 negatives → build → label one shot from
each feed → review shows every annotation → reload the browser → restart the server → the
dashboard shows the label with Plotly charts. The demo corpus's ground truth decides which
button each card gets, so the model is meaningful. After every step: no exception element.
A screenshot of every page is saved (see conftest); click-to-idle times are printed.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time

import av
import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import BROWSER_TESTS, IDLE, NAV_LINK, REPO, VIEWPORT, screenshot_dir
from va_app.store.catalog import Catalog
from va_app.store.labels import LabelStore
from va_app.video.frames import read_frame

pytestmark = BROWSER_TESTS
expect = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed"
).expect

RUNNING = '[data-testid="stApp"][data-test-script-state="running"]'
EXCEPTION = '[data-testid="stException"]'
LABEL = "night"
ANNOTATOR = "ana"
NEEDED = 10  # positives and negatives each, before active learning opens
QUERIES = ("night", "daylight", "")  # the last one browses the whole corpus
REVIEW_PAGE_SIZE = 20
FEEDS = {
    "positive": "Top positive",
    "negative": "Top negative",
    "borderline": "Borderline",
    "random": "Random",
}

# Milliseconds from the first 'running' to the last 'notRunning' logged after entry `seen`.
RUN_TIME_JS = """seen => {
  const log = window.__vaRuns.slice(seen);
  const start = log.find(([, state]) => state === 'running');
  const end = [...log].reverse().find(([, state]) => state === 'notRunning');
  return start && end ? end[0] - start[0] : -1;
}"""

# The clicked button is highlighted (primary) and Streamlit is idle again.
HIGHLIGHTED_AND_IDLE_JS = f"""key =>
  document.querySelector(`${{key}} [data-testid="stBaseButton-primary"]`)
  && document.querySelector('{IDLE}')"""


def key_class(key: str) -> str:
    """The CSS class Streamlit puts on the container of the element with ``key``."""
    return ".st-key-" + re.sub(r"[^a-zA-Z0-9_-]", "-", key.strip())


class AppDriver:
    """What a user does in the app, each step waiting until Streamlit is idle again."""

    def __init__(self, page, base_url: str, shot_ids, report: dict[str, list[str]]) -> None:
        self.page = page
        self.report = report
        self.base_url = base_url
        self.by_css = {re.sub(r"[^a-zA-Z0-9_-]", "-", s): s for s in shot_ids}
        self.click_ms: list[float] = []  # click -> highlighted and idle, in the browser
        self.run_ms: list[float] = []  # the script run(s) the click caused, as the browser saw

    # -- waiting ---------------------------------------------------------------------------
    def settle(self) -> None:
        self.page.wait_for_selector(IDLE)
        expect(self.page.locator(EXCEPTION)).to_have_count(0)

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.settle_first_run()

    def reload(self) -> None:
        self.page.reload()
        self.settle_first_run()

    def settle_first_run(self) -> None:
        """After a page load: wait until the first script run has started, then finished."""
        self.page.wait_for_function(
            "() => (window.__vaRuns || []).some(([, state]) => state === 'running') || "
            f"document.querySelector('{RUNNING}')",
            timeout=90_000,
        )
        self.page.wait_for_selector(IDLE, timeout=90_000)
        self.page.wait_for_selector(NAV_LINK)
        expect(self.page.locator(EXCEPTION)).to_have_count(0)

    def go_to(self, link: str, title: str) -> None:
        self.page.locator(NAV_LINK, has_text=link).click()
        expect(self.page.locator("h1", has_text=title)).to_be_visible()
        self.settle()

    # -- widgets ---------------------------------------------------------------------------
    def type_into(self, key: str, text: str) -> None:
        field = self.page.locator(f"{key_class(key)} input")
        field.fill(text)
        field.press("Enter")
        expect(field).to_have_value(text)

    def button(self, key: str):
        # By role: a button with a tooltip also has a hidden copy in the page.
        return self.page.locator(key_class(key)).get_by_role("button")

    def label_picker(self):
        return self.page.locator(f"{key_class('label')} input")

    def metric(self, name: str):
        box = self.page.locator('[data-testid="stMetric"]').filter(
            has=self.page.get_by_test_id("stMetricLabel").get_by_text(name, exact=True)
        )
        return box.get_by_test_id("stMetricValue")

    def alert(self, text: str):
        return self.page.get_by_test_id("stAlert").filter(has_text=text)

    def shot_ids(self, key_prefix: str) -> list[str]:
        """Shot ids of the cards whose buttons are keyed ``<prefix><shot id>``, page order."""
        prefix = key_class(key_prefix)[1:]
        classes = self.page.locator(f'[class*="{prefix}"]').evaluate_all(
            "els => els.map(e => e.className)"
        )
        found = [re.search(re.escape(prefix) + r"(\S+)", c).group(1) for c in classes]
        return [self.by_css[s] for s in dict.fromkeys(found)]

    def card(self, view: str, shot_id: str):
        button = self.page.locator(key_class(f"pos:{view}:{shot_id}"))
        return button.locator("xpath=ancestor::div[contains(@class, 'st-key-card-')][1]")

    def wait_for_other_cards(self, key_prefix: str, before: list[str]) -> None:
        """After a query or page change: wait until other cards show, then for idle."""
        deadline = time.monotonic() + 30
        while self.shot_ids(key_prefix) == before:
            assert time.monotonic() < deadline, "the cards did not change"
            self.page.wait_for_timeout(100)
        self.settle()

    def scroll_to_top(self) -> None:
        self.page.get_by_test_id("stMain").evaluate("main => main.scrollTo(0, 0)")

    def mark(self, view: str, shot_id: str, value: bool):
        """The card's Positive (or Negative) button, when it is highlighted as chosen."""
        button = f"{'pos' if value else 'neg'}:{view}:{shot_id}"
        return self.page.locator(f'{key_class(button)} [data-testid="stBaseButton-primary"]')

    def is_marked(self, view: str, shot_id: str, value: bool) -> bool:
        return self.mark(view, shot_id, value).count() == 1

    def annotate(self, view: str, shot_id: str, value: bool) -> None:
        """Click Positive/Negative on a card; time it until the page is idle again."""
        button = f"{'pos' if value else 'neg'}:{view}:{shot_id}"
        container = self.page.locator(key_class(button))
        container.scroll_into_view_if_needed()
        seen = self.page.evaluate("() => window.__vaRuns.length")
        start = time.perf_counter()
        container.get_by_role("button").click()
        self.page.wait_for_function(HIGHLIGHTED_AND_IDLE_JS, arg=key_class(button))  # per frame
        self.click_ms.append((time.perf_counter() - start) * 1000)
        self.run_ms.append(self.page.evaluate(RUN_TIME_JS, seen))
        expect(self.page.locator(EXCEPTION)).to_have_count(0)

    def images_load(self) -> None:
        """Every picture on the page has loaded, and none is broken."""
        images = self.page.locator('[data-testid="stImage"] img')
        expect(images.first).to_be_visible()
        self.page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
            ".every(img => img.complete)"
        )
        broken = images.evaluate_all("imgs => imgs.filter(i => !i.naturalWidth).map(i => i.src)")
        assert not broken, f"broken images: {broken}"

    def play(self, view: str, shot, tmp_path) -> None:
        """Switch on "Play shot": the video plays, and the media the page plays is exactly the
        shot — its frame count and duration, its first and last frames the shot's own."""
        toggle = self.page.locator(key_class(f"play:{view}:{shot.id}"))
        toggle.get_by_text("Play shot").click()
        video = self.card(view, shot.id).locator("video")
        expect(video).to_be_visible(timeout=30_000)
        self.settle()
        state = self.page.wait_for_function(
            "v => (v.error || v.readyState >= 2) && {error: v.error && v.error.message, "
            "time: v.currentTime, duration: v.duration, src: v.currentSrc}",
            arg=video.element_handle(),
            timeout=30_000,
        ).json_value()
        assert state["error"] is None, f"the video of {shot.id} does not play: {state}"
        assert state["duration"] == pytest.approx(shot.duration_s, abs=0.02), state
        assert 0 <= state["time"] <= state["duration"], state
        played = tmp_path / "played.mp4"
        played.write_bytes(self.page.request.get(state["src"]).body())
        assert_is_exactly_the_shot(played, shot)

    def frame(self, selector: str) -> None:
        """Scroll the page so that ``selector`` starts at the top of the window."""
        self.scroll_to_top()
        self.page.locator(selector).first.evaluate(
            "el => document.querySelector('[data-testid=\"stMain\"]')"
            ".scrollBy(0, el.getBoundingClientRect().top - 8)"
        )
        self.page.wait_for_timeout(300)

    def shot(self, name: str) -> None:
        out = screenshot_dir()
        out.mkdir(parents=True, exist_ok=True)
        self.page.mouse.move(0, 0)  # no hover highlight in the picture
        self.page.evaluate("() => document.activeElement && document.activeElement.blur()")
        self.page.screenshot(path=str(out / f"{name}.png"))
        self._full_height_shot(out / f"{name}-full.png")
        self.report["screenshots"].append(f"{name}.png")

    def _full_height_shot(self, path) -> None:
        # Streamlit scrolls inside its main block, so full_page=True sees one viewport only.
        height = self.page.evaluate(
            "() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 0"
        )
        self.page.set_viewport_size(
            {"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], min(height, 8000))}
        )
        self.page.wait_for_timeout(300)
        self.page.screenshot(path=str(path))
        self.page.set_viewport_size(VIEWPORT)


def assert_is_exactly_the_shot(clip, shot) -> None:
    """The clip holds the shot's frames, first to last: as many, and its first and last
    frames are the source's frames at the shot's first and last index (not a neighbour's)."""
    with av.open(str(clip)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == shot.end_frame - shot.start_frame, (len(frames), shot)
    height, width = frames[0].shape[:2]
    for played, index in ((frames[0], shot.start_frame), (frames[-1], shot.end_frame - 1)):
        source = np.asarray(
            Image.fromarray(read_frame(shot.video_path, index)).resize(
                (width, height), Image.Resampling.BILINEAR
            ),
            np.int16,
        )
        assert np.abs(played.astype(np.int16) - source).mean() < 6, f"frame {index} of {shot.id}"


@pytest.fixture
def button_grid(monkeypatch):
    """This flow drives the button cards (VA_CARD_GRID=buttons, the bench's reference path);
    test_keyboard_grid.py drives the keyboard grid."""
    monkeypatch.setenv("VA_CARD_GRID", "buttons")


def test_expert_flow_from_new_label_to_dashboard(
    button_grid, server, page, e2e_settings, e2e_report, tmp_path
):
    catalog = Catalog(e2e_settings.sql_url)
    store = LabelStore(catalog)
    truth = catalog.ground_truth(LABEL)
    app = AppDriver(page, server.url, truth.keys(), e2e_report)

    clicked = create_label(app)
    clicked.update(label_from_search(app, truth))
    assert_stored(store, clicked)

    shots = {shot.id: shot for shot in catalog.shots()}
    clicked.update(build_and_label_each_feed(app, truth, clicked, shots, tmp_path))
    assert_stored(store, clicked)
    assert {a.source for a in store.current(LABEL)} == {"search", *FEEDS}

    review_url = review_shows(app, clicked)
    app.shot("review")

    app.reload()
    header_and_review_still_show(app, clicked, "after a browser reload")
    assert_stored(store, clicked)

    server.restart()
    app.open(review_url)
    header_and_review_still_show(app, clicked, "after a server restart")
    assert_stored(store, clicked)
    assert_exported(e2e_settings, clicked)

    dashboard_shows_the_label(app)
    app.shot("dashboard")
    catalog.close()
    report_click_times(app, e2e_report)


# -- steps ---------------------------------------------------------------------------------
def create_label(app: AppDriver) -> dict[str, bool]:
    app.open(app.base_url)
    expect(app.metric("Shots")).to_have_text("60")
    expect(app.alert("Say who you are")).to_be_visible()
    app.type_into("annotator", ANNOTATOR)
    expect(app.alert("Say who you are")).to_have_count(0)
    app.settle()

    # Inside a form Enter would submit it: fill the fields, then press the button.
    app.page.locator(f"{key_class('new_label_name')} input").fill(LABEL)
    app.page.locator(f"{key_class('new_label_description')} textarea").fill(
        "Shots that take place at night: dark sky, street lights, moon."
    )
    app.button("FormSubmitter:new-label-Create label").click()
    expect(app.alert(f"Created '{LABEL}'")).to_be_visible()
    app.settle()
    expect(app.label_picker()).to_have_value(LABEL)  # the new label is open in the sidebar
    expect(app.metric("Labels")).to_have_text("1")
    app.shot("home")
    return {}


def label_from_search(app: AppDriver, truth: dict[str, bool]) -> dict[str, bool]:
    app.go_to("Search", "Search")
    expect(app.alert(f"{NEEDED} more positive")).to_be_visible()
    clicked: dict[str, bool] = {}
    for query in QUERIES:
        before = app.shot_ids("pos:search:")
        app.type_into("search_query", query)
        if query:
            expect(app.alert("Keyword search")).to_be_visible()  # the offline encoder's notice
        else:
            expect(app.page.get_by_text("Browsing the corpus in order")).to_be_visible()
        app.wait_for_other_cards("pos:search:", before)
        app.images_load()
        _label_search_pages(app, truth, clicked)
        if _missing(clicked) == (0, 0):
            break
    assert _missing(clicked) == (0, 0), f"search never offered enough shots: {clicked}"
    expect(app.alert("Enough labels to build a model")).to_be_visible()
    expect(app.alert("more positive")).to_have_count(0)
    _expect_header(app, clicked)
    app.frame(key_class("label-header"))
    app.shot("search-buttons")
    return clicked


def _label_search_pages(app: AppDriver, truth, clicked: dict[str, bool]) -> None:
    page_no = 1
    while True:
        for shot_id in app.shot_ids("pos:search:"):
            value = truth[shot_id]
            if shot_id in clicked or _missing(clicked)[0 if value else 1] == 0:
                continue
            app.annotate("search", shot_id, value)
            clicked[shot_id] = value
            need_pos, need_neg = _missing(clicked)
            if need_pos or need_neg:
                expect(app.alert(f"{need_pos} more positive")).to_contain_text(
                    f"{need_neg} more negative"
                )
            _expect_header(app, clicked)
        next_page = app.button("search-next")
        if _missing(clicked) == (0, 0) or next_page.is_disabled():
            return
        next_page.click()
        page_no += 1
        expect(app.page.get_by_text(f"Page {page_no}", exact=True)).to_be_visible()
        app.settle()


def build_and_label_each_feed(app: AppDriver, truth, clicked: dict[str, bool], shots, tmp_path):
    app.go_to("Active learning", "Active learning")
    expect(app.alert("Press Build")).to_be_visible()
    app.button("build").click()
    expect(app.page.get_by_role("tab")).to_have_count(len(FEEDS), timeout=60_000)
    app.settle()
    expect(app.page.get_by_text("Built version 1")).to_be_visible()
    built = rf"Model version 1, built .* on {NEEDED} positives and {NEEDED} negatives"
    expect(app.page.get_by_text(re.compile(built))).to_be_visible()
    expect(app.metric("Model score")).not_to_have_text("—")

    from_feeds: dict[str, bool] = {}
    for feed, title in FEEDS.items():
        tab = app.page.get_by_role("tab", name=title)
        tab.click()
        expect(tab).to_have_attribute("aria-selected", "true")
        # Lazy tabs: the feed's cards come with the rerun the tab switch starts.
        app.page.locator(f'[class*="{key_class(f"pos:feed-{feed}:")[1:]}"]').first.wait_for()
        app.settle()
        candidates = [
            s for s in app.shot_ids(f"pos:feed-{feed}:") if s not in clicked and s not in from_feeds
        ]
        assert candidates, f"the {title!r} feed offers no shot left to label"
        shot_id = candidates[0]
        expect(app.card(f"feed-{feed}", shot_id)).to_contain_text("score")  # model's score
        app.annotate(f"feed-{feed}", shot_id, truth[shot_id])
        from_feeds[shot_id] = truth[shot_id]
        expect(tab).to_have_attribute("aria-selected", "true")  # the click kept the tab
        _expect_header(app, {**clicked, **from_feeds})
        if feed == "positive":
            app.frame(key_class("feed_size"))
            app.shot("learn-buttons")
    # A shot starting between whole seconds: st.video's times would start it early.
    random_shot = next(
        s
        for s in app.shot_ids("pos:feed-random:")
        if s not in from_feeds and shots[s].start_s % 1 > 0.1
    )
    app.play("feed-random", shots[random_shot], tmp_path)
    return from_feeds


def review_shows(app: AppDriver, clicked: dict[str, bool]) -> str:
    app.go_to("Review", "Review")
    n = len(clicked)
    expect(
        app.page.get_by_text(f"{n} current annotations shown ({n} clicks in the history)")
    ).to_be_visible()
    _expect_header(app, clicked)
    seen: dict[str, bool | None] = {}
    n_pages = -(-n // REVIEW_PAGE_SIZE)
    for page_no in range(1, n_pages + 1):
        if page_no > 1:
            before = app.shot_ids("pos:review:")
            app.type_into("rv_page", str(page_no))
            app.wait_for_other_cards("pos:review:", before)
        on_page = min(REVIEW_PAGE_SIZE, n - (page_no - 1) * REVIEW_PAGE_SIZE)
        expect(app.page.locator('[class*="st-key-pos-review-"]')).to_have_count(on_page)
        for shot_id in app.shot_ids("pos:review:"):
            seen[shot_id] = (
                True
                if app.is_marked("review", shot_id, True)
                else False
                if app.is_marked("review", shot_id, False)
                else None
            )
    assert seen == clicked, "the review cards differ from what was clicked"
    if n_pages > 1:
        before = app.shot_ids("pos:review:")
        app.type_into("rv_page", "1")
        app.wait_for_other_cards("pos:review:", before)
    app.frame('[data-testid="stTabs"]')
    return app.page.url


def header_and_review_still_show(app: AppDriver, clicked: dict[str, bool], when: str) -> None:
    expect(app.page.locator("h1", has_text="Review")).to_be_visible()
    expect(
        app.page.locator(f"{key_class('annotator')} input"), f"the annotator's name is gone {when}"
    ).to_have_value(ANNOTATOR)
    expect(app.label_picker(), f"the open label is gone {when}").to_have_value(LABEL)
    _expect_header(app, clicked)
    n = len(clicked)
    expect(app.page.get_by_text(f"{n} current annotations shown")).to_be_visible()
    for shot_id, value in list(clicked.items())[-3:]:  # the newest: on the first page
        expect(app.mark("review", shot_id, value), f"{shot_id} lost its mark {when}").to_have_count(
            1
        )


def dashboard_shows_the_label(app: AppDriver) -> None:
    app.go_to("Dashboard", "Dashboard")
    table = app.page.get_by_test_id("stDataFrame").first
    expect(table).to_contain_text(LABEL)
    charts = app.page.get_by_test_id("stPlotlyChart")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 4, f"only {charts.count()} Plotly charts on the dashboard"
    for i in range(charts.count()):
        chart = charts.nth(i)
        chart.scroll_into_view_if_needed()
        expect(chart.locator(".main-svg").first).to_be_visible()
        title = chart.locator(".gtitle").all_inner_texts()
        marks = chart.locator("g.point, path.point")  # bars and markers Plotly drew
        assert marks.count() > 0, f"Plotly chart {i} {title} draws no data"
    app.scroll_to_top()


# -- checks --------------------------------------------------------------------------------
def assert_stored(store: LabelStore, clicked: dict[str, bool]) -> None:
    current = {a.shot_id: bool(a.value) for a in store.current(LABEL) if a.annotator == ANNOTATOR}
    assert current == clicked
    assert len(store.history(LABEL)) == len(clicked)


def assert_exported(settings, clicked: dict[str, bool]) -> None:
    """What a user gets from ``python -m va_app annotations export``."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "va_app",
            "annotations",
            "export",
            "--format",
            "json",
            "--label",
            LABEL,
            "--data-dir",
            str(settings.data_dir),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = json.loads(out.stdout)
    exported = {r["shot_id"]: bool(r["value"]) for r in rows if r["annotator"] == ANNOTATOR}
    assert exported == clicked


def _expect_header(app: AppDriver, clicked: dict[str, bool]) -> None:
    n_pos = sum(clicked.values())
    expect(app.metric("Annotated")).to_have_text(str(len(clicked)))
    expect(
        app.page.get_by_text(f"{n_pos} positive · {len(clicked) - n_pos} negative")
    ).to_be_visible()


def _missing(clicked: dict[str, bool]) -> tuple[int, int]:
    n_pos = sum(clicked.values())
    return max(0, NEEDED - n_pos), max(0, NEEDED - (len(clicked) - n_pos))


def report_click_times(app: AppDriver, report: dict[str, list[str]]) -> None:
    def summary(values: list[float]) -> str:
        return f"median {statistics.median(values):.0f} ms, max {max(values):.0f} ms"

    lines = [
        f"label click -> card highlighted and page idle: {summary(app.click_ms)} "
        f"over {len(app.click_ms)} clicks",
        f"  of which the script run (as the browser saw it): {summary(app.run_ms)}",
    ]
    for line in lines:
        print(line)
    report["timings"].extend(lines)
