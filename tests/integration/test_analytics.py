"""Dashboard and review analytics on a real store (synthetic corpus, real builds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from sklearn.metrics import cohen_kappa_score
from sqlalchemy import update

from tests.conftest import TESTER, open_services
from tests.corpusfactory import make_synthetic_corpus
from va_app.config import Settings
from va_app.learn.scores import DEFAULT_CAP, readiness
from va_app.reports import analytics, charts
from va_app.services import dashboard, reads
from va_app.store.schema import ShotRow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """Label "bright": ana 12+12 (two of her negatives are really bright), build v1; bo adds
    10+10 and contradicts ana on 3 shots, build v2. Label "empty" has nothing."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("analytics") / "data", encoder="descriptor"
    )
    truth = make_synthetic_corpus(settings)
    ws = open_services(settings)
    ws.truth = truth
    pos = [s for s, v in sorted(truth.items()) if v]
    neg = [s for s, v in sorted(truth.items()) if not v]
    ws.labelling.create_label(TESTER, "bright", created_by="ana")
    ws.labelling.create_label(TESTER, "empty", created_by="ana")
    ws.mislabelled = pos[12:14]
    ana = [(s, True) for s in pos[:12]] + [(s, False) for s in neg[:10] + ws.mislabelled]
    ws.uow().labels.annotate_many("bright", ana, annotator="ana", source="search")
    ws.modelling.build(TESTER, "bright")
    bo = (
        [(s, True) for s in pos[20:30]]
        + [(s, False) for s in neg[20:30]]
        + [(pos[0], False), (pos[1], False), (neg[0], True)]
    )
    ws.uow().labels.annotate_many("bright", bo, annotator="bo", source="positive")
    ws.modelling.build(TESTER, "bright")
    yield ws
    ws.close()


def test_progress_table_has_one_row_per_label_with_counts_scores_and_readiness(ws):
    table = dashboard.progress_table(ws).set_index("label")
    assert list(table.index) == ["bright", "empty"]
    bright, latest = table.loc["bright"], ws.uow().models.latest("bright")
    labelled = ws.uow().labels.labelled_set("bright")
    assert bright["annotations"] == 24 + 23  # every click
    assert (bright["positives"], bright["negatives"]) == (
        len(labelled.positives),
        len(labelled.negatives),
    )
    assert bright["annotators"] == 2 and bright["conflicts"] == 3 and bright["versions"] == 2
    assert bright["model_score"] == pytest.approx(latest.model_score)
    assert bright["data_score"] == pytest.approx(latest.data_score)
    assert bright["last_activity"] >= latest.created_at
    assert not bright["ready"]
    assert bright["readiness"].startswith(f"needs {100 - len(labelled.positives)} more positives")
    empty = table.loc["empty"]
    assert empty["annotations"] == 0 and empty["versions"] == 0
    assert "build a model" in empty["readiness"] and pd.isna(empty["last_activity"])


def test_readiness_text_is_short_and_says_what_is_missing():
    assert analytics.readiness_text(readiness(120, 130, 0.91, 0.85)) == "ready"
    text = analytics.readiness_text(readiness(63, 100, 0.71, 0.9))
    assert text == "needs 37 more positives; model quality ≥ 0.80 (now 0.71)"


def test_score_history_has_one_row_per_version(ws):
    history = analytics.score_history(reads.versions(ws, "bright"))
    versions = ws.uow().models.versions("bright")
    assert list(history["version"]) == [1, 2]
    assert list(history["n_annotations"]) == [24, versions[1].n_pos + versions[1].n_neg]
    assert history["n_annotations"].is_monotonic_increasing
    assert list(history["model_score"]) == pytest.approx([v.model_score for v in versions])
    assert analytics.score_history(reads.versions(ws, "empty")).empty


def test_activity_counts_every_click_per_annotator_and_day(ws):
    activity = analytics.activity_table(reads.history(ws, "bright"))
    assert set(activity["annotator"]) == {"ana", "bo"}
    assert activity.set_index("annotator")["count"].to_dict() == {"ana": 24, "bo": 23}
    assert (activity["day"] == activity["day"].dt.normalize()).all()
    everything = analytics.activity_table(ws.uow().labels.all_history())
    assert everything["count"].sum() == ws.uow().labels.count_annotations()
    assert list(analytics.activity_table(reads.history(ws, "empty")).columns) == [
        "day",
        "annotator",
        "count",
    ]


