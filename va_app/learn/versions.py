"""The portable model file: a stored model version as a small file that scores with numpy.

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
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from va_app.domain import ModelVersion
from va_app.errors import NotFoundError, ValidationError
from va_app.learn.calibration import PlattScaling
from va_app.learn.classifier import ShotClassifier

MODEL_FORMAT = "video-annotator-model/2"
#: Formats :func:`load_model` reads: /1 has no calibration (read as the identity).
READABLE_MODEL_FORMATS = ("video-annotator-model/1", MODEL_FORMAT)


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
            raise ValidationError(
                f"model for {self.label!r} expects (N, {self.coef.size}) embeddings, got {X.shape}"
            )
        return X

    def save(self, out: str | Path) -> Path:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": MODEL_FORMAT,
            **asdict(self),
            "coef": self.coef.tolist(),
            "calibration": self.calibration.to_dict(),
        }
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(payload))
        os.replace(tmp, out)
        return out


def portable_model(version: ModelVersion, classifier: ShotClassifier) -> PortableModel:
    """A stored version and its classifier as a portable model (:meth:`PortableModel.save`)."""
    return PortableModel(
        label=version.label,
        version=version.version,
        encoder_id=version.encoder_id,
        coef=classifier.coef_,
        intercept=classifier.intercept_,
        calibration=classifier.calibration_,
        metrics={
            "model_score": version.model_score,
            "data_score": version.data_score,
            "n_pos": version.n_pos,
            "n_neg": version.n_neg,
        },
        fingerprint=version.fingerprint,
    )


def load_model(path: str | Path, *, label: str | None = None) -> PortableModel:
    """Read a model file; raises ValidationError when it is corrupt or for another label."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") not in READABLE_MODEL_FORMATS:
            raise ValueError(f"format {data.get('format')!r}")
        model = PortableModel(
            label=data["label"],
            version=int(data["version"]),
            encoder_id=data["encoder_id"],
            coef=np.asarray(data["coef"], dtype=np.float32),
            intercept=float(data["intercept"]),
            metrics=data["metrics"],
            fingerprint=data["fingerprint"],
            calibration=PlattScaling.from_dict(data.get("calibration")),
        )
    except FileNotFoundError:
        raise NotFoundError(f"model file {path} does not exist") from None
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path} is not a Video Annotator model file ({exc})") from exc
    if label is not None and model.label.casefold() != label.casefold():
        raise ValidationError(f"{path} is a model for {model.label!r}, not {label!r}")
    return model
