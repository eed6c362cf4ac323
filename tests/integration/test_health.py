"""``python -m va_app check [--repair]`` finds each planted fault, names its fix, repairs what is
derived and refuses to guess at the rest.

One table of faults (:data:`FAULTS`), each planted in a private copy of a real corpus (two
ingested videos: real thumbnails, a real Chroma index, a built model, a cut preview clip) on
SQLite and on PostgreSQL. Through the CLI, as a user runs it: the fault is reported in its part
with its fix and a non-zero exit; ``--repair`` then fixes the derived ones (the check passes
again, exit 0) and leaves the others, still pointing at ``restore``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import TESTER, open_services
from tests.videogen import make_cut_video
from va_app.config import Settings
from va_app.ingest import ingest
from va_app.search.shots import SearchQuery
from va_app.services import health, reads
from va_app.store import health as store_health
from va_app.store.index import VectorIndex
from va_app.store.matrix import EmbeddingMatrix

ROOT = Path(__file__).resolve().parents[2]
LABEL = "night"
CUTS = [0, 30, 60, 90, 120, 150]
SHOTS = 3 * (len(CUTS) - 1)
pytestmark = [pytest.mark.both_backends, pytest.mark.slow]


@dataclass(frozen=True)
class Template:
    root: Path  # data/ and videos/
    database: str  # PostgreSQL database to copy per case ("" on SQLite)


@pytest.fixture(scope="module")
def template(tmp_path_factory, sql_backend, request) -> Template:
    root = tmp_path_factory.mktemp("health-template")
    for i in range(3):
        make_cut_video(root / "videos" / f"clip_{i}.mp4", cuts=CUTS, seed=i)
    database = ""
    if sql_backend == "postgresql":
        database = request.getfixturevalue("postgres").new_database()
    settings = _settings(root / "data", _url(request, database))
    assert ingest(settings, root / "videos", workers=1).added_shots == SHOTS
    app = open_services(settings)
    try:
        app.labelling.create_label(TESTER, LABEL)
        shots = reads.shot_ids(app)
        votes = [(s, i % 2 == 0) for i, s in enumerate(shots)]
        app.labelling.record(TESTER, LABEL, votes, source="search", annotator="ana")
        app.modelling.build(TESTER, LABEL)
        app.modelling.export_model(TESTER, LABEL, settings.models_dir / "night.vamodel.json")
        reads.shot_clip(app, shots[0])  # one cached preview clip
    finally:
        app.close()
    return Template(root, database)


def _settings(data_dir: Path, url: str = "") -> Settings:
    return Settings(
        data_dir=data_dir,
        encoder="descriptor",
        database_url=url,
        min_positives=5,
        min_negatives=5,
    ).with_data_dir(data_dir)


def _url(request, database: str) -> str:
    return request.getfixturevalue("postgres").url(database) if database else ""


@pytest.fixture
def settings_copy(template, tmp_path, request) -> Iterator[Settings]:
    shutil.copytree(template.root / "data", tmp_path / "data")
    database = ""
    if template.database:
        database = request.getfixturevalue("postgres").new_database(template=template.database)
    settings = _settings(tmp_path / "data", _url(request, database))
    old, new = str(template.root / "data"), str(settings.data_dir)
    _sql(  # the copy's shots point at the copy's thumbnails (as restore does)
        settings,
        f"UPDATE shots SET thumb_path = replace(thumb_path, '{old}', '{new}'), "
        f"filmstrip_path = replace(filmstrip_path, '{old}', '{new}')",
    )
    yield settings
    if database:
        request.getfixturevalue("postgres").drop_database(database)


def cli_check(settings: Settings, *args: str) -> tuple[int, dict]:
    """``python -m va_app check --json [args]`` on the corpus: exit status and the report."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "VA_ENCODER": "descriptor",
        "VA_DATABASE_URL": settings.database_url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "va_app", "check", "--json", "--data-dir", str(settings.data_dir)]
        + list(args),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def check(settings: Settings, *args: str) -> tuple[int, dict]:
    """What ``check --json [--repair]`` reports, run in this process (the CLI's own code path
    is :func:`cli_check`, exercised below): ``(exit status, report)``."""
    done: list[str] = []
    if "--repair" in args:
        outcome = health.repair(settings, user=TESTER)
        report, done = outcome.after, outcome.done
    else:
        report = health.check(settings)
    return (0 if report.ok else 1), {**report.as_dict(), "repaired": done}


# -- the faults -------------------------------------------------------------------------------
def truncate_matrix(settings: Settings) -> None:
    path = settings.embeddings_path
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


def damage_sqlite_page(settings: Settings) -> None:
    """Scribble over the first page of the shots table's B-tree (SQLite only)."""
    path = settings.data_dir / "catalog.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'shots'").fetchone()[0]
    with open(path, "r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xa5" * page_size)


