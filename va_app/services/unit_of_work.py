"""The unit of work: one transaction for a user action's rows and its event (cosmicpython).

An action opens ``with uow:`` and works through its repositories — ``uow.labels`` (labels and
the append-only annotation log), ``uow.models`` (model versions) and ``uow.events`` (the
activity log). Everything written inside the block commits together when it ends, or nothing
does: an exception rolls it all back. Outside a ``with`` block each repository call is its
own short transaction (what the reads use).

:class:`SqlUnitOfWork` is the catalog's (SQLite or PostgreSQL); the unit tests' in-memory
fake (``tests/fakes.py``) implements the same :class:`UnitOfWork` protocol, so the actions of
``va_app.services.labelling`` and ``.modelling`` are tested without a database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, Self

from va_app.domain import Annotation, Label, ModelVersion, ShotVerdict, TrainingSet
from va_app.store.catalog import Catalog, Event
from va_app.store.labels import LabelStore
from va_app.store.models import ModelRegistry


class LabelRepository(Protocol):
    """Labels and their annotation log (``va_app.store.labels.LabelStore``)."""

    def create_label(
        self, name: str, *, description: str = "", hints: str = "", created_by: str = ""
    ) -> Label: ...
    def labels(self) -> list[Label]: ...
    def get_label(self, name: str) -> Label: ...
    def update_label(
        self, name: str, *, description: str | None = None, hints: str | None = None
    ) -> Label: ...
    def delete_label(self, name: str) -> None: ...
    def add_annotations(
        self,
        annotations: Sequence[Annotation],
        *,
        decision_ids: Sequence[str | None] | None = None,
    ) -> list[Annotation]: ...
    def history(self, label: str) -> list[Annotation]: ...
    def all_history(self) -> list[Annotation]: ...
    def current(self, label: str) -> list[Annotation]: ...
    def verdicts(self, label: str) -> list[ShotVerdict]: ...
    def labelled_set(self, label: str) -> TrainingSet: ...
    def verdict_counts(self, label: str) -> tuple[int, int, int]: ...
    def count_annotations(self, label: str | None = None) -> int: ...
    def annotator_roles(self) -> dict[str, tuple[str | None, tuple[str, ...]]]: ...


class ModelRepository(Protocol):
    """Model versions and their classifiers' parameters (``va_app.store.models``)."""

    def save(
        self, label: str, finish: Callable[[int], Any], *, encoder_id: str
    ) -> tuple[ModelVersion, Any]: ...
    def versions(self, label: str) -> list[ModelVersion]: ...
    def latest(self, label: str) -> ModelVersion | None: ...
    def parameters(
        self, label: str, version: int | None = None
    ) -> tuple[ModelVersion, dict[str, Any]]: ...
    def parameters_of(
        self, label: str, versions: Iterable[int]
    ) -> dict[int, tuple[ModelVersion, dict[str, Any]]]: ...


class EventRepository(Protocol):
    """The activity log: every action leaves one line."""

    def add(self, kind: str, *, actor: str, payload: dict) -> None: ...
    def all(self, kind: str | None = None) -> list[Event]: ...


class UnitOfWork(Protocol):
    @property
    def labels(self) -> LabelRepository: ...
    @property
    def models(self) -> ModelRepository: ...
    @property
    def events(self) -> EventRepository: ...

    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...


class EventLog:
    """The catalog's activity log as a repository."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def add(self, kind: str, *, actor: str, payload: dict) -> None:
        self._catalog.log_event(kind, actor=actor, payload=payload)

    def all(self, kind: str | None = None) -> list[Event]:
        """The log, oldest first (only ``kind`` lines when given)."""
        return self._catalog.events(kind)


class SqlUnitOfWork:
    """One catalog transaction for everything the repositories do inside ``with``."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self.labels = LabelStore(catalog)
        self.models = ModelRegistry(catalog)
        self.events = EventLog(catalog)
        self._unit: AbstractContextManager | None = None

    def __enter__(self) -> Self:
        self._unit = self._catalog.unit_of_work()
        self._unit.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        unit, self._unit = self._unit, None
        if unit is not None:
            unit.__exit__(*exc)
