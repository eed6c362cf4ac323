"""Every page through Streamlit's AppTest, with the interactions a user makes on it."""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import pytest

from tests.app.conftest import make_app
from tests.app.grid_driver import decisions, grid, grids, send
from tests.conftest import TESTER, open_services
from va_app.services.bootstrap import Services
from va_app.store.catalog import Catalog


def _workspace(settings) -> Services:
    return open_services(settings)


def _label_some(settings, label: str, n_pos: int, n_neg: int) -> None:
    ws = _workspace(settings)
    truth = Catalog(settings.sql_url).ground_truth(label)
    pos = [s for s, v in sorted(truth.items()) if v][:n_pos]
    neg = [s for s, v in sorted(truth.items()) if not v][:n_neg]
    ws.uow().labels.annotate_many(
        label, [(s, True) for s in pos] + [(s, False) for s in neg], annotator="bo", source="search"
    )
    ws.close()


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
    assert [label.name for label in _workspace(app_settings).uow().labels.labels()] == ["Night"]
    assert at.session_state["label"] == "Night"


def test_a_bad_label_name_shows_an_error_not_a_traceback(app_settings):
    at = make_app()
    at.run()
    at.text_input(key="new_label_name").input("../etc/passwd")
    at.button(key="FormSubmitter:new-label-Create label").click().run()
    assert not at.exception
    assert any("label name" in e.value for e in at.error)


def test_search_labels_a_shot_and_counts_what_is_missing(app_settings):
    _workspace(app_settings).labelling.create_label(TESTER, "night")
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/search.py").run()
    assert not at.exception
    at.text_input(key="search_query").input("night").run()
    assert any("Keyword search" in i.value for i in at.info)
    cards = grid(at, "grid-search")
    assert (
        cards.data["counts"] | {"need_positives": 10, "need_negatives": 10} == cards.data["counts"]
    )
    shot_id = cards.shot_ids[0]
    send(at, cards, "decisions", decisions((shot_id, True)))
    assert not at.exception
    current = _workspace(app_settings).uow().labels.current("night")
    assert [(a.shot_id, a.value, a.annotator) for a in current] == [(shot_id, True, "ana")]
    after = grid(at, "grid-search")
    assert after.card(shot_id)["mine"] is True
    assert after.data["counts"]["positives"] == 1  # the grid counts 9 more to go from here


def test_search_says_the_index_is_building_and_searches_exactly_meanwhile(
    app_settings, monkeypatch
):
    from va_app.search import shots
    from va_app.store import corpus

    ws = _workspace(app_settings)
    ws.labelling.create_label(TESTER, "night")
    ws.corpus.index.delete(ws.view.matrix.ids[:20])  # as if `reindex` were 28 shots in
    ws.close()
    # A corpus of 48 shots is searched exactly anyway and re-indexed on open; make it one
    # whose index matters and is left to `reindex`.
    monkeypatch.setattr(shots, "EXACT_MAX_VALUES", 0)
    monkeypatch.setattr(corpus, "AUTO_INDEX_MAX", 0)
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/search.py").run()
    at.text_input(key="search_query").input("night").run()
    assert not at.exception
    notes = [c.value for c in at.caption if "index building" in c.value]
    assert notes and "28 of 48" in notes[0] and "searching exactly meanwhile" in notes[0]
    assert grid(at, "grid-search").shot_ids  # results all the same


def test_active_learning_builds_and_labels_from_a_feed(app_settings):
    _workspace(app_settings).labelling.create_label(TESTER, "night")
    _label_some(app_settings, "night", 10, 10)
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/learn.py").run()
    assert not at.exception
    at.button(key="build").click().run()
    assert not at.exception
    ws = _workspace(app_settings)
    assert [v.version for v in ws.uow().models.versions("night")] == [1]
    assert {t.label for t in at.tabs} >= {"Top positive", "Top negative", "Borderline", "Random"}
    advice = " ".join(i.value for i in at.info)
    assert "Suggested next batch: Borderline" in advice and "least sure" in advice
    # Lazy tabs: only the open feed's grid is built.
    assert [g.data["key"] for g in grids(at)] == ["grid-feed-positive"]
    assert all(c["score"] is not None for c in grid(at, "grid-feed-positive").data["cards"])
    at.session_state["feed_tab"] = "Borderline"
    at.run()
    borderline = grid(at, "grid-feed-borderline")
    send(at, borderline, "decisions", decisions((borderline.shot_ids[0], False)))
    assert not at.exception
    sources = {a.source for a in ws.uow().labels.current("night") if a.annotator == "ana"}
    assert sources == {"borderline"}