def delete_catalog_file(settings: Settings) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{settings.data_dir / 'catalog.sqlite'}{suffix}").unlink(missing_ok=True)


def delete_index_folder(settings: Settings) -> None:
    shutil.rmtree(settings.chroma_path)


def index_other_vectors(settings: Settings) -> None:
    ids, matrix = EmbeddingMatrix(settings.embeddings_path).load()
    noise = np.random.default_rng(1).normal(size=matrix.shape).astype(np.float32)
    index = VectorIndex.from_settings(settings)
    try:
        index.add(ids, noise / np.linalg.norm(noise, axis=1, keepdims=True))
    finally:
        index.close()


def drop_matrix_rows(settings: Settings) -> None:
    matrix = EmbeddingMatrix(settings.embeddings_path)
    matrix.keep_only(set(matrix.ids()[2:]))


def damage_model_version(settings: Settings) -> None:
    _sql(settings, 'UPDATE model_versions SET params = \'{"format": "nonsense"}\'')


def damage_model_file(settings: Settings) -> None:
    (settings.models_dir / "night.vamodel.json").write_text("{not json", encoding="utf-8")


def delete_thumbnails(settings: Settings) -> None:
    for path in sorted(settings.thumbs_dir.rglob("*.jpg"))[:4]:
        path.unlink()


def empty_preview(settings: Settings) -> None:
    for path in settings.previews_dir.glob("*.clip.mp4"):
        path.write_bytes(b"")


def _sql(settings: Settings, statement: str) -> None:
    engine = create_engine(settings.sql_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Fault:
    id: str
    plant: Callable[[Settings], None]
    part: str  # where check reports it
    says: str  # words of the problem
    fix: str  # words of its fix
    repairable: bool
    sqlite_only: bool = False


FAULTS = [
    Fault("truncated-matrix", truncate_matrix, "matrix", "cannot be read", "restore", False),
    Fault("damaged-sqlite-page", damage_sqlite_page, "catalog", "SQLite", "restore", False, True),
    Fault("missing-catalog", delete_catalog_file, "catalog", "missing", "restore", False, True),
    Fault("missing-chroma-folder", delete_index_folder, "index", "missing", "--repair", True),
    Fault("index-of-other-vectors", index_other_vectors, "index", "differ", "--repair", True),
    Fault("matrix-lacks-rows", drop_matrix_rows, "matrix", "no vector", "restore", False),
    Fault("damaged-model-version", damage_model_version, "models", "v1", "build", False),
    Fault("damaged-model-file", damage_model_file, "models", "night.vamodel", "export", False),
    Fault("deleted-thumbnails", delete_thumbnails, "thumbnails", "lack", "--repair", True),
    Fault("empty-preview-clip", empty_preview, "previews", "damaged", "--repair", True),
]


def test_a_sound_corpus_passes(settings_copy, sql_backend):
    status, report = check(settings_copy)
    assert status == 0 and report["ok"], report["problems"]
    assert report["facts"]["shots"] == report["facts"]["matrix_rows"] == SHOTS
    assert report["facts"]["indexed"] == SHOTS and report["facts"]["model_versions"] == 1
    if sql_backend == "postgresql":  # the suite's server has amcheck (PostgreSQL's contrib)
        _sql(settings_copy, "CREATE EXTENSION IF NOT EXISTS amcheck")
        status, report = check(settings_copy)
        assert status == 0 and report["facts"]["indexes_verified"] > 5


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
def test_check_finds_each_planted_fault_and_repairs_only_derived_data(
    settings_copy, sql_backend, fault: Fault
):
    if fault.sqlite_only and sql_backend != "sqlite":
        pytest.skip("a SQLite file fault (PostgreSQL's own storage is checked by amcheck)")
    fault.plant(settings_copy)
    status, report = check(settings_copy)
    assert status != 0
    found = [p for p in report["problems"] if p["part"] == fault.part]
    assert found, report["problems"]
    assert any(fault.says in p["what"] and fault.fix in p["fix"] for p in found), found
    assert {p["repairable"] for p in found} == {fault.repairable}

    status, repaired = check(settings_copy, "--repair")
    if fault.repairable:
        assert status == 0 and repaired["ok"], repaired["problems"]
        assert repaired["repaired"]
    else:  # the corpus itself: never guessed at
        assert status != 0
        assert [p for p in repaired["problems"] if p["part"] == fault.part] == found


@pytest.mark.parametrize("fault", [FAULTS[0], FAULTS[3]], ids=lambda f: f.id)
def test_the_cli_exits_non_zero_while_a_problem_remains(settings_copy, fault: Fault):
    fault.plant(settings_copy)
    status, report = cli_check(settings_copy)
    assert status == 1 and report == check(settings_copy)[1]
    status, repaired = cli_check(settings_copy, "--repair")
    assert status == (0 if fault.repairable else 1)
    assert bool(repaired["repaired"]) == fault.repairable


def test_repaired_thumbnails_are_made_of_the_shots_own_frames(settings_copy):
    from va_app.video.frames import read_frame, thumbnail_jpeg

    delete_thumbnails(settings_copy)
    assert check(settings_copy, "--repair")[0] == 0
    app = open_services(settings_copy)
    try:
        shots = reads.shots(app, reads.shot_ids(app))
    finally:
        app.close()
    for shot in shots:
        middle = shot.start_frame + (shot.end_frame - shot.start_frame) // 2
        expected = _image(thumbnail_jpeg(read_frame(shot.video_path, middle)))
        other = _image(thumbnail_jpeg(read_frame(shot.video_path, (middle + 30) % 150)))
        made = _image(Path(shot.thumb_path).read_bytes())
        assert np.abs(made - expected).mean() < np.abs(made - other).mean() / 4, shot.id
        assert Path(shot.filmstrip_path).stat().st_size > 0


def _image(jpeg: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(jpeg)), dtype=float)


