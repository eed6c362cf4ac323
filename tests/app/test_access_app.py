"""With roles configured: who may annotate, build, create and delete in the app."""

from __future__ import annotations

import pytest

from tests.app.conftest import make_app
from tests.app.grid_driver import decisions, grid, send
from va_app.services.workspace import Workspace


@pytest.fixture
def roles(app_settings, monkeypatch):
    monkeypatch.setenv("VA_ADMINS", "ada@example.org")
    monkeypatch.setenv("VA_ANNOTATORS", "ann@example.org")
    monkeypatch.setenv("VA_VIEWERS", "*")
    Workspace(app_settings).create_label("night")
    return app_settings


def _signed_in(email: str, name: str):
    at = make_app(annotator="", label="night")
    at.user = {"is_logged_in": True, "email": email, "name": name}
    return at


def test_a_viewer_sees_cards_but_cannot_annotate_build_or_create(roles):
    at = _signed_in("vic@example.org", "Vic")
    at.run()
    assert not at.exception
    assert any("cannot create labels" in i.value for i in at.info)
    at.switch_page("pages/search.py").run()
    assert not at.exception
    cards = grid(at, "grid-search")
    assert cards.data["read_only"] and cards.shot_ids  # the cards are there, read-only
    # An event forged in the viewer's browser writes nothing.
    send(at, cards, "decisions", decisions((cards.shot_ids[0], True)))
    assert not at.exception
    assert "viewers cannot annotate" in grid(at, "grid-search").data["error"]
    assert Workspace(roles).labels.history("night") == []
    at.switch_page("pages/learn.py").run()
    assert at.button(key="build").disabled


def test_an_annotator_annotates_under_their_identity_but_cannot_delete_labels(roles):
    at = _signed_in("ann@example.org", "Ann")
    at.run()
    assert at.button(key="delete_label").disabled
    at.switch_page("pages/search.py").run()
    cards = grid(at, "grid-search")
    send(at, cards, "decisions", decisions((cards.shot_ids[0], True)))
    assert not at.exception
    current = Workspace(roles).labels.current("night")
    assert [a.annotator for a in current] == ["ann@example.org"]


def test_an_admin_deletes_a_label(roles):
    at = _signed_in("ada@example.org", "Ada")
    at.run()
    at.checkbox(key="confirm_delete").check().run()
    at.button(key="delete_label").click().run()
    assert not at.exception
    assert Workspace(roles).labels.labels() == []


def test_nobody_signed_in_cannot_change_anything(roles):
    at = make_app(annotator="", label="night")
    at.run()
    at.switch_page("pages/search.py").run()
    assert not at.exception
    cards = grid(at, "grid-search")
    assert cards.data["read_only"]
    send(at, cards, "decisions", decisions((cards.shot_ids[0], False)))
    assert Workspace(roles).labels.history("night") == []
