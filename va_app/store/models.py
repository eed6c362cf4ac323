"""Model versions in the SQL catalog: every build of a label, numbered 1, 2, 3, ...

The repository of :class:`~va_app.domain.ModelVersion` values and their classifiers'
parameters (plain dicts: ``va_app.learn`` turns them back into classifiers; the store knows
nothing of learning). A version's number is assigned here, once, in the transaction that
stores it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from sqlalchemy import func, select

from va_app.domain import ModelVersion
from va_app.errors import NotFoundError
from va_app.store.catalog import Catalog
from va_app.store.labels import LabelStore
from va_app.store.schema import ModelVersionRow


class StoredParameters(Protocol):
    """A classifier as the store keeps it: its parameters as a JSON-able dict."""

    def to_dict(self) -> dict[str, Any]: ...


class TrainedBuild(Protocol):
    """What a build hands over to be stored (``va_app.learn.engine.BuildResult``)."""

    @property
    def classifier(self) -> StoredParameters: ...
    @property
    def n_pos(self) -> int: ...
    @property
    def n_neg(self) -> int: ...
    @property
    def model_score(self) -> float: ...
    @property
    def data_score(self) -> float: ...
    @property
    def annotators(self) -> list[str]: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def build_ms(self) -> float: ...
    @property
    def timings_ms(self) -> dict[str, float]: ...
    @property
    def calibration(self) -> dict: ...


Built = TypeVar("Built", bound=TrainedBuild)


class ModelRegistry:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def save(
        self, label: str, finish: Callable[[int], Built], *, encoder_id: str
    ) -> tuple[ModelVersion, Built]:
        """Store a build as the label's next version (numbers start at 1).

        The number is assigned here and nowhere else: read, handed to ``finish(number)`` (which
        completes the build with whatever depends on it, e.g. the random feed's seed) and
        written, in one transaction with the label's row locked, so two concurrent builds get
        two numbers and each keeps its own seed. ``finish`` should be quick (it holds the lock).
        """
        with self.catalog.session() as s:
            label_row = LabelStore.label_row(s, label, for_update=True)
            last = (
                s.scalar(
                    select(func.max(ModelVersionRow.version)).where(
                        ModelVersionRow.label_id == label_row.id
                    )
                )
                or 0
            )
            result = finish(last + 1)
            row = ModelVersionRow(
                label_id=label_row.id,
                version=last + 1,
                n_pos=result.n_pos,
                n_neg=result.n_neg,
                model_score=result.model_score,
                data_score=result.data_score,
                annotators=list(result.annotators),
                encoder_id=encoder_id,
                params=result.classifier.to_dict(),
                details={
                    "fingerprint": result.fingerprint,
                    "build_ms": result.build_ms,
                    "timings_ms": result.timings_ms,
                    "calibration": result.calibration,
                },
            )
            s.add(row)
            s.flush()
            return _to_version(label_row.name, row), result

    def versions(self, label: str) -> list[ModelVersion]:
        with self.catalog.read() as s:
            label_row = LabelStore.label_row(s, label)
            rows = s.scalars(
                select(ModelVersionRow)
                .where(ModelVersionRow.label_id == label_row.id)
                .order_by(ModelVersionRow.version)
            )
            return [_to_version(label_row.name, r) for r in rows]

    def latest(self, label: str) -> ModelVersion | None:
        versions = self.versions(label)
        return versions[-1] if versions else None

    def parameters(
        self, label: str, version: int | None = None
    ) -> tuple[ModelVersion, dict[str, Any]]:
        """A version (default the latest) and its classifier's stored parameters."""
        with self.catalog.read() as s:
            label_row = LabelStore.label_row(s, label)
            q = select(ModelVersionRow).where(ModelVersionRow.label_id == label_row.id)
            q = (
                q.where(ModelVersionRow.version == version)
                if version
                else q.order_by(ModelVersionRow.version.desc())
            )
            row = s.scalars(q).first()
            if row is None:
                which = f"version {version}" if version else "any version"
                raise NotFoundError(f"label {label_row.name!r} has no model ({which}): build first")
            return _to_version(label_row.name, row), dict(row.params)

    def parameters_of(
        self, label: str, versions: Iterable[int]
    ) -> dict[int, tuple[ModelVersion, dict[str, Any]]]:
        """Several versions' parameters in one query: ``{version: (meta, params)}`` (versions
        the label does not have are left out)."""
        wanted = sorted(set(versions))
        if not wanted:
            return {}
        with self.catalog.read() as s:
            label_row = LabelStore.label_row(s, label)
            rows = s.scalars(
                select(ModelVersionRow).where(
                    ModelVersionRow.label_id == label_row.id, ModelVersionRow.version.in_(wanted)
                )
            )
            return {r.version: (_to_version(label_row.name, r), dict(r.params)) for r in rows}


def _to_version(label: str, row: ModelVersionRow) -> ModelVersion:
    details = row.details or {}
    return ModelVersion(
        label,
        row.version,
        row.created_at,
        row.n_pos,
        row.n_neg,
        row.model_score,
        row.data_score,
        list(row.annotators or []),
        row.encoder_id,
        details.get("fingerprint", ""),
        float(details.get("build_ms", 0.0)),
        details.get("calibration") or {},
    )
