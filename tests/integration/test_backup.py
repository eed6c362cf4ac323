"""Backup and restore: a backup taken while another process annotates restores to a sound
store holding everything acknowledged before it started; refusals leave data untouched.

Every test runs on a SQLite catalog and on a PostgreSQL one (pg_dump / pg_restore, driven by
the same ``backup`` / ``restore``)."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import update

from va_app.config import Settings
from va_app.errors import StoreError, ValidationError
from va_app.store.backup import (
    CATALOG_FILE,
    EMBEDDINGS_FILE,
    MANIFEST,
    PG_DUMP_FILE,
    backup,
    integrity_check,
    restore,
)
from va_app.store.catalog import Catalog
from va_app.store.corpus import Corpus, ingest_lock
from va_app.store.labels import LabelStore
from va_app.store.schema import ShotRow

ROOT = Path(__file__).resolve().parents[2]
LABEL = "bright"
WRITER = "writer"
# The spawned writer imports this module: heavy imports (services, the corpus factory) stay
# inside the tests so the writer starts in about a second.
# Liveness bound for the helper process (not a timing assertion).
WAIT_S = 120
pytestmark = pytest.mark.both_backends


def planned_click(i: int, shot_ids: list[str]) -> tuple[str, bool]:
    """The writer's i-th click: cycles through the shots, flipping values as it goes."""
    return shot_ids[i % len(shot_ids)], (i // len(shot_ids) + i) % 3 != 0


def annotate_until_stopped(sql_url: str, shot_ids: list[str], acked, stop) -> None:
    """Another annotator (own process): click after click through the app's store API,
    counting each click only once the store has acknowledged it."""
    catalog = Catalog(sql_url)
    store = LabelStore(catalog)
    i = 0
    while not stop.is_set():
        shot, value = planned_click(i, shot_ids)
        store.annotate(LABEL, shot, value, annotator=WRITER, source="search")
        i += 1
        acked.value = i
    catalog.close()


@pytest.fixture(scope="module")
def source(tmp_path_factory, sql_backend, request) -> Settings:
    """A corpus with a label, annotations by two people, a built model and a thumbnail."""
    from tests.conftest import TESTER, open_services
    from tests.corpusfactory import make_synthetic_corpus

    url = (
        request.getfixturevalue("postgres").new_catalog_url() if sql_backend == "postgresql" else ""
    )
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("src") / "data", encoder="descriptor", database_url=url
    )
    truth = make_synthetic_corpus(settings, videos=4, shots_per_video=20, dim=16)
    ws = open_services(settings)
    ws.labelling.create_label(TESTER, LABEL, description="brightly lit", created_by="alice")
    positives = [s for s, v in truth.items() if v][:12]
    negatives = [s for s, v in truth.items() if not v][:12]
    ws.uow().labels.annotate_many(
        LABEL,
        [(s, True) for s in positives] + [(s, False) for s in negatives],
        annotator="alice",
        source="search",
    )
    ws.uow().labels.annotate(LABEL, negatives[0], None, annotator="alice")  # a clear
    ws.modelling.build(TESTER, LABEL)
    thumb = settings.thumbs_dir / "movie00" / "0.jpg"
    thumb.parent.mkdir(parents=True)
    thumb.write_bytes(b"\xff\xd8 not really a jpeg")
    with ws.corpus.catalog.session() as s:
        s.execute(update(ShotRow).where(ShotRow.id == "movie00|0").values(thumb_path=str(thumb)))
    ws.close()
    return settings


@pytest.fixture
def target(tmp_path, database_url) -> Settings:
    """Where a test restores to: an empty folder and an empty catalog of the same kind."""
    return Settings(data_dir=tmp_path / "restored", encoder="descriptor", database_url=database_url)


def _catalog_file(settings: Settings) -> str:
    return PG_DUMP_FILE if settings.database_url else CATALOG_FILE


def _counts(settings: Settings) -> dict:
    from va_app.services.reads import corpus_info

    info = corpus_info(settings)
    return {
        k: info[k]
        for k in ("videos", "shots", "embeddings", "index", "labels", "annotations", "encoder")
    }


def _wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.02)


def test_backup_during_concurrent_annotation_restores_everything_acknowledged(
    tmp_path, source, target
):
    shot_ids = Catalog(source.sql_url).shot_ids()
    ctx = multiprocessing.get_context("spawn")
    acked, stop = ctx.Value("i", 0), ctx.Event()
    writer = ctx.Process(
        target=annotate_until_stopped, args=(source.sql_url, shot_ids, acked, stop), daemon=True
    )
    writer.start()
    try:
        _wait_for(lambda: acked.value >= 30 or not writer.is_alive(), "the writer's first clicks")
        assert writer.is_alive()
        acked_before = acked.value
        report = backup(source, tmp_path / "backup")
        # The writer was never blocked: it keeps being acknowledged after the backup.
        acked_after = acked.value
        _wait_for(
            lambda: acked.value >= acked_after + 20 or not writer.is_alive(),
            "more clicks after the backup",
        )
        assert writer.is_alive()
    finally:
        stop.set()
        writer.join(WAIT_S)
    assert writer.exitcode == 0

    restored = restore(target, tmp_path / "backup")
    if not target.database_url:
        integrity_check(target.data_dir / "catalog.sqlite")
    corpus = Corpus(target)
    assert corpus.consistency().ok
    corpus.close()
    history = LabelStore(Catalog(target.sql_url)).history(LABEL)
    clicks = [(a.shot_id, a.value) for a in history if a.annotator == WRITER]
    assert len(clicks) >= acked_before
    assert clicks == [planned_click(i, shot_ids) for i in range(len(clicks))]
    assert sum(a.annotator == "alice" for a in history) == 25
    assert restored.counts["annotations"] == report.counts["annotations"] == len(history)