def test_before_the_first_build_active_learning_offers_random_shots(app_settings):
    """A new label has no model and no feeds yet; the page offers random shots to label (the
    random feed needs no model), the same ones after a rerun, new ones once hidden."""
    _workspace(app_settings).labelling.create_label(TESTER, "night")
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/learn.py").run()
    assert not at.exception
    assert any("Press **Build**" in i.value and "random ones" in i.value for i in at.info)
    random_grid = grid(at, "grid-feed-random")
    first = random_grid.shot_ids
    assert len(first) == 20 and len(set(first)) == 20
    send(at, random_grid, "decisions", decisions((first[0], True), (first[1], False)))
    assert not at.exception
    ws = _workspace(app_settings)
    stored = {a.shot_id: (a.value, a.source) for a in ws.uow().labels.current("night")}
    assert stored == {first[0]: (True, "random"), first[1]: (False, "random")}
    at.run()
    assert grid(at, "grid-feed-random").shot_ids == first
    at.toggle(key="hide_labelled").set_value(True).run()
    hidden = grid(at, "grid-feed-random").shot_ids
    assert not {first[0], first[1]} & set(hidden) and len(hidden) == 20


def test_before_the_first_build_the_label_words_offer_shots_by_meaning(app_settings):
    """The "By meaning" tab: the label's words ranked over the corpus, the best hit first and
    the others spread down the ranking — positives and near misses of the same words, not the
    top hits alone; labelled shots make room for the next ones."""
    from va_app.learn.feeds import meaning_depth, meaning_page
    from va_app.search.shots import SearchQuery
    from va_app.services import reads

    _workspace(app_settings).labelling.create_label(TESTER, "night")
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/learn.py").run()
    at.number_input(key="feed_size").set_value(4).run()
    assert not at.exception
    page = grid(at, "grid-feed-meaning").shot_ids
    ws = _workspace(app_settings)
    ranked = [h.shot_id for h in reads.search(ws, SearchQuery(texts=("night",)), k=400).hits]
    window = ranked[: meaning_depth(len(reads.shot_ids(ws)))]
    assert len(window) > 8 and page == meaning_page(window, 4)
    assert page[0] == window[0] and page[-1] == window[-1]  # the best, then down the ranking
    truth = Catalog(app_settings.sql_url).ground_truth("night")
    send(at, grid(at, "grid-feed-meaning"), "decisions", decisions((page[0], truth[page[0]])))
    stored = {a.shot_id: a.source for a in ws.uow().labels.current("night")}
    assert stored == {page[0]: "meaning"}
    at.run()
    assert page[0] not in grid(at, "grid-feed-meaning").shot_ids
    ws.close()


def test_review_lists_annotations_and_flips_one(app_settings):
    _workspace(app_settings).labelling.create_label(TESTER, "night")
    _label_some(app_settings, "night", 3, 2)
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/review.py").run()
    assert not at.exception
    assert "5 current annotations" in " ".join(c.value for c in at.caption)
    cards = grid(at, "grid-review")
    flip = next(c for c in cards.data["cards"] if c["mine"] is None)  # bo's, not ana's
    assert flip["others"] in {"1+ / 0−", "0+ / 1−"}
    send(at, cards, "decisions", decisions((flip["id"], False)))
    assert not at.exception
    ws = _workspace(app_settings)
    mine = [
        a
        for a in ws.uow().labels.current("night")
        if a.shot_id == flip["id"] and a.annotator == "ana"
    ]
    assert [a.value for a in mine] == [False]


def test_bulk_decisions_and_their_undo_land_in_the_annotation_log(app_settings):
    _workspace(app_settings).labelling.create_label(TESTER, "night")
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/search.py").run()
    cards = grid(at, "grid-search")
    chosen = cards.shot_ids[:3]
    bulk = decisions(*[(s, True) for s in chosen], bulk=True)
    send(at, cards, "decisions", bulk)
    send(at, grid(at, "grid-search"), "decisions", bulk)  # sent twice: written once
    assert not at.exception
    ws = _workspace(app_settings)
    history = ws.uow().labels.history("night")
    assert [(a.shot_id, a.value, a.annotator, a.source) for a in history] == [
        (s, True, "ana", "search") for s in chosen
    ]
    assert all(a.created_at is not None for a in history)
    after = grid(at, "grid-search")
    assert {e["group"] for e in after.data["recent"]} == {bulk["items"][0]["group"]}
    assert set(after.data["applied"]) >= {i["seq"] for i in bulk["items"]}
    # Undo the bulk action: each shot goes back to unlabelled, as three more log rows.
    group = bulk["items"][0]["group"]
    undo = decisions(*[(s, None) for s in chosen], before=True)
    for item in undo["items"]:
        item["undo_of"] = group
    send(at, after, "decisions", undo)
    assert not at.exception
    history = ws.uow().labels.history("night")
    assert [(a.shot_id, a.value) for a in history[3:]] == [(s, None) for s in chosen]
    assert ws.uow().labels.current("night") == []
    assert grid(at, "grid-search").data["recent"] == []


