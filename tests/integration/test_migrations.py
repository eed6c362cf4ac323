"""Schema migrations (Alembic) on SQLite and PostgreSQL: the revisions build exactly the schema
the models describe, a catalog made by the release before migrations upgrades in place with
``db upgrade``, and opening an outdated corpus backs it up, then upgrades it, data intact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from tests.corpusfactory import make_synthetic_corpus
from va_app.errors import ValidationError
from va_app.store import migrate
from va_app.store.backup import MANIFEST, restore
from va_app.store.catalog import Catalog, make_engine
from va_app.store.labels import LabelStore
from va_app.store.opening import open_corpus
from va_app.store.schema import Base

ROOT = Path(__file__).resolve().parents[2]
LABEL = "bright"
pytestmark = pytest.mark.both_backends

# A later release's revision, as a test brings it: a new column filled from existing rows.
NEXT_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "9001_label_guideline_url"
down_revision = "THE_HEAD"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("labels") as batch:
        batch.add_column(sa.Column("guideline_url", sa.Text(), nullable=True))
    op.execute("UPDATE labels SET guideline_url = 'https://wiki.example/' || name_key")


def downgrade():
    with op.batch_alter_table("labels") as batch:
        batch.drop_column("guideline_url")
"""


def _release_before_migrations(settings) -> dict:
    """A corpus exactly as the release before migrations left it: the baseline revision's
    tables (that release made them with ``create_all``) with rows, and no
    ``alembic_version`` table."""
    truth = make_synthetic_corpus(settings, videos=3, shots_per_video=10, dim=16)
    store = LabelStore(Catalog(settings.sql_url))
    store.create_label(LABEL, description="brightly lit", created_by="ana")
    shots = sorted(truth)
    store.annotate_many(LABEL, [(s, truth[s]) for s in shots[:12]], annotator="ana")
    store.annotate(LABEL, shots[0], None, annotator="bo")
    # That release's schema was the baseline's. Downgraded through the catalog's own engine
    # (SQLite foreign keys on): a downgrade must keep every shot and annotation.
    engine = make_engine(settings.sql_url)
    try:
        with engine.begin() as conn:
            command.downgrade(migrate.config(conn), migrate.BASELINE)
    finally:
        engine.dispose()
    with store.catalog.session() as s:
        s.execute(text("DROP TABLE alembic_version"))
    before = _stored(store)
    assert before["shots"] and before["history"]  # the downgrade kept the rows
    store.catalog.close()
    return before


def _stored(store: LabelStore) -> dict:
    return {
        "shots": store.catalog.shot_ids(),
        "labels": store.labels(),
        "history": store.all_history(),
        "set": store.labelled_set(LABEL),
        "encoder": store.catalog.get_meta("encoder_id"),
    }


def _revision(settings) -> str | None:
    engine = make_engine(settings.sql_url)
    try:
        return migrate.state_of(engine).current
    finally:
        engine.dispose()


def test_the_revisions_build_the_schema_the_models_describe(settings):
    """A new catalog is made from the models and stamped; running every revision from an
    empty database must give the same tables, columns, indexes and constraints."""
    engine = make_engine(settings.sql_url)
    try:
        with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):  # the test's fresh database
                conn.execute(text(f"DROP TABLE IF EXISTS {table.name}"))
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        with engine.begin() as conn:
            command.upgrade(migrate.config(conn), "head")
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            assert MigrationContext.configure(conn).get_current_revision() == migrate.head()
    finally:
        engine.dispose()


