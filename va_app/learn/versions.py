"""Model versions (every build, kept in SQL) and the portable model file.

A model file is JSON (``*.vamodel.json``): weights, bias, the Platt calibration
(``{"method": "platt", "slope", "offset"}``: ``p = σ(slope·(x·w + b) + offset)``), encoder id,
label, metrics and the training-set fingerprint — so ``score`` gives the probabilities the app
shows. Files of format ``/1`` (before calibration) still load, uncalibrated. It loads and
scores with numpy alone::

    from va_app.learn.versions import load_model
    p = load_model("night.vamodel.json").predict_proba(embeddings)   # (N,) probabilities
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from va_app.errors import NotFoundError, ValidationError
from va_app.learn.calibration import PlattScaling
from va_app.learn.classifier import ShotClassifier
from va_app.store.catalog import Catalog
from va_app.store.labels import LabelStore
from va_app.store.schema import ModelVersionRow

MODEL_FORMAT = "video-annotator-model/2"
#: Formats :func:`load_model` reads: /1 has no calibration (read as the identity).
READABLE_MODEL_FORMATS = ("video-annotator-model/1", MODEL_FORMAT)


@dataclass(frozen=True)
class ModelVersion:
    label: str
    version: int
    created_at: datetime | None
    n_pos: int
    n_neg: int
    model_score: float | None
    data_score: float | None
    annotators: list[str]
    encoder_id: str
    fingerprint: str
    build_ms: float
    #: The build's out-of-fold calibration report (Brier, ECE, reliability bins; raw and
    #: calibrated — see ``va_app.learn.calibration.calibration_report``); {} before calibration.
    calibration: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_annotations(self) -> int:
        return self.n_pos + self.n_neg


class ModelRegistry:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.labels = LabelStore(catalog)

    def save(self, label: str, result, *, encoder_id: str) -> ModelVersion:
        """Store a build as the label's next version (numbers start at 1)."""
        with self.catalog.session() as s:
            label_row = self.labels._label_row(s, label)
            last = s.scalar(select(func.max(ModelVersionRow.version))
                            .where(ModelVersionRow.label_id == label_row.id)) or 0
            row = ModelVersionRow(
                label_id=label_row.id, version=last + 1, n_pos=result.n_pos, n_neg=result.n_neg,
                model_score=result.model_score, data_score=result.data_score,
                annotators=list(result.annotators), encoder_id=encoder_id,
                params=result.classifier.to_dict(),
                details={"fingerprint": result.fingerprint, "build_ms": result.build_ms,
                         "timings_ms": result.timings_ms,
                         "calibration": result.calibration},
            )
            s.add(row)
            s.flush()
            return _to_version(label_row.name, row)

    def versions(self, label: str) -> list[ModelVersion]:
        with self.catalog.read() as s:
            label_row = self.labels._label_row(s, label)
            rows = s.scalars(select(ModelVersionRow).where(ModelVersionRow.label_id == label_row.id)
                             .order_by(ModelVersionRow.version))
            return [_to_version(label_row.name, r) for r in rows]

    def latest(self, label: str) -> ModelVersion | None:
        versions = self.versions(label)
        return versions[-1] if versions else None

    def classifier(self, label: str, version: int | None = None) -> tuple[ModelVersion,
                                                                          ShotClassifier]:
        with self.catalog.read() as s:
            label_row = self.labels._label_row(s, label)
            q = select(ModelVersionRow).where(ModelVersionRow.label_id == label_row.id)
            q = q.where(ModelVersionRow.version == version) if version else q.order_by(
                ModelVersionRow.version.desc())
            row = s.scalars(q).first()
            if row is None:
                which = f"version {version}" if version else "any version"
                raise NotFoundError(f"label {label_row.name!r} has no model ({which}): build first")
            return _to_version(label_row.name, row), ShotClassifier.from_dict(row.params)

    def classifiers(self, label: str, versions: Iterable[int]) -> dict[int, tuple[ModelVersion,
                                                                               ShotClassifier]]:
        """Several versions' classifiers in one query: ``{version: (meta, classifier)}``
        (versions the label does not have are left out)."""
        wanted = sorted(set(versions))
        if not wanted:
            return {}
        with self.catalog.read() as s:
            label_row = self.labels._label_row(s, label)
            rows = s.scalars(select(ModelVersionRow).where(
                ModelVersionRow.label_id == label_row.id, ModelVersionRow.version.in_(wanted)))
            return {r.version: (_to_version(label_row.name, r), ShotClassifier.from_dict(r.params))
                    for r in rows}

    def export(self, label: str, out: str | Path, *, version: int | None = None) -> Path:
        meta, clf = self.classifier(label, version)
        model = PortableModel(label=meta.label, version=meta.version, encoder_id=meta.encoder_id,
                              coef=clf.coef_, intercept=clf.intercept_,
                              calibration=clf.calibration_,
                              metrics={"model_score": meta.model_score,
                                       "data_score": meta.data_score,
                                       "n_pos": meta.n_pos, "n_neg": meta.n_neg},
                              fingerprint=meta.fingerprint)
        return model.save(out)