def test_round_trip_keeps_every_count_model_and_thumbnail(tmp_path, source, target):
    report = backup(source, tmp_path / "backup")
    manifest = json.loads((tmp_path / "backup" / MANIFEST).read_text())
    assert manifest["encoder_id"] == "synthetic:v1" == report.encoder_id
    assert set(manifest["files"]) == {_catalog_file(source), EMBEDDINGS_FILE}
    assert report.thumbs == 1
    assert not list(tmp_path.glob(".backup.partial"))

    result = restore(target, tmp_path / "backup")
    from tests.conftest import open_services

    assert _counts(target) == _counts(source) | {"index": _counts(source)["shots"]}
    assert result.indexed == _counts(source)["shots"] and result.cleaned_up == []
    ws = open_services(target)
    try:
        assert ws.uow().labels.get_label(LABEL).description == "brightly lit"
        assert [v.version for v in ws.uow().models.versions(LABEL)] == [1]
        original = LabelStore(Catalog(source.sql_url))
        assert ws.uow().labels.labelled_set(LABEL) == original.labelled_set(LABEL)
        thumb = ws.corpus.shots(["movie00|0"])[0].thumb_path
        assert thumb.startswith(str(target.data_dir)) and open(thumb, "rb").read(2) == b"\xff\xd8"
        assert ws.corpus.index.query(ws.view.matrix.X[0], 1)[0].id == ws.view.matrix.ids[0]
    finally:
        ws.close()


def test_restore_refuses_a_non_empty_data_dir_and_replaces_it_only_with_force(
    tmp_path, source, target
):
    backup(source, tmp_path / "backup")
    from tests.corpusfactory import make_synthetic_corpus

    make_synthetic_corpus(target, videos=1, shots_per_video=5, dim=16, seed=3)
    before = _counts(target)
    with pytest.raises(ValidationError, match="is not empty; restore into an empty folder"):
        restore(target, tmp_path / "backup")
    assert _counts(target) == before

    restore(target, tmp_path / "backup", force=True)
    assert _counts(target) == _counts(source) | {"index": _counts(source)["shots"]}


def test_a_damaged_backup_is_refused_before_anything_is_written(tmp_path, source, target):
    backup(source, tmp_path / "backup")
    h5 = tmp_path / "backup" / EMBEDDINGS_FILE
    data = bytearray(h5.read_bytes())
    data[-1] ^= 0xFF
    h5.write_bytes(bytes(data))
    with pytest.raises(ValidationError, match="embeddings.h5 does not match its checksum"):
        restore(target, tmp_path / "backup")
    assert not target.data_dir.exists() or not any(target.data_dir.iterdir())
    with pytest.raises(ValidationError, match="is not a backup"):
        restore(target, tmp_path)


def test_backup_refuses_a_non_empty_destination(tmp_path, source):
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "keep.txt").write_text("mine")
    with pytest.raises(ValidationError, match="backup destination .* is not empty"):
        backup(source, tmp_path / "dest")
    assert (tmp_path / "dest" / "keep.txt").read_text() == "mine"


def test_backup_does_not_run_into_an_ingest(tmp_path, source):
    with ingest_lock(source):
        with pytest.raises(StoreError, match="an ingest is running"):
            backup(source, tmp_path / "backup", wait=False)
    assert not (tmp_path / "backup").exists()


def test_a_backup_restores_only_onto_the_kind_of_database_it_came_from(tmp_path, source):
    backup(source, tmp_path / "backup")
    other = Settings(
        data_dir=tmp_path / "other",
        encoder="descriptor",
        database_url="" if source.database_url else "postgresql+psycopg://va@db/va",
    )
    kind = "postgresql" if source.database_url else "sqlite"
    with pytest.raises(ValidationError, match=f"this backup holds a {kind} catalog"):
        restore(other, tmp_path / "backup")
    assert not other.data_dir.exists()


def test_the_backup_catalog_is_one_standalone_file(tmp_path, source):
    backup(source, tmp_path / "backup")
    files = sorted(p.name for p in (tmp_path / "backup").iterdir())
    assert files == sorted([_catalog_file(source), EMBEDDINGS_FILE, MANIFEST, "thumbs"])
    if source.database_url:  # pg_dump's custom format, which pg_restore reads
        assert (tmp_path / "backup" / PG_DUMP_FILE).read_bytes()[:5] == b"PGDMP"
        return
    with sqlite3.connect(tmp_path / "backup" / CATALOG_FILE) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_the_backup_and_restore_commands_drive_either_catalog(tmp_path, source, target):
    def run(settings: Settings, *args: str) -> str:
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "VA_ENCODER": "descriptor",
            "VA_DATA_DIR": str(settings.data_dir),
            "VA_DATABASE_URL": settings.database_url,
        }
        done = subprocess.run(
            [sys.executable, "-m", "va_app", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "annotations" in run(source, "backup", str(tmp_path / "cli-backup"))
    assert "restored into" in run(target, "restore", str(tmp_path / "cli-backup"))
    assert _counts(target) == _counts(source) | {"index": _counts(source)["shots"]}