def _three_annotators(ws, name: str) -> list[str]:
    """s0..s6: ana, bo, cy; a changed mind and a cleared word on the way (see the test)."""
    shots = sorted(ws.truth)[100:107]
    ws.labelling.create_label(TESTER, name)
    words = {
        "ana": [True, True, False, True, False, True, None],
        "bo": [True, False, False, True, True, None, False],
        "cy": [True, None, False, None, True, None, None],
    }
    ws.uow().labels.annotate(name, shots[4], False, annotator="cy")  # cy changes her mind ...
    ws.uow().labels.annotate(name, shots[5], True, annotator="cy")  # ... and clears this one
    ws.uow().labels.annotate(name, shots[5], None, annotator="cy")
    for annotator, values in words.items():
        words_given = [(s, v) for s, v in zip(shots, values, strict=True) if v is not None]
        ws.uow().labels.annotate_many(name, words_given, annotator=annotator, source="review")
    return shots


def test_agreement_and_kappas_match_a_hand_computed_three_annotator_example(ws):
    _three_annotators(ws, "night")
    result = _agreement(ws, "night")
    # Shots with >= 2 words: s0..s4; all agree on s0, s2, s3.
    assert (result.n_shots, result.n_shots_multi) == (7, 5)
    assert result.agreement_rate == pytest.approx(3 / 5)
    # ana and bo (6 words each) on s0..s4: p_o = 3/5, p_e = .6·.6 + .4·.4 = .52.
    assert result.cohen_pair == ("ana", "bo")
    assert result.cohen_kappa == pytest.approx((0.6 - 0.52) / 0.48)
    ana, bo = [True, True, False, True, False], [True, False, False, True, True]
    assert result.cohen_kappa == pytest.approx(cohen_kappa_score(ana, bo))
    # Fleiss: P̄ = (1 + 0 + 1 + 1 + 1/3) / 5 = 2/3, p+ = 8/13 → P_e = 89/169, κ = 71/240.
    assert result.fleiss_kappa == pytest.approx(71 / 240)
    pairs = {(p.annotator_a, p.annotator_b): p for p in result.pairs}
    assert list(pairs) == [("ana", "bo"), ("ana", "cy"), ("bo", "cy")]
    assert [p.n_shared for p in pairs.values()] == [5, 3, 3]
    assert [p.agreement_rate for p in pairs.values()] == pytest.approx([0.6, 2 / 3, 1.0])
    assert pairs[("ana", "cy")].cohen_kappa == pytest.approx(0.4)
    assert pairs[("bo", "cy")].cohen_kappa == pytest.approx(1.0)
    table = result.pairs_table()
    assert list(table["n_shared"]) == [5, 3, 3] and "cohen_kappa" in table.columns


def test_annotator_conflicts_list_votes_per_annotator_ties_first(ws):
    shots = _three_annotators(ws, "rain")
    conflicts = dashboard.annotator_conflicts(ws, "rain")
    assert list(conflicts["shot_id"]) == [shots[1], shots[4]]
    tie, majority = conflicts.iloc[0], conflicts.iloc[1]
    assert (tie["majority"], tie["ana"], tie["bo"]) == ("tie", "positive", "negative")
    assert pd.isna(tie["cy"])
    assert (majority["majority"], majority["positive_votes"], majority["negative_votes"]) == (
        "positive",
        2,
        1,
    )
    assert list(dashboard.annotator_conflicts(ws, "empty").columns) == [
        "shot_id",
        "majority",
        "positive_votes",
        "negative_votes",
    ]


def test_fleiss_kappa_reproduces_the_textbook_example_and_cohen_matches_sklearn():
    # Fleiss (1971) as worked on Wikipedia: 10 items, 14 raters, 5 categories, κ ≈ 0.210.
    counts = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert analytics.fleiss_kappa(np.array(counts)) == pytest.approx(0.2099, abs=1e-3)
    assert analytics.fleiss_kappa(np.array([[3, 0], [2, 0]])) is None  # one category only
    rng = np.random.default_rng(0)
    a, b = rng.random(40) < 0.4, rng.random(40) < 0.5
    assert analytics.cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert analytics.cohen_kappa(np.ones(4, bool), np.ones(4, bool)) is None


def test_model_disagreements_include_the_mislabelled_shots_strongest_first(ws):
    found = dashboard.disagreements_with_model(ws, "bright")
    assert set(ws.mislabelled) <= set(found["shot_id"])
    contradicts = (found["probability"] >= 0.5) == (found["annotation"] == "negative")
    assert contradicts.all()
    assert found["disagreement"].is_monotonic_decreasing
    expected = np.where(found["annotation"] == "positive", 1.0, 0.0)
    np.testing.assert_allclose(found["disagreement"], np.abs(found["probability"] - expected))


