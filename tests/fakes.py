"""In-memory fakes of the service layer's unit of work and repositories (cosmicpython's
``FakeUnitOfWork``): the actions of ``va_app.services.labelling`` and ``.modelling`` run
against them in the unit tests, without SQL.

They keep the real stores' promises that the actions rely on: names are matched as the catalog
matches them (case and spacing aside), unknown labels and shots are refused and write nothing,
version numbers count up per label, and everything done inside ``with uow:`` is undone when
the block raises.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from va_app.domain import (
    Annotation,
    Label,
    ModelVersion,
    ShotVerdict,
    TrainingSet,
    current_words,
    shot_verdicts,
)
from va_app.errors import NotFoundError, ValidationError
from va_app.store.catalog import Event
from va_app.store.labels import label_key, normalise_label_name

T0 = datetime(2026, 12, 1, 9, 0)


@dataclass
class FakeData:
    """What the fake stores hold: labels by key, the annotation log, versions, events."""

    shots: set[str]
    labels: dict[str, Label] = field(default_factory=dict)
    annotations: list[Annotation] = field(default_factory=list)
    versions: list[tuple[ModelVersion, dict]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    roles: dict[str, tuple[str | None, tuple[str, ...]]] = field(default_factory=dict)
    decision_ids: set[str] = field(default_factory=set)
    ticks: int = 0

    def now(self) -> datetime:
        self.ticks += 1
        return T0 + timedelta(seconds=self.ticks)


class FakeLabels:
    def __init__(self, data: FakeData) -> None:
        self.data = data

    def create_label(
        self, name: str, *, description: str = "", hints: str = "", created_by: str = ""
    ) -> Label:
        clean = normalise_label_name(name)
        if label_key(clean) in self.data.labels:
            raise ValidationError(f"a label named {clean!r} already exists")
        label = Label(
            len(self.data.labels) + 1,
            clean,
            description.strip(),
            hints.strip(),
            created_by,
            self.data.now(),
        )
        self.data.labels[label_key(clean)] = label
        return label

    def labels(self) -> list[Label]:
        return sorted(self.data.labels.values(), key=lambda label: label.name)

    def get_label(self, name: str) -> Label:
        found = self.data.labels.get(label_key(name))
        if found is None:
            raise NotFoundError(f"no label named {name!r}; create it first (labels create)")
        return found

    def update_label(
        self, name: str, *, description: str | None = None, hints: str | None = None
    ) -> Label:
        label = self.get_label(name)
        label = replace(
            label,
            description=label.description if description is None else description.strip(),
            hints=label.hints if hints is None else hints.strip(),
        )
        self.data.labels[label_key(name)] = label
        return label

    def delete_label(self, name: str) -> None:
        label = self.get_label(name)
        del self.data.labels[label_key(name)]
        self.data.annotations = [a for a in self.data.annotations if a.label != label.name]
        self.data.versions = [v for v in self.data.versions if v[0].label != label.name]

    def add_annotations(
        self,
        annotations: Sequence[Annotation],
        *,
        decision_ids: Sequence[str | None] | None = None,
    ) -> list[Annotation]:
        named = {a.label: self.get_label(a.label).name for a in annotations}
        unknown = {a.shot_id for a in annotations} - self.data.shots
        if unknown:
            raise ValidationError(f"{len(unknown)} unknown shot id(s): nothing saved")
        ids = list(decision_ids) if decision_ids is not None else [None] * len(annotations)
        fresh = [
            a for a, d in zip(annotations, ids, strict=True) if d not in self.data.decision_ids
        ]
        self.data.decision_ids |= {d for d in ids if d is not None}
        stored = [
            replace(
                a,
                label=named[a.label],
                id=len(self.data.annotations) + i + 1,
                created_at=a.created_at or self.data.now(),
            )
            for i, a in enumerate(fresh)
        ]
        self.data.annotations += stored
        return stored

    def history(self, label: str) -> list[Annotation]:
        name = self.get_label(label).name
        return [a for a in self.data.annotations if a.label == name]

    def all_history(self) -> list[Annotation]:
        return list(self.data.annotations)

    def current(self, label: str) -> list[Annotation]:
        return current_words(self.history(label))

    def verdicts(self, label: str) -> list[ShotVerdict]:
        return shot_verdicts(self.history(label))

    def labelled_set(self, label: str) -> TrainingSet:
        shots = self.verdicts(label)
        return TrainingSet(
            positives=sorted(v.shot_id for v in shots if v.value is True),
            negatives=sorted(v.shot_id for v in shots if v.value is False),
            ties=sorted(v.shot_id for v in shots if v.value is None),
            conflicts=[v for v in shots if v.conflict],
            annotators=sorted({a for v in shots for a in v.votes}),
        )

    def verdict_counts(self, label: str) -> tuple[int, int, int]:
        labelled = self.labelled_set(label)
        return len(labelled.positives), len(labelled.negatives), len(labelled.ties)

    def count_annotations(self, label: str | None = None) -> int:
        return len(self.history(label) if label else self.data.annotations)

    def annotator_roles(self) -> dict[str, tuple[str | None, tuple[str, ...]]]:
        return dict(self.data.roles)


class FakeModels:
    def __init__(self, data: FakeData) -> None:
        self.data = data

    def save(
        self, label: str, finish: Callable[[int], Any], *, encoder_id: str
    ) -> tuple[ModelVersion, Any]:
        name = FakeLabels(self.data).get_label(label).name
        number = len(self.versions(name)) + 1
        result = finish(number)
        version = ModelVersion(
            name,
            number,
            self.data.now(),
            result.n_pos,
            result.n_neg,
            result.model_score,
            result.data_score,
            list(result.annotators),
            encoder_id,
            result.fingerprint,
            result.build_ms,
        )
        self.data.versions.append((version, result.classifier.to_dict()))
        return version, result

    def versions(self, label: str) -> list[ModelVersion]:
        name = FakeLabels(self.data).get_label(label).name
        return [v for v, _ in self.data.versions if v.label == name]

    def latest(self, label: str) -> ModelVersion | None:
        versions = self.versions(label)
        return versions[-1] if versions else None

    def parameters(self, label: str, version: int | None = None) -> tuple[ModelVersion, dict]:
        name = FakeLabels(self.data).get_label(label).name
        found = [
            (v, p)
            for v, p in self.data.versions
            if v.label == name and version in (None, v.version)
        ]
        if not found:
            raise NotFoundError(f"label {name!r} has no model: build first")
        return found[-1]

    def parameters_of(self, label: str, versions: Iterable[int]) -> dict[int, tuple]:
        wanted = set(versions)
        return {
            v.version: (v, p)
            for v, p in self.data.versions
            if v.label == label and v.version in wanted
        }


class FakeEvents:
    def __init__(self, data: FakeData) -> None:
        self.data = data

    def add(self, kind: str, *, actor: str, payload: dict) -> None:
        self.data.events.append(
            Event(len(self.data.events) + 1, self.data.now(), kind, actor, dict(payload))
        )

    def all(self, kind: str | None = None) -> list[Event]:
        return [e for e in self.data.events if kind in (None, e.kind)]


class FakeUnitOfWork:
    """One transaction over :class:`FakeData`: undone whole when the ``with`` block raises."""

    def __init__(self, data: FakeData) -> None:
        self.data = data
        self.labels = FakeLabels(data)
        self.models = FakeModels(data)
        self.events = FakeEvents(data)
        self.committed = 0
        self._before: FakeData | None = None

    def __enter__(self) -> FakeUnitOfWork:
        self._before = copy.deepcopy(self.data)
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.committed += 1
        elif self._before is not None:
            self.data.__dict__.update(self._before.__dict__)
        self._before = None
