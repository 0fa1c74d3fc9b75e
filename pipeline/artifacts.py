"""ModelBundle and its artifact: one JSON file, written atomically, never code.

`model.json` holds the format marker, metadata, threshold, calibrator and every learner as plain
values (logistic regression as arrays, XGBoost boosters in their own UBJSON format, base64). Loading
constructs the objects from those values; anything else is refused with a ModelFormatError (the
caller logs one line and retrains). No pickle: a planted file can at worst be refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.calibration import Calibrator
from pipeline.errors import UserError
from pipeline.models import LogisticModel, XGBoostModel, matrix, sigmoid


def library_versions() -> dict[str, str]:
    """The versions a saved model was fit with (its metadata, for a reader to compare)."""
    import platform

    import sklearn
    import xgboost

    return {
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "xgboost": xgboost.__version__,
    }


def stamp_now() -> str:
    """A model's `created_at`: UTC, to the second, 'Z'."""
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


FORMAT = "breakout-artists-model"
FORMAT_VERSION = 2
MODEL_FILE = "model.json"
# Files of the pickle-based format 1: never read, removed by the next save.
LEGACY_FILES = ("model.joblib", "model.joblib.tmp")
MAX_BYTES = 64 * 1024 * 1024


class ModelFormatError(UserError):
    """A model directory holds something that is not this project's model artifact."""


@dataclass
class ModelBundle:
    """A trained model: learners (margins averaged by weight), calibrator, threshold, metadata.

    `predict_proba` is the calibrated probability (what the user sees); `threshold` is on that
    scale. `margin` and `contributions` are the learners' log-odds before calibration.
    """

    kind: str
    features: list[str]
    threshold: float
    learners: list[tuple[object, float]]
    metadata: dict = field(default_factory=dict)
    calibrator: Calibrator | None = None

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        """Blended log-odds of each row (before calibration)."""
        x = matrix(frame, self.features)
        return sum(w * m.margin(x) for m, w in self.learners)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of each row (raw sigmoid when no calibrator is set)."""
        margin = self.margin(frame)
        return sigmoid(margin) if self.calibrator is None else self.calibrator.apply(margin)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Alias of predict_proba (the backtest's scorer interface)."""
        return self.predict_proba(frame)

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Signed per-feature contributions to the log-odds, plus `bias`; rows sum to margin."""
        x = matrix(frame, self.features)
        total = sum(w * m.contributions(x) for m, w in self.learners)
        return pd.DataFrame(total, columns=[*self.features, "bias"], index=frame.index)


def to_payload(bundle: ModelBundle) -> dict:
    """The bundle as plain JSON values."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": bundle.kind,
        "features": list(bundle.features),
        "threshold": float(bundle.threshold),
        "calibrator": None if bundle.calibrator is None else bundle.calibrator.to_dict(),
        "learners": [{**m.to_dict(), "weight": float(w)} for m, w in bundle.learners],
        "metadata": bundle.metadata,
    }


def from_payload(payload: object, where: Path) -> ModelBundle:
    """Construct a bundle from `to_payload` values; ModelFormatError for anything else."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFormatError(f"{where} does not hold a breakout-artists model")
    if payload.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(
            f"model format version {payload.get('format_version')} is not supported "
            f"(expected {FORMAT_VERSION}); it will be retrained"
        )
    try:
        features = [str(f) for f in payload["features"]]
        learners: list[tuple[object, float]] = []
        for item in payload["learners"]:
            if item["type"] == "logistic":
                model: object = LogisticModel.from_dict(item, len(features))
            elif item["type"] == "xgboost":
                model = XGBoostModel.from_dict(item, features)
            else:
                raise ValueError(f"unknown learner type {item['type']!r}")
            learners.append((model, float(item["weight"])))
        calibrator = payload["calibrator"]
        bundle = ModelBundle(
            kind=str(payload["kind"]),
            features=features,
            threshold=float(payload["threshold"]),
            learners=learners,
            metadata=dict(payload["metadata"]),
            calibrator=None if calibrator is None else Calibrator.from_dict(calibrator),
        )
    except Exception as exc:  # any malformed value: refuse the file, never half-load it
        raise ModelFormatError(
            f"{where} is damaged ({type(exc).__name__}); it will be retrained"
        ) from None
    if not learners:
        raise ModelFormatError(f"{where} has no learners; it will be retrained")
    return bundle


def _write_atomically(directory: Path, name: str, data: bytes) -> Path:
    """Write via a temporary file created exclusively in `directory` (never through a planted
    symlink), fsync, rename over `name`; on any failure the old file stays and the temporary
    file is removed."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, directory / name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable where directories can sync
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return directory / name


def save_bundle(bundle: ModelBundle, directory: str | Path) -> Path:
    """Write model.json atomically; remove files of the old pickle format. UserError on failure
    (disk full, read-only directory), with the previous model left as it was."""
    directory = Path(directory)
    data = json.dumps(to_payload(bundle), default=_json_default).encode("utf-8")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = _write_atomically(directory, MODEL_FILE, data)
    except OSError as exc:
        raise UserError(f"cannot save the model in {directory}: {exc.strerror or exc}") from None
    for legacy in LEGACY_FILES:  # unlink removes a symlink itself, never its target
        with contextlib.suppress(OSError):
            os.unlink(directory / legacy)
    return path


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def load_bundle(directory: str | Path) -> ModelBundle | None:
    """The saved model, None when there is none; ModelFormatError for anything this project did
    not write (a pickle of the old format is never read)."""
    directory = Path(directory)
    path = directory / MODEL_FILE
    if not path.exists():
        legacy = [n for n in LEGACY_FILES if (directory / n).exists()]
        if legacy:
            raise ModelFormatError(
                f"{directory / legacy[0]} is the old pickle format and is never loaded; "
                "it will be retrained"
            )
        return None
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ModelFormatError(f"{path} is too large to be a model; it will be retrained")
        payload = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise ModelFormatError(
            f"{path} is not a breakout-artists model ({type(exc).__name__})"
        ) from None
    return from_payload(payload, path)