def test_model_disagreements_accept_given_probabilities_and_need_a_model(ws):
    everything_positive = np.full(ws.view.matrix.n_shots, 0.9, dtype=np.float32)
    found = _disagreements(ws, "bright", everything_positive)
    assert set(found["shot_id"]) == set(ws.uow().labels.labelled_set("bright").negatives)
    assert found["disagreement"].to_numpy() == pytest.approx(0.9)
    one = ws.uow().labels.labelled_set("bright").positives[0]
    by_id = _disagreements(ws, "bright", {one: 0.1})
    assert list(by_id["shot_id"]) == [one]
    assert dashboard.disagreements_with_model(ws, "empty").empty


def test_cluster_coverage_adds_up_to_the_data_score_of_the_latest_model(ws):
    coverage = dashboard.cluster_coverage(ws, "bright")
    labelled = ws.uow().labels.labelled_set("bright")
    k = len(coverage)
    assert k == ws.settings.kmeans_k and coverage["shots"].sum() == ws.view.matrix.n_shots
    assert coverage["positives"].sum() == len(labelled.positives)
    assert (coverage["positives_capped"] <= DEFAULT_CAP).all()
    covered = coverage["positives_capped"].sum() + coverage["negatives_capped"].sum()
    assert covered / (2 * k * DEFAULT_CAP) == pytest.approx(
        ws.uow().models.latest("bright").data_score
    )


def test_corpus_map_samples_keeps_labelled_shots_and_never_moves_points(ws):
    labelled = ws.uow().labels.labelled_set("bright")
    plain = analytics.corpus_map(ws.view.matrix, max_points=50)
    marked = analytics.corpus_map(
        ws.view.matrix, ws.uow().labels.labelled_set("bright"), max_points=50
    )
    assert len(plain) == 50 and set(plain["annotation"]) == {"unlabelled"}
    assert set(labelled.positives) | set(labelled.negatives) <= set(marked["shot_id"])
    assert (marked["annotation"] == "positive").sum() == len(labelled.positives)
    both = plain.merge(marked, on="shot_id")
    np.testing.assert_allclose(
        both[["x_x", "y_x"]].to_numpy(), both[["x_y", "y_y"]].to_numpy(), atol=1e-6
    )
    pd.testing.assert_frame_equal(
        marked,
        analytics.corpus_map(ws.view.matrix, ws.uow().labels.labelled_set("bright"), max_points=50),
    )
    whole = dashboard.corpus_map(ws)
    assert len(whole) == ws.view.matrix.n_shots and whole[["x", "y"]].std().min() > 0


def test_score_distribution_marks_shots_added_after_the_model(ws):
    latest = ws.uow().models.latest("bright")
    before = dashboard.score_distribution(ws, "bright")
    assert len(before) == ws.view.matrix.n_shots and not before["since_model"].any()
    with ws.corpus.catalog.session() as s:  # as if movie09 had been ingested after the build
        s.execute(
            update(ShotRow)
            .where(ShotRow.id.like("movie09|%"))
            .values(added_at=latest.created_at + timedelta(minutes=1))
        )
    after = dashboard.score_distribution(ws, "bright")
    assert set(after.loc[after["since_model"], "shot_id"]) == {
        s for s in ws.view.matrix.ids if s.startswith("movie09|")
    }
    np.testing.assert_allclose(
        after["probability"], ws.modelling.score(TESTER, "bright")["probability"], rtol=1e-6
    )
    assert after.attrs["version"] == latest.version
    assert dashboard.score_distribution(ws, "empty").empty


def test_every_dashboard_figure_renders_from_the_real_frames(ws):
    figures = [
        charts.score_history_figure(
            analytics.score_history(reads.versions(ws, "bright")), label="bright"
        ),
        charts.cluster_coverage_figure(dashboard.cluster_coverage(ws, "bright")),
        charts.corpus_map_figure(
            analytics.corpus_map(
                ws.view.matrix, ws.uow().labels.labelled_set("bright"), max_points=100
            )
        ),
        charts.annotator_activity_figure(analytics.activity_table(ws.uow().labels.all_history())),
        charts.score_distribution_figure(dashboard.score_distribution(ws, "bright")),
    ]
    for fig in figures:
        assert isinstance(fig, go.Figure) and fig.data and fig.layout.title.text
        assert all(len(trace.x) for trace in fig.data if trace.x is not None)
        fig.to_json()  # what st.plotly_chart sends to the browser


