"""Every page through Streamlit's AppTest, with the interactions a user makes on it."""

from __future__ import annotations

from tests.app.conftest import make_app
from va_app.services.workspace import Workspace
from va_app.store.catalog import Catalog


def _workspace(settings) -> Workspace:
    return Workspace(settings)


def _label_some(settings, label: str, n_pos: int, n_neg: int) -> None:
    ws = _workspace(settings)
    truth = Catalog(settings.sql_url).ground_truth(label)
    pos = [s for s, v in sorted(truth.items()) if v][:n_pos]
    neg = [s for s, v in sorted(truth.items()) if not v][:n_neg]
    ws.labels.annotate_many(label, [(s, True) for s in pos] + [(s, False) for s in neg],
                            annotator="bo", source="search")
    ws.close()


def _buttons(at, prefix: str):
    return [b for b in at.button if (b.key or "").startswith(prefix)]


def test_home_shows_the_corpus_and_creates_a_label(app_settings):
    at = make_app()
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Shots"] == "48"
    at.text_input(key="new_label_name").input("Night")
    at.text_area(key="new_label_description").input("shots that happen at night")
    at.button(key="FormSubmitter:new-label-Create label").click().run()
    assert not at.exception
    assert [label.name for label in _workspace(app_settings).labels.labels()] == ["Night"]
    assert at.session_state["label"] == "Night"


def test_a_bad_label_name_shows_an_error_not_a_traceback(app_settings):
    at = make_app()
    at.run()
    at.text_input(key="new_label_name").input("../etc/passwd")
    at.button(key="FormSubmitter:new-label-Create label").click().run()
    assert not at.exception
    assert any("label name" in e.value for e in at.error)


def test_search_labels_a_shot_and_counts_what_is_missing(app_settings):
    _workspace(app_settings).create_label("night")
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/search.py").run()
    assert not at.exception
    at.text_input(key="search_query").input("night").run()
    assert any("Keyword search" in i.value for i in at.info)
    assert any("10 more positive" in w.value for w in at.warning)
    first = _buttons(at, "pos:search:")[0]
    shot_id = first.key.split(":", 2)[2]
    first.click().run()
    assert not at.exception
    current = _workspace(app_settings).labels.current("night")
    assert [(a.shot_id, a.value, a.annotator) for a in current] == [(shot_id, True, "ana")]
    assert any("9 more positive" in w.value for w in at.warning)


def test_active_learning_builds_and_labels_from_a_feed(app_settings):
    _workspace(app_settings).create_label("night")
    _label_some(app_settings, "night", 10, 10)
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/learn.py").run()
    assert not at.exception
    at.button(key="build").click().run()
    assert not at.exception
    ws = _workspace(app_settings)
    assert [v.version for v in ws.models.versions("night")] == [1]
    assert {t.label for t in at.tabs} >= {"Top positive", "Top negative", "Borderline", "Random"}
    advice = " ".join(i.value for i in at.info)
    assert "Suggested next batch: Borderline" in advice and "least sure" in advice
    negative = _buttons(at, "neg:feed-borderline:")[0]
    negative.click().run()
    assert not at.exception
    sources = {a.source for a in ws.labels.current("night") if a.annotator == "ana"}
    assert sources == {"borderline"}


def test_review_lists_annotations_and_flips_one(app_settings):
    _workspace(app_settings).create_label("night")
    _label_some(app_settings, "night", 3, 2)
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/review.py").run()
    assert not at.exception
    assert "5 current annotations" in " ".join(c.value for c in at.caption)
    flip = _buttons(at, "neg:review:")[0]
    flip.click().run()
    assert not at.exception
    ws = _workspace(app_settings)
    shot_id = flip.key.split(":", 2)[2]
    mine = [a for a in ws.labels.current("night") if a.shot_id == shot_id and a.annotator == "ana"]
    assert [a.value for a in mine] == [False]


def test_dashboard_draws_plotly_charts_with_data(app_settings):
    _workspace(app_settings).create_label("night")
    _label_some(app_settings, "night", 10, 10)
    _workspace(app_settings).build("night")
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/dashboard.py").run()
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) >= 4
    assert all('"data":[' in c.proto.spec and '"data":[]' not in c.proto.spec for c in charts)


def test_clicks_and_page_switches_never_reload_the_matrix(app_settings):
    from va_app.ui import resources

    _workspace(app_settings).create_label("night")
    _label_some(app_settings, "night", 10, 10)
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/learn.py").run()
    at.button(key="build").click().run()
    loads = resources.workspace().matrix_loads
    assert loads == 1
    _buttons(at, "pos:feed-positive:")[0].click().run()
    for page in ("pages/search.py", "pages/review.py", "pages/dashboard.py", "pages/learn.py"):
        at.switch_page(page).run()
        assert not at.exception
    assert resources.workspace().matrix_loads == loads
