"""The Timeline page through AppTest: every title drawn with its shots, a picked shot opens the
cards to label it (its decisions land in the log as "timeline"), and the edit downloads."""

from __future__ import annotations

import base64

import numpy as np
import plotly.io

from tests.app.conftest import make_app
from tests.app.grid_driver import decisions, grid, send
from tests.conftest import TESTER, open_services
from va_app.services import reads
from va_app.store.catalog import Catalog

LABEL = "night"


def _labelled_and_built(settings) -> list[str]:
    """10 positives and 10 negatives of the demo's ground truth, and version 1 built."""
    ws = open_services(settings)
    try:
        ws.labelling.create_label(TESTER, LABEL)
        truth = Catalog(settings.sql_url).ground_truth(LABEL)
        pos = [s for s, v in sorted(truth.items()) if v][:10]
        neg = [s for s, v in sorted(truth.items()) if not v][:10]
        ws.uow().labels.annotate_many(
            LABEL, [(s, True) for s in pos] + [(s, False) for s in neg], annotator="bo"
        )
        ws.modelling.build(TESTER, LABEL)
        return pos
    finally:
        ws.close()


def _open(at):
    at.run()
    at.switch_page("pages/timeline.py").run()
    assert not at.exception
    return at


def _figure(at):
    """The figure the page sent to the browser (Plotly decodes its typed arrays)."""
    (chart,) = at.get("plotly_chart")
    return plotly.io.from_json(chart.proto.spec)


def _array(value) -> np.ndarray:
    """A Plotly figure array as JSON carries it: a list, or a typed array (base64)."""
    if isinstance(value, dict) and "bdata" in value:
        shape = [int(n) for n in str(value.get("shape", "-1")).split(",")]
        raw = base64.b64decode(value["bdata"])
        return np.frombuffer(raw, dtype=np.dtype(value["dtype"])).reshape(shape)
    return np.asarray(value, dtype=float)


def test_every_title_is_a_strip_of_its_shots_with_the_labels_marked(app_settings):
    positives = _labelled_and_built(app_settings)
    at = _open(make_app(label=LABEL))
    ws = open_services(app_settings)
    shots = ws.corpus.shots()
    titles = {s.title for s in shots}
    at.selectbox(key="tl_per_page").set_value(32).run()
    figure = _figure(at)
    clickable = [t for t in figure.data if t.name == "shots"]
    assert len(clickable) == len(titles)
    assert sorted(i for t in clickable for i in t.customdata) == sorted(s.id for s in shots)
    marked = [i for t in figure.data if t.name == "positive" for i in t.customdata]
    assert sorted(marked) == sorted(positives)
    heat = [_array(t.z) for t in figure.data if t.type == "heatmap"]
    assert len(heat) == len(titles) and all(np.nanmin(z) >= 0 and np.nanmax(z) <= 1 for z in heat)
    (table,) = at.dataframe
    assert int(table.value.labelled.sum()) == 20 and len(table.value) == len(titles)


def test_a_picked_shot_opens_its_cards_and_their_keys_label_it(app_settings):
    _labelled_and_built(app_settings)
    at = make_app(label=LABEL)
    _open(at)
    ws = open_services(app_settings)
    first = ws.corpus.shots()[0]
    at.session_state["tl_selected"] = first.id  # what a click on the strip selects
    at.run()
    assert not at.exception
    cards = grid(at, "grid-timeline")
    assert cards.shot_ids[0] == first.id and len(cards.shot_ids) == 8
    assert {s.video_key for s in ws.corpus.shots(cards.shot_ids)} == {first.video_key}
    send(at, cards, "decisions", decisions((cards.shot_ids[1], True)))
    assert not at.exception
    (mine,) = [a for a in ws.uow().labels.history(LABEL) if a.annotator == "ana"]
    assert (mine.shot_id, mine.value, mine.source) == (cards.shot_ids[1], True, "timeline")
    title = [s.id for s in ws.corpus.shots() if s.video_key == first.video_key]
    at.button(key="tl_on").click().run()  # Page Down: the title's next eight shots
    assert grid(at, "grid-timeline").shot_ids == title[8:16]
    at.button(key="tl_back").click().run()
    assert grid(at, "grid-timeline").shot_ids == title[:8]


def test_the_edit_is_prepared_then_downloads_as_an_edl_of_the_positives(app_settings):
    _labelled_and_built(app_settings)
    at = _open(make_app(label=LABEL))
    at.button(key="tl_x_prepare").click().run()
    assert not at.exception
    (button,) = at.get("download_button")
    assert button.proto.label.startswith("Download night-selects.edl (10 shots of ")
    assert button.proto.url  # served by Streamlit; the browser test reads the file back
    (event,) = reads.events(open_services(app_settings), "edit_exported")
    assert event.payload == {
        "label": LABEL,
        "version": 1,
        "format": "edl",
        "shots": 10,
        "markers": False,
        "choice": "positives",
    }
    assert event.actor == "ana"
