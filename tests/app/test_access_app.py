"""With roles configured: who may annotate, build, create, edit and delete in the app."""

from __future__ import annotations

import pytest

from tests.app.conftest import make_app
from tests.app.grid_driver import decisions, grid, send
from tests.conftest import TESTER, open_services
from va_app.services import reads

#: Cards on the Search page when browsing (its page size; the demo corpus has 48 shots).
SEARCH_PAGE = 20


@pytest.fixture
def roles(app_settings, monkeypatch):
    monkeypatch.setenv("VA_ADMINS", "ada@example.org")
    monkeypatch.setenv("VA_ANNOTATORS", "ann@example.org")
    monkeypatch.setenv("VA_VIEWERS", "*")
    open_services(app_settings).labelling.create_label(TESTER, "night")
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
    assert cards.data["read_only"] and len(cards.shot_ids) == SEARCH_PAGE  # there, read-only
    # An event forged in the viewer's browser writes nothing.
    send(at, cards, "decisions", decisions((cards.shot_ids[0], True)))
    assert not at.exception
    assert "viewers cannot annotate" in grid(at, "grid-search").data["error"]
    assert open_services(roles).uow().labels.history("night") == []
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
    ws = open_services(roles)
    assert [a.annotator for a in ws.uow().labels.current("night")] == ["ann@example.org"]
    assert [(e.kind, e.actor) for e in reads.events(ws, "annotate")] == [
        ("annotate", "ann@example.org")
    ]


def test_an_admin_deletes_a_label(roles):
    at = _signed_in("ada@example.org", "Ada")
    at.run()
    at.checkbox(key="confirm_delete").check().run()
    at.button(key="delete_label").click().run()
    assert not at.exception
    assert open_services(roles).uow().labels.labels() == []


def test_nobody_signed_in_cannot_change_anything(roles):
    at = make_app(annotator="", label="night")
    at.run()
    at.switch_page("pages/search.py").run()
    assert not at.exception
    cards = grid(at, "grid-search")
    assert cards.data["read_only"]
    send(at, cards, "decisions", decisions((cards.shot_ids[0], False)))
    assert open_services(roles).uow().labels.history("night") == []


def test_an_annotator_edits_the_guidelines_and_hints_on_home(roles):
    at = _signed_in("ann@example.org", "Ann")
    at.run()
    at.text_area(key="edit_description:night").input("the sky is dark, lamps are lit")
    at.text_input(key="edit_hints:night").input("night, street lamps")
    at.button(key="FormSubmitter:edit-label:night-Save changes").click().run()
    assert not at.exception
    assert any("Saved the guidelines" in s.value for s in at.success)
    ws = open_services(roles)
    label = reads.label(ws, "night")
    assert (label.description, label.hints) == (
        "the sky is dark, lamps are lit",
        "night, street lamps",
    )
    assert [(e.actor, e.payload["changed"]) for e in reads.events(ws, "label_edited")] == [
        ("ann@example.org", ["description", "hints"])
    ]
    at.switch_page("pages/search.py").run()
    assert at.text_input(key="search_query").placeholder == "night, street lamps"


def test_a_viewer_reads_the_guidelines_but_gets_no_edit_form(roles):
    open_services(roles).labelling.edit_label(TESTER, "night", description="after sunset")
    at = _signed_in("vic@example.org", "Vic")
    at.run()
    assert not at.exception
    assert not [t for t in at.text_area if (t.key or "").startswith("edit_")]
    assert not [b for b in at.button if "Save changes" in (b.key or "")]
    assert any("**Guidelines:** after sunset" in m.value for m in at.markdown)