def test_a_malformed_event_shows_an_error_and_writes_nothing(app_settings):
    _workspace(app_settings).labelling.create_label(TESTER, "night")
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/search.py").run()
    cards = grid(at, "grid-search")
    send(
        at,
        cards,
        "decisions",
        {"items": [{"seq": 1, "shot_id": cards.shot_ids[0], "value": "yes"}]},
    )
    assert not at.exception
    assert "must be true, false or null" in grid(at, "grid-search").data["error"]
    assert grid(at, "grid-search").data["rejected"] == [1]
    assert _workspace(app_settings).uow().labels.history("night") == []


def test_play_gives_the_grid_one_live_player_for_the_shot(app_settings):
    _workspace(app_settings).labelling.create_label(TESTER, "night")
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/search.py").run()
    cards = grid(at, "grid-search")
    assert cards.data["clip"] is None
    assert all(c["thumb"] and c["strip"] for c in cards.data["cards"])  # served images
    shot_id = cards.shot_ids[1]
    send(at, cards, "play", shot_id)
    clip = grid(at, "grid-search").data["clip"]
    shot = next(s for s in _workspace(app_settings).corpus.shots([shot_id]))
    assert clip["shot_id"] == shot_id and clip["url"]
    assert abs(clip["end"] - clip["start"] - shot.duration_s) < 1e-6


def test_dashboard_draws_plotly_charts_with_data(app_settings):
    _workspace(app_settings).labelling.create_label(TESTER, "night")
    _label_some(app_settings, "night", 10, 10)
    _workspace(app_settings).modelling.build(TESTER, "night")
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/dashboard.py").run()
    assert not at.exception
    # One annotator: no agreement-over-time chart, a note instead (two annotators: next test).
    charts = at.get("plotly_chart")
    assert any("two annotators" in i.value for i in at.info)
    assert len(charts) >= 4
    assert all('"data":[' in c.proto.spec and '"data":[]' not in c.proto.spec for c in charts)
    calibration = [c for c in charts if "perfectly calibrated" in c.proto.spec]
    assert len(calibration) == 1 and "calibrated (shown in the app)" in calibration[0].proto.spec
    assert any("Brier score" in c.value and "calibrated" in c.value for c in at.caption)


def test_the_score_histogram_follows_each_build(app_settings):
    """The Dashboard keeps its score histogram between reruns (a pass over every shot) and
    draws the next version's after a build — also for a label deleted and made again."""
    ws = _workspace(app_settings)
    ws.labelling.create_label(TESTER, "night")
    _label_some(app_settings, "night", 10, 10)
    ws.modelling.build(TESTER, "night")
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/dashboard.py").run()

    def histogram() -> str:
        return next(
            c.proto.spec for c in at.get("plotly_chart") if "Score distribution" in c.proto.spec
        )

    first = histogram()
    assert "model v1" in first
    at.run()
    assert histogram() == first
    _label_some(app_settings, "night", 14, 14)
    ws.modelling.build(TESTER, "night")
    at.run()
    assert "model v2" in histogram()
    ws.labelling.delete_label(TESTER, "night")
    ws.labelling.create_label(TESTER, "night")
    _label_some(app_settings, "night", 10, 12)
    ws.modelling.build(TESTER, "night")
    at.run()
    assert "model v1" in histogram() and histogram() != first  # the new label's own v1
    ws.close()