@dataclass(frozen=True, eq=False)
class PortableModel:
    label: str
    version: int
    encoder_id: str
    coef: np.ndarray
    intercept: float
    metrics: dict
    fingerprint: str
    calibration: PlattScaling = PlattScaling()

    def decision_function(self, embeddings: np.ndarray) -> np.ndarray:
        """Raw logits ``x·w + b`` (before calibration)."""
        return self._check(embeddings) @ self.coef + np.float32(self.intercept)

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """Calibrated probability of the label for each row (float32, shape (N,)) — the
        numbers the app shows: the calibration is folded into the weights, as the app does."""
        from scipy.special import expit

        coef, intercept = self.calibration.fold_into(self.coef, self.intercept)
        return expit(self._check(embeddings) @ coef + np.float32(intercept))

    def _check(self, embeddings: np.ndarray) -> np.ndarray:
        X = np.asarray(embeddings, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.coef.size:
            raise ValidationError(f"model for {self.label!r} expects (N, {self.coef.size}) "
                                  f"embeddings, got {X.shape}")
        return X

    def save(self, out: str | Path) -> Path:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"format": MODEL_FORMAT, **asdict(self), "coef": self.coef.tolist(),
                   "calibration": self.calibration.to_dict()}
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(payload))
        os.replace(tmp, out)
        return out


def load_model(path: str | Path, *, label: str | None = None) -> PortableModel:
    """Read a model file; raises ValidationError when it is corrupt or for another label."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") not in READABLE_MODEL_FORMATS:
            raise ValueError(f"format {data.get('format')!r}")
        model = PortableModel(label=data["label"], version=int(data["version"]),
                              encoder_id=data["encoder_id"],
                              coef=np.asarray(data["coef"], dtype=np.float32),
                              intercept=float(data["intercept"]), metrics=data["metrics"],
                              fingerprint=data["fingerprint"],
                              calibration=PlattScaling.from_dict(data.get("calibration")))
    except FileNotFoundError:
        raise NotFoundError(f"model file {path} does not exist") from None
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path} is not a Video Annotator model file ({exc})") from exc
    if label is not None and model.label.casefold() != label.casefold():
        raise ValidationError(f"{path} is a model for {model.label!r}, not {label!r}")
    return model


def _to_version(label: str, row: ModelVersionRow) -> ModelVersion:
    details = row.details or {}
    return ModelVersion(label, row.version, row.created_at, row.n_pos, row.n_neg, row.model_score,
                        row.data_score, list(row.annotators or []), row.encoder_id,
                        details.get("fingerprint", ""), float(details.get("build_ms", 0.0)),
                        details.get("calibration") or {})
