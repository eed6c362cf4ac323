"""Drive the keyboard card grid from AppTest: what its JavaScript would send, sent from Python.

AppTest runs no JavaScript, so a test reads the data the grid component was given (its
cards, counts, confirmations) and sends the component's trigger events — the same payloads
``va_app/ui/grid/grid.js`` sends — with the next run.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass

from streamlit.components.v2.bidi_component.main import _make_trigger_id
from streamlit.proto.WidgetStates_pb2 import WidgetState

_SEQ = itertools.count(1)


@dataclass
class Grid:
    element_id: str
    data: dict

    @property
    def shot_ids(self) -> list[str]:
        return [c["id"] for c in self.data["cards"]]

    def card(self, shot_id: str) -> dict:
        return next(c for c in self.data["cards"] if c["id"] == shot_id)


def grids(at) -> list[Grid]:
    found = []
    for element in at.get("bidi_component"):
        proto = element.proto
        raw = proto.mixed.json if proto.WhichOneof("data") == "mixed" else proto.json
        found.append(Grid(proto.id, json.loads(raw)))
    return found


def grid(at, key: str) -> Grid:
    return next(g for g in grids(at) if g.data["key"] == key)


def decisions(
    *items: tuple[str, bool | None], before: bool | None = None, bulk: bool = False
) -> dict:
    """A decisions event as the grid sends it: one group when ``bulk``."""
    group = next(_SEQ)
    out = []
    for shot_id, value in items:
        seq = next(_SEQ)
        out.append(
            {
                "seq": seq,
                "id": uuid.uuid4().hex,  # grid.js gives every decision its own id
                "shot_id": shot_id,
                "value": value,
                "before": before,
                "group": group if bulk else seq,
                "undo_of": None,
            }
        )
    return {"items": out}


def send(at, grid_: Grid, event: str, value) -> None:
    """Run the app with one trigger event of the grid (what ``setTriggerValue`` does)."""
    states = at._tree.get_widget_states()
    states.widgets.append(
        WidgetState(
            id=_make_trigger_id(grid_.element_id, "events"),
            json_trigger_value=json.dumps([{"event": event, "value": value}]),
        )
    )
    at._run(states)