def test_a_corpus_whose_index_files_were_cut_short_still_opens(settings, tmp_path):
    """A process killed while Chroma wrote its HNSW files leaves a segment Chroma cannot read:
    the corpus opens anyway (the index is derived; search is exact without it), check names
    the fault and --repair rebuilds the index."""
    from tests.corpusfactory import make_synthetic_corpus
    from va_app.store.index import forget_cached_clients

    make_synthetic_corpus(settings)
    index = VectorIndex.from_settings(settings)
    extra = np.random.default_rng(0).standard_normal((3000, 32)).astype(np.float32)
    index.add([f"gone|{i}" for i in range(3000)], extra)  # enough for Chroma to persist HNSW
    index.close()
    forget_cached_clients()
    [pickle] = settings.chroma_path.glob("*/index_metadata.pickle")
    with pickle.open("r+b") as f:
        f.truncate(pickle.stat().st_size // 2)

    app = open_services(settings)  # no traceback
    try:
        ids = set(reads.shot_ids(app))
        found = reads.search(app, SearchQuery(like=min(ids)), k=5)
        assert len(found.hits) == 5 and {h.shot_id for h in found.hits} <= ids  # exact search
        summary = reads.corpus_summary(app)  # Home's figures: the index unknown, no traceback
        assert summary["index"] is None and summary["shots"] == len(ids)
    finally:
        app.close()
    status, report = check(settings)
    assert status == 1 and any(p["part"] == "index" for p in report["problems"])
    status, repaired = check(settings, "--repair")
    assert status == 0 and repaired["facts"]["indexed"] == repaired["facts"]["shots"]


# What every page runs before opening the corpus: cheap at any size, and still these faults.
QUICK_FAULTS = [
    f
    for f in FAULTS
    if f.id in {"truncated-matrix", "missing-catalog", "missing-chroma-folder", "matrix-lacks-rows"}
]


@pytest.mark.parametrize("fault", QUICK_FAULTS, ids=[f.id for f in QUICK_FAULTS])
def test_the_page_open_check_sees_what_is_cheap_to_see(settings_copy, sql_backend, fault: Fault):
    if fault.sqlite_only and sql_backend != "sqlite":
        pytest.skip("a SQLite file fault")
    assert health.check(settings_copy, quick=True).ok
    fault.plant(settings_copy)
    report = health.check(settings_copy, quick=True)
    # Counted, not listed: "13 rows for 15 shots" instead of which shots; the same fix.
    assert any(p.part == fault.part and fault.fix in p.fix for p in report.problems), (
        report.problems
    )


def test_a_big_catalog_is_counted_on_open_and_scanned_by_check(
    settings_copy, sql_backend, monkeypatch
):
    """Past QUICK_CHECK_MAX_BYTES the page-open check counts the shots without listing them
    and leaves SQLite's page-by-page scan to ``check``, saying so; ``check`` still finds a
    damaged page."""
    if sql_backend != "sqlite":
        pytest.skip("SQLite's file scan")
    monkeypatch.setattr(store_health, "QUICK_CHECK_MAX_BYTES", 0)
    report = health.check(settings_copy, quick=True)
    assert report.ok and report.facts["shots"] == report.facts["matrix_rows"] == SHOTS
    assert any("not scanned page by page" in note for note in report.notes)
    damage_sqlite_page(settings_copy)
    status, full = check(settings_copy)
    assert status != 0 and any(p["part"] == "catalog" for p in full["problems"])