def _plotted(values) -> list:
    """A trace's values as the browser gets them (numbers come as base64 typed arrays)."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)


def test_dashboard_shows_the_numbers_its_csv_and_parquet_exports_hold(app_settings, tmp_path):
    from va_app.reports import analytics
    from va_app.services import dashboard

    _workspace(app_settings).labelling.create_label(TESTER, "night")
    _label_some(app_settings, "night", 10, 10)  # as "bo"
    ws = _workspace(app_settings)
    ws.modelling.build(TESTER, "night")
    bo = [a.shot_id for a in ws.uow().labels.current("night")][:8]
    truth = ws.uow().labels.verdicts("night")
    words = {v.shot_id: v.value for v in truth}
    ws.uow().labels.annotate_many(
        "night",
        [(s, words[s] if i % 4 else not words[s]) for i, s in enumerate(bo)],
        annotator="ana",
        source="review",
    )  # ana contradicts bo on 2 of 8
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/dashboard.py").run()
    assert not at.exception
    keys = {b.proto.id.split("-", 2)[-1] for b in at.get("download_button")}
    assert keys == {
        f"download-{name}-{fmt}"
        for name in ("label_progress", *analytics.LABEL_TABLES)
        for fmt in analytics.EXPORT_FORMATS
    }

    for fmt, read in (("csv", pd.read_csv), ("parquet", pd.read_parquet)):
        files = {p.stem: read(p) for p in dashboard.export_tables(ws, tmp_path / fmt, fmt=fmt)}
        progress, pairs = (df.value.reset_index(drop=True) for df in at.dataframe)
        shown = progress.set_index("label").loc["night"]
        exported = files["label_progress"].set_index("label").loc["night"]
        for column in (
            "annotations",
            "positives",
            "negatives",
            "annotators",
            "conflicts",
            "versions",
        ):
            assert shown[column] == exported[column] and shown[column] > 0, column
        assert shown["model_score"] == pytest.approx(exported["model_score"])
        assert (
            pairs[["annotator_a", "annotator_b", "n_shared"]].values.tolist()
            == files["agreement_pairs"][["annotator_a", "annotator_b", "n_shared"]].values.tolist()
            == [["ana", "bo", 8]]
        )
        assert (
            pairs["agreement_rate"].tolist()
            == pytest.approx(files["agreement_pairs"]["agreement_rate"].tolist())
            == [0.75]
        )
        metrics = {m.label: m.value for m in at.metric}
        summary = files["agreement"].iloc[0]
        assert metrics["Shots with several annotators"] == str(summary["n_shots_multi"]) == "8"
        assert metrics["Agreement rate"] == f"{summary['agreement_rate']:.0%}"
        activity = next(
            c for c in at.get("plotly_chart") if "per annotator per day" in c.proto.spec
        )
        bars = {t["name"]: sum(_plotted(t["y"])) for t in json.loads(activity.proto.spec)["data"]}
        assert (
            bars
            == files["annotator_activity"].groupby("annotator")["count"].sum().to_dict()
            == {"ana": 8, "bo": 20}
        )
        assert files["score_history"]["version"].tolist() == [1]
    over_time = next(c for c in at.get("plotly_chart") if "Agreement over time" in c.proto.spec)
    assert [t["name"] for t in json.loads(over_time.proto.spec)["data"]] == ["ana & bo"]
    ws.close()


def test_play_shot_plays_the_shots_own_clip(app_settings):
    """The grid's live player plays a clip cut to exactly the shot, from its start."""
    import av

    _workspace(app_settings).labelling.create_label(TESTER, "night")
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/search.py").run()
    cards = grid(at, "grid-search")
    shot_id = cards.shot_ids[0]
    send(at, cards, "play", shot_id)
    assert not at.exception and not at.error
    clip = grid(at, "grid-search").data["clip"]
    assert clip["shot_id"] == shot_id and clip["start"] == 0.0
    shot = _workspace(app_settings).corpus.shots([shot_id])[0]
    [path] = (app_settings.previews_dir).glob("*.clip.mp4")
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == shot.end_frame - shot.start_frame


def test_clicks_and_page_switches_never_reload_the_matrix(app_settings):
    from va_app.ui import resources

    _workspace(app_settings).labelling.create_label(TESTER, "night")
    _label_some(app_settings, "night", 10, 10)
    at = make_app(label="night")
    at.run()
    at.switch_page("pages/learn.py").run()
    at.button(key="build").click().run()
    loads = resources.services().view.matrix_loads
    assert loads == 1
    feed = grid(at, "grid-feed-positive")
    send(at, feed, "decisions", decisions((feed.shot_ids[0], True)))
    for page in ("pages/search.py", "pages/review.py", "pages/dashboard.py", "pages/learn.py"):
        at.switch_page(page).run()
        assert not at.exception
    assert resources.services().view.matrix_loads == loads
