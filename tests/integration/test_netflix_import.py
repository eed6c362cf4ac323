"""import-netflix end to end: a generated Netflix-format data dir becomes a corpus (SQL + h5 +
Chroma) with its labels, every annotator's words, the zero-shot queries and the label files."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import TESTER, open_services
from tests.corpusfactory import make_synthetic_corpus
from tests.netflixfixture import ANNOTATORS, make_netflix_dir
from va_app.config import Settings
from va_app.datasets.netflix.format import ENCODER_ID
from va_app.datasets.netflix.importer import import_netflix, index_missing_shots
from va_app.datasets.netflix.lookups import (
    load_text_embeddings,
    netflix_dir,
    youtube_url,
    zero_shot_query,
)
from va_app.domain import fold_votes
from va_app.errors import NotFoundError, ValidationError
from va_app.formats.annotations import read_annotations
from va_app.formats.netflix_agg import agg_document, aggregate
from va_app.services import dashboard, reads
from va_app.store.catalog import INGESTING
from va_app.store.corpus import Corpus
from va_app.store.labels import LabelStore
from va_app.store.opening import open_corpus


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    root = tmp_path_factory.mktemp("netflix")
    fixture = make_netflix_dir(root / "release")
    settings = Settings(data_dir=root / "data", encoder="descriptor")
    stages = defaultdict(list)
    report = import_netflix(
        settings,
        fixture.root,
        chunk_rows=700,
        index=True,
        progress=lambda done, total, stage: stages[stage].append((done, total)),
    )
    return fixture, settings, report, stages


def test_every_shot_lands_in_all_three_stores_with_its_metadata(imported):
    fixture, settings, report, stages = imported
    assert (report.shots, report.videos, report.added_shots) == (3000, 100, 3000)
    assert report.indexed == 3000 and report.index_missing == 0
    assert stages["shots"][-1] == (3000, 3000) and len(stages["shots"]) == 1 + 5  # 700-row steps
    corpus = open_corpus(settings)
    try:
        assert corpus.consistency().ok and corpus.encoder_id == ENCODER_ID
        key = fixture.keys[1234]
        shot = corpus.shots([key])[0]
        row = _csv_row(fixture.root, key)
        assert shot.video_key == row["yt_id"] and shot.title == row["desc"]
        assert (shot.start_frame, shot.end_frame) == (int(row["frame_in"]), int(row["frame_out"]))
        assert shot.start_s == pytest.approx(float(row["start"]))
        assert shot.end_s == pytest.approx(float(row["end"]))
        assert shot.fps == pytest.approx(23.976) and shot.cluster == fixture.cluster[key]
        assert (
            shot.source_url == youtube_url(row["yt_id"], float(row["start"]))
            and not Path(shot.video_path).exists()
        )
        ids, matrix = corpus.load_matrix()
        assert ids == fixture.keys
        with h5py.File(fixture.root / "embeddings.h5") as f:
            raw = f["embeddings"][1234]
        assert matrix[1234] @ raw / np.linalg.norm(raw) == pytest.approx(1.0, abs=1e-5)
    finally:
        corpus.close()


def test_a_title_with_quotes_and_commas_and_a_missing_genre_survive(imported):
    fixture, settings, _, _ = imported
    corpus = Corpus(settings)
    try:
        videos = {v.key: v for v in corpus.catalog.videos()}
    finally:
        corpus.close()
    assert videos[fixture.videos[0]].title == 'The "Big" Heist, Part 0'
    assert videos[fixture.videos[3]].genre == ""  # NaN in the file
    assert videos[fixture.videos[0]].n_frames > 0 and videos[fixture.videos[0]].duration_s > 0


def test_labels_carry_every_annotators_words_and_the_majority(imported):
    fixture, settings, report, _ = imported
    assert report.labels == sorted(fixture.labels) and report.annotators == list(ANNOTATORS)
    corpus = Corpus(settings)
    try:
        store = LabelStore(corpus.catalog)
        for name in fixture.labels:
            agg = fixture.agg[name]
            history = store.history(name)
            assert len(history) == 3 * len(agg["data"])
            assert {a.annotator for a in history} == set(ANNOTATORS)
            assert {a.source for a in history} == {"import"}
            labelled = store.labelled_set(name)
            assert set(labelled.positives) == {d["key"] for d in agg["data"] if d["agg"]}
            assert set(labelled.negatives) == {d["key"] for d in agg["data"] if not d["agg"]}
        assert "car chase" in store.get_label("car-chase").description
    finally:
        corpus.close()


def test_exported_annotations_rebuild_the_same_agg_files(imported, tmp_path):
    fixture, settings, _, _ = imported
    app = open_services(settings)
    try:
        app.labelling.export_file(TESTER, tmp_path / "all.csv")
        roles = app.uow().labels.annotator_roles()
        for name in fixture.labels:  # the per-label export keeps the release's roles
            path = tmp_path / "agg" / f"{name}.json"
            app.labelling.export_file(TESTER, path, fmt="netflix", label=name)
    finally:
        app.close()
    by_label = defaultdict(list)
    for annotation in read_annotations(tmp_path / "all.csv"):
        by_label[annotation.label].append(annotation)
    for name in fixture.labels:
        original = fixture.agg[name]
        primary, secondaries = roles[name]
        assert primary == original["primary"]
        assert list(secondaries) == original["secondaries"]
        rebuilt = agg_document(
            aggregate(name, fold_votes(by_label[name]), primary=primary, secondaries=secondaries)
        )
        assert rebuilt == {**original, "data": sorted(original["data"], key=lambda d: d["key"])}
        assert json.loads((tmp_path / "agg" / f"{name}.json").read_text()) == rebuilt


def test_zero_shot_queries_and_label_files_are_kept(imported):
    fixture, settings, report, _ = imported
    queries = load_text_embeddings(settings)
    assert sorted(queries) == sorted(fixture.labels)
    assert all(np.linalg.norm(q) == pytest.approx(1.0) for q in queries.values())
    for kind in ("agg", "cmp", "checkpoints"):
        assert sorted(p.stem for p in (netflix_dir(settings) / kind).glob("*.json")) == sorted(
            fixture.labels
        )
    corpus = Corpus(settings)
    try:
        ids, matrix = corpus.load_matrix()
    finally:
        corpus.close()
    top = np.argsort(-(matrix @ zero_shot_query(settings, "static-shot")))[:100]
    truth = fixture.truth["static-shot"]
    hit_rate = np.mean([truth[ids[r]] for r in top])
    assert hit_rate > np.mean(list(truth.values())) + 0.2  # the query finds the label
    assert zero_shot_query(settings, "no-such-label") is None


def test_importing_again_adds_nothing(imported):
    fixture, settings, first, _ = imported
    again = import_netflix(settings, fixture.root, index=True)
    assert (again.shots, again.added_shots, again.annotations, again.indexed) == (3000, 0, 0, 0)
    assert again.imported_labels == [] and again.copied == [] and not again.cleaned_up
    corpus = Corpus(settings)
    try:
        assert LabelStore(corpus.catalog).count_annotations() == first.annotations
        assert corpus.consistency().ok
    finally:
        corpus.close()


class _Stop(Exception):
    pass


def _stop_at(stage: str, at: int):
    def progress(done: int, total: int, name: str) -> None:
        if name == stage and done >= at:
            raise _Stop

    return progress


def test_an_interrupted_import_is_invisible_then_finished_by_the_next_run(tmp_path):
    fixture = make_netflix_dir(
        tmp_path / "release", n_videos=20, shots_per_video=10, va_size=60, cmp_size=60
    )
    settings = Settings(data_dir=tmp_path / "data", encoder="descriptor")
    with pytest.raises(_Stop):
        import_netflix(settings, fixture.root, chunk_rows=50, progress=_stop_at("shots", 100))
    corpus = Corpus(settings)
    try:  # half an import: rows still "ingesting", some vectors written, nothing ready
        assert corpus.catalog.videos(status=INGESTING) and corpus.catalog.count_shots() == 0
        assert corpus.matrix.count() == 100
    finally:
        corpus.close()
    with pytest.raises(_Stop):  # this time the shots finish and the labels stop half-way
        import_netflix(settings, fixture.root, progress=_stop_at("labels", 2))
    report = import_netflix(settings, fixture.root)
    assert report.cleaned_up is False and report.added_shots == 0
    assert report.shots == 200 and sorted(report.imported_labels) == sorted(fixture.labels)[2:]
    assert report.index_missing == 200  # the index is a separate step ...
    with pytest.raises(_Stop):
        index_missing_shots(settings, batch_rows=50, progress=_stop_at("index", 50))
    assert index_missing_shots(settings) == (150, 0)  # ... that resumes too
    corpus = open_corpus(settings)
    try:
        assert corpus.consistency().ok and corpus.matrix.ids() == fixture.keys
        store = LabelStore(corpus.catalog)
        total = sum(3 * len(fixture.agg[name]["data"]) for name in fixture.labels)
        assert store.count_annotations() == total  # no label imported twice
    finally:
        corpus.close()


def test_leftovers_of_an_interrupted_import_are_removed_by_the_next_one(tmp_path):
    fixture = make_netflix_dir(
        tmp_path / "release", n_videos=10, shots_per_video=10, va_size=40, cmp_size=40
    )
    settings = Settings(data_dir=tmp_path / "data", encoder="descriptor")
    with pytest.raises(_Stop):
        import_netflix(settings, fixture.root, chunk_rows=30, progress=_stop_at("shots", 60))
    report = import_netflix(settings, fixture.root, index=False)
    assert report.cleaned_up and report.added_shots == 100 and report.index_missing == 100
    corpus = Corpus(settings)
    try:
        assert corpus.matrix.ids() == fixture.keys and corpus.catalog.count_shots() == 100
    finally:
        corpus.close()


def test_a_damaged_vector_file_is_set_aside_and_written_again(tmp_path):
    fixture = make_netflix_dir(
        tmp_path / "release", n_videos=10, shots_per_video=10, va_size=40, cmp_size=40
    )
    settings = Settings(data_dir=tmp_path / "data", encoder="descriptor")
    import_netflix(settings, fixture.root)
    settings.embeddings_path.write_bytes(b"not hdf5 at all" * 100)
    report = import_netflix(settings, fixture.root)
    assert report.cleaned_up and report.added_shots == 100 and report.annotations == 0
    assert list(settings.data_dir.glob("embeddings.h5.corrupt-*"))
    corpus = open_corpus(settings)
    try:
        assert corpus.consistency().ok and corpus.matrix.ids() == fixture.keys
    finally:
        corpus.close()


def test_it_refuses_a_data_dir_that_holds_another_corpus(settings, tmp_path):
    make_synthetic_corpus(settings, videos=2, shots_per_video=5)
    fixture = make_netflix_dir(
        tmp_path / "release", n_videos=5, shots_per_video=4, va_size=10, cmp_size=10
    )
    with pytest.raises(ValidationError, match="already holds a corpus of 10 shots"):
        import_netflix(settings, fixture.root)


def test_missing_or_inconsistent_files_are_named(settings, tmp_path):
    fixture = make_netflix_dir(
        tmp_path / "release", n_videos=5, shots_per_video=4, va_size=10, cmp_size=10
    )
    with pytest.raises(ValidationError, match="is not a folder"):
        import_netflix(settings, tmp_path / "nowhere")
    with h5py.File(fixture.root / "embeddings.h5", "a") as f:
        vectors = f["embeddings"][:]
        del f["embeddings"]
        f.create_dataset("embeddings", data=vectors[:-1])
    with pytest.raises(ValidationError, match="19 vectors but .* has 20 shots"):
        import_netflix(settings, fixture.root)
    (fixture.root / "embeddings.h5").unlink()
    with pytest.raises(ValidationError, match="lacks embeddings.h5"):
        import_netflix(settings, fixture.root)


def _csv_row(root: Path, key: str) -> dict:
    with open(root / "shot-data.csv", newline="", encoding="utf-8") as handle:
        return next(row for row in csv.DictReader(handle) if row["key"] == key)


def test_youtube_links_start_at_the_shot():
    assert youtube_url("HnnBvemHrWA") == "https://www.youtube.com/watch?v=HnnBvemHrWA"
    assert youtube_url("HnnBvemHrWA", 166.8) == "https://www.youtube.com/watch?v=HnnBvemHrWA&t=166s"
    assert youtube_url("x", -0.2).endswith("&t=0s")


def test_an_imported_corpus_builds_calibrated_models_and_says_its_shots_play_on_youtube(imported):
    """Netflix data has vectors and YouTube links, no video files: builds, calibration and
    its dashboard curve work; asking for a shot's clip says where the shot can be seen."""
    fixture, settings, _, _ = imported
    ws = open_services(settings)
    try:
        name = sorted(fixture.labels)[0]
        outcome = ws.modelling.build(TESTER, name)
        assert outcome.version.calibration["calibrated"]["brier"] >= 0
        curve = dashboard.reliability(ws, name)
        assert set(curve["scores"]) == {"raw", "calibrated"} and curve.attrs["n"] > 0
        key = fixture.keys[10]
        with pytest.raises(NotFoundError, match=r"not on this machine.*youtube\.com/watch"):
            reads.shot_clip(ws, key)
    finally:
        ws.close()