# -- the dashboard's tables as files ---------------------------------------------------------
def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def assert_same_table(back: pd.DataFrame, frame: pd.DataFrame) -> None:
    """A table read back from its file holds the frame's columns, rows and numbers (CSV keeps
    no types: times and numbers are compared after parsing them)."""
    assert list(back.columns) == list(frame.columns) and len(back) == len(frame)
    for column in frame.columns:
        want, got = frame[column].reset_index(drop=True), back[column]
        if pd.api.types.is_datetime64_any_dtype(want):
            pd.testing.assert_series_equal(
                pd.to_datetime(got).astype("datetime64[ns]"),
                want.astype("datetime64[ns]"),
                check_names=False,
            )
        elif want.map(lambda v: v is None or isinstance(v, (bool, int, float, np.number))).all():
            np.testing.assert_allclose(
                pd.to_numeric(got).astype(float),
                pd.to_numeric(want).astype(float),
                equal_nan=True,
                err_msg=column,
            )
        else:
            assert list(got.fillna("").astype(str)) == list(want.fillna("").astype(str)), column


def test_dashboard_tables_hold_every_labels_numbers_and_read_back_from_csv_and_parquet(
    ws, tmp_path
):
    tables = dashboard.dashboard_tables(ws)
    assert list(tables) == ["label_progress", *analytics.LABEL_TABLES]
    pd.testing.assert_frame_equal(tables["label_progress"], dashboard.progress_table(ws))
    bright = dashboard.label_tables(ws, "bright")
    for name in analytics.LABEL_TABLES:
        assert tables[name].columns[0] == "label"
        part = tables[name][tables[name]["label"] == "bright"].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, bright[name], check_dtype=False)
    # The numbers the dashboard shows for "bright" (see the fixture).
    assert bright["annotator_activity"].groupby("annotator")["count"].sum().to_dict() == {
        "ana": 24,
        "bo": 23,
    }
    assert list(bright["score_history"]["version"]) == [1, 2]
    pair = bright["agreement_pairs"].iloc[0]
    assert (pair.annotator_a, pair.annotator_b, pair.n_shared) == ("ana", "bo", 3)
    assert bright["agreement"].iloc[0]["cohen_pair"] == "ana & bo"
    over_time = bright["agreement_over_time"]
    assert over_time.iloc[-1]["agreement_rate"] == pytest.approx(pair.agreement_rate)
    assert tables["agreement"].set_index("label").loc["empty", "n_shots"] == 0

    for fmt in analytics.EXPORT_FORMATS:
        paths = dashboard.export_tables(ws, tmp_path / fmt, fmt=fmt)
        assert [p.name for p in paths] == [f"{name}.{fmt}" for name in tables]
        for path in paths:
            assert_same_table(_read(path), tables[path.stem])


def test_dashboard_export_command_writes_one_file_per_table(ws, tmp_path):
    env = {**os.environ, "VA_DATA_DIR": str(ws.settings.data_dir), "VA_ENCODER": "descriptor"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "va_app",
            "dashboard",
            "export",
            "--format",
            "parquet",
            "--out",
            str(tmp_path / "out"),
            "--label",
            "bright",
            "--json",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    files = [Path(f) for f in json.loads(done.stdout)["files"]]
    tables = dashboard.dashboard_tables(ws, label="bright")
    assert [f.name for f in files] == [f"{name}.parquet" for name in tables]
    for path in files:
        assert_same_table(pd.read_parquet(path), tables[path.stem])
    assert set(pd.read_parquet(files[1])["label"]) == {"bright"}
    wrong = subprocess.run(
        [
            sys.executable,
            "-m",
            "va_app",
            "dashboard",
            "export",
            "--out",
            str(tmp_path / "x"),
            "--label",
            "no such label",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert wrong.returncode == 1 and "no label named" in wrong.stderr


def _agreement(ws, label: str) -> analytics.Agreement:
    votes = {v.shot_id: v.votes for v in ws.uow().labels.verdicts(label)}
    return analytics.agreement_from_votes(votes, label=label)


def _disagreements(ws, label: str, probabilities) -> pd.DataFrame:
    lookup = analytics.probability_lookup(ws.view.matrix.row_of, probabilities)
    return analytics.disagreements_with_model(ws.uow().labels.verdicts(label), lookup)
