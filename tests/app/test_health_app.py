"""The app on a damaged corpus: each problem and its fix on the page, never a traceback, and
nothing changed (a truncated matrix, a damaged SQLite page, a deleted ``chroma/`` folder)."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from tests.app.conftest import make_app
from va_app.services import health
from va_app.ui.shell import PAGES


def _page_text(at) -> str:
    return "\n".join(
        [e.value for e in at.error] + [m.value for m in at.markdown] + [w.value for w in at.warning]
    )


def test_a_truncated_matrix_is_named_with_its_fix_and_left_alone(app_settings):
    path = app_settings.embeddings_path
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    size = path.stat().st_size
    at = make_app()
    at.run()
    assert not at.exception
    text = _page_text(at)
    assert "cannot be opened" in text and "embeddings.h5" in text and "restore" in text
    assert not at.metric  # the pages did not run
    assert path.stat().st_size == size  # not set aside, not rebuilt: the user decides
    assert not list(app_settings.data_dir.glob("embeddings.h5.corrupt-*"))


def _damage_shots_table(app_settings) -> None:
    path = app_settings.data_dir / "catalog.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'shots'").fetchone()[0]
    with open(path, "r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\x5a" * page_size)


def test_a_damaged_sqlite_catalog_is_named_with_its_fix(app_settings):
    _damage_shots_table(app_settings)
    at = make_app()
    at.run()
    assert not at.exception
    text = _page_text(at)
    assert "catalog.sqlite" in text and "SQLite" in text and "restore" in text


@pytest.mark.parametrize("script", [script for script, _, _ in PAGES[1:]])
def test_any_page_opened_first_names_the_damage_not_a_traceback(app_settings, script):
    """A deep link (``/search`` on a fresh server) runs that page without Home: the check
    runs in every page's set-up (``va_app.ui.shell.page``)."""
    _damage_shots_table(app_settings)
    at = make_app()
    at.switch_page(script).run()
    assert not at.exception
    text = _page_text(at)
    assert "cannot be opened" in text and "catalog.sqlite" in text and "restore" in text


def test_a_missing_index_folder_warns_and_the_app_rebuilds_it(app_settings):
    shutil.rmtree(app_settings.chroma_path)
    at = make_app()
    at.run()
    assert not at.exception
    assert any("index" in w.value and "missing" in w.value for w in at.warning)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Shots"] == "48"  # the app opened the corpus (and re-indexed it on open)
    assert health.check(app_settings).ok
    at.run()
    assert not at.warning  # healthy now: said once
