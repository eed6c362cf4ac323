"""Model versions in the SQL catalog: every build of a label, numbered 1, 2, 3, ...

The repository of :class:`~va_app.learn.versions.ModelVersion` values and their classifiers
(``learn/`` holds the values and the portable file format, no SQL). A version's number is
assigned here, once, in the transaction that stores it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol, TypeVar

from sqlalchemy import func, select

from va_app.errors import NotFoundError
from va_app.learn.classifier import ShotClassifier
from va_app.learn.versions import ModelVersion, PortableModel
from va_app.store.catalog import Catalog
from va_app.store.labels import LabelStore
from va_app.store.schema import ModelVersionRow


class TrainedBuild(Protocol):
    """What a build hands over to be stored (``va_app.learn.engine.BuildResult``)."""

    classifier: ShotClassifier
    n_pos: int
    n_neg: int
    model_score: float
    data_score: float
    annotators: list[str]
    fingerprint: str
    build_ms: float
    timings_ms: dict[str, float]
    calibration: dict


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

    def classifier(
        self, label: str, version: int | None = None
    ) -> tuple[ModelVersion, ShotClassifier]:
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
            return _to_version(label_row.name, row), ShotClassifier.from_dict(row.params)

    def classifiers(
        self, label: str, versions: Iterable[int]
    ) -> dict[int, tuple[ModelVersion, ShotClassifier]]:
        """Several versions' classifiers in one query: ``{version: (meta, classifier)}``
        (versions the label does not have are left out)."""
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
            return {
                r.version: (_to_version(label_row.name, r), ShotClassifier.from_dict(r.params))
                for r in rows
            }

    def export(self, label: str, out: str | Path, *, version: int | None = None) -> Path:
        """Write a version (default latest) as a portable model file."""
        meta, clf = self.classifier(label, version)
        model = PortableModel(
            label=meta.label,
            version=meta.version,
            encoder_id=meta.encoder_id,
            coef=clf.coef_,
            intercept=clf.intercept_,
            calibration=clf.calibration_,
            metrics={
                "model_score": meta.model_score,
                "data_score": meta.data_score,
                "n_pos": meta.n_pos,
                "n_neg": meta.n_neg,
            },
            fingerprint=meta.fingerprint,
        )
        return model.save(out)


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