def test_a_catalog_made_before_migrations_upgrades_in_place_with_db_upgrade(settings):
    before = _release_before_migrations(settings)
    assert _revision(settings) is None
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "VA_DATA_DIR": str(settings.data_dir),
        "VA_DATABASE_URL": settings.database_url,
        "VA_ENCODER": "descriptor",
    }
    done = subprocess.run(
        [sys.executable, "-m", "va_app", "db", "upgrade", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["before"] is None and report["after"] == migrate.head()
    assert report["applied"] == ["0002_video_cut_lists", "0003_decision_ids"]
    assert _revision(settings) == migrate.head()
    catalog = Catalog(settings.sql_url)
    store = LabelStore(catalog)
    assert _stored(store) == before
    # The upgraded catalog keeps a decision sent twice once (0003's unique decision ids).
    shot = before["shots"][0]
    for _ in range(2):
        store.annotate_many(LABEL, [(shot, True)], annotator="ana", decision_ids=["d-1"])
    assert len(store.all_history()) == len(before["history"]) + 1
    catalog.close()


@pytest.fixture
def next_release(tmp_path):
    """Call it to install a release whose code brings one more revision."""
    folder = tmp_path / "revisions"
    folder.mkdir()
    revision = NEXT_REVISION.replace("THE_HEAD", migrate.head())  # it follows today's head
    (folder / "9001_label_guideline_url.py").write_text(revision, encoding="utf-8")

    def install() -> str:
        migrate.use_extra_revisions(str(folder))
        return "9001_label_guideline_url"

    yield install
    migrate.use_extra_revisions()


def test_opening_an_outdated_corpus_backs_it_up_then_upgrades_it(settings, next_release):
    before = _release_before_migrations(settings)
    next_release = next_release()
    with pytest.raises(migrate.SchemaOutdatedError, match="va_app db upgrade"):
        Catalog(settings.sql_url)  # the stores alone never change a schema
    corpus = open_corpus(settings)  # what the app and every command do on start
    try:
        assert _stored(LabelStore(corpus.catalog)) == before
        with corpus.catalog.read() as s:
            urls = s.execute(text("SELECT guideline_url FROM labels")).scalars().all()
        assert urls == ["https://wiki.example/bright"]
    finally:
        corpus.close()
    assert _revision(settings) == next_release
    backups = list((settings.data_dir / "backups").iterdir())
    assert len(backups) == 1 and (backups[0] / MANIFEST).is_file()
    manifest = json.loads((backups[0] / MANIFEST).read_text())
    assert manifest["counts"]["annotations"] == 13
    # Migrations change only the catalog: the backup names the matrix instead of copying it.
    assert not (backups[0] / "embeddings.h5").exists()
    assert manifest["matrix"]["included"] is False
    assert manifest["matrix"]["rows"] == len(before["shots"])
    assert open_corpus(settings).catalog.get_meta("encoder_id")  # current now: no new backup
    assert len(list((settings.data_dir / "backups").iterdir())) == 1


def test_a_pre_upgrade_backup_takes_a_corpus_back_and_keeps_the_matrix(settings, next_release):
    """The way back from a release: its upgrade's catalog-only backup, restored by the release
    before it over the upgraded corpus, gives that release's catalog with the data intact and
    the matrix left in place; one whose matrix is gone fails with nothing changed and says
    which file it needs."""
    before = _release_before_migrations(settings)
    next_release()
    open_corpus(settings).close()  # the new release opens it: backup + upgrade
    (saved,) = (settings.data_dir / "backups").iterdir()
    matrix = settings.embeddings_path
    untouched = (matrix.stat().st_ino, matrix.stat().st_mtime_ns)

    migrate.use_extra_revisions()  # back to this release
    restore(settings, saved, force=True)
    assert _revision(settings) == migrate.head()  # its own schema, not the next release's
    assert (matrix.stat().st_ino, matrix.stat().st_mtime_ns) == untouched
    corpus = open_corpus(settings)
    try:
        assert _stored(LabelStore(corpus.catalog)) == before
        assert corpus.consistency().ok
    finally:
        corpus.close()

    matrix.rename(matrix.with_name("elsewhere.h5"))
    with pytest.raises(ValidationError, match="holds the catalog and models only") as err:
        restore(settings, saved, force=True)
    assert str(matrix) in str(err.value)
    assert _revision(settings) == migrate.head()  # nothing was touched


def test_the_health_check_on_open_leaves_an_outdated_corpus_to_the_upgrade(settings):
    """Every page runs the quick check before opening the corpus; on a catalog of an older
    schema it must not compare the stores (the old catalog is not read) and so must not
    refuse the page — the opening that follows upgrades it."""
    from va_app.services import health

    before = _release_before_migrations(settings)
    report = health.check(settings, quick=True)
    assert report.ok, report.problems
    assert any("older than" in note for note in report.notes)
    corpus = open_corpus(settings)  # what the page does next: backup, upgrade, open
    try:
        assert _stored(LabelStore(corpus.catalog)) == before
    finally:
        corpus.close()
    assert health.check(settings, quick=True).ok
