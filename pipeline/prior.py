"""The prior: one XGBoost model learned across listeners, shipped with the package as plain JSON.

Its inputs are six of the project's FEATURES (PRIOR_FEATURES), measured in "plays needed for
core", months and days, so they carry over between listeners of any volume. It is fit on the
eligible, labelled artist-months (after each history's cold start) of several histories with a
ranking objective within each listener-month (the product is a ranked list per month); a Platt
curve fit on the same rows then maps its score to log-odds, so its probability is a frequency
across listeners: a new install gets odds from it before its own first breakout.

`prior_model.json` holds the format marker, the booster (XGBoost's UBJSON, base64), the Platt
curve and a manifest: histories read (name and content hash), rows, positives, features, versions,
created_at. It holds fitted parameters only, never rows or names of a history. Loading follows the
rules of `model.json`: plain values only; anything else is refused with one line
(ModelFormatError).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.artifacts import ModelFormatError, _write_atomically, library_versions, stamp_now
from pipeline.calibration import platt
from pipeline.config import PipelineConfig
from pipeline.labels import add_labels
from pipeline.models import MONOTONE, XGBoostModel, matrix, sigmoid

PRIOR_FORMAT = "breakout-artists-prior"
PRIOR_VERSION = 2
PRIOR_FILE = Path(__file__).with_name("prior_model.json")
MAX_PRIOR_BYTES = 2 * 1024 * 1024
# Fewer, stronger features: on the yardstick these six ranked better than all fourteen FEATURES
# (mean lift 2.63 vs 2.39, README "Backtest").
PRIOR_FEATURES = [
    "core_progress_t",
    "cum_progress_t",
    "core_chance_mix_t",
    "days_active_t",
    "last_play_gap_days_t",
    "months_since_first_seen",
]
PRIOR_OBJECTIVE = "rank:pairwise"  # within each listener-month (README "Backtest": 2.81 vs 2.63)
PRIOR_PARAMS = {"max_depth": 3, "eta": 0.05, "min_child_weight": 5.0, "subsample": 0.8}
PRIOR_ROUNDS = 300
DEFINITIONS = ("core_plays", "core_share", "horizon", "eligible_min_plays", "eligible_max_age")
DEFINITIONS += ("eligible_not_core_lookback", "cold_start_months")


@dataclass
class Prior:
    """The cross-listener model and the manifest of what it was trained on."""

    model: XGBoostModel
    manifest: dict = field(default_factory=dict)
    # the Platt curve from the booster's ranking score to log-odds
    slope: float = 1.0
    intercept: float = 0.0

    @property
    def features(self) -> list[str]:
        """The feature columns the prior reads (PRIOR_FEATURES)."""
        return self.model.features

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        """The prior's log-odds of each row."""
        return self.slope * self.model.margin(matrix(frame, self.features)) + self.intercept

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The prior's probability of each row: a frequency across listeners."""
        return sigmoid(self.margin(frame))

    def trained_on(self, name: str) -> bool:
        """True when a history called `name` is among those the prior read."""
        return any(h["name"] == name for h in self.manifest.get("histories", []))

    def read_file_hashed(self, digest: str) -> bool:
        """True when a file whose `content_hash` is `digest` is among those the prior read."""
        return any(h.get("sha256") == digest for h in self.manifest.get("histories", []))


def content_hash(data: bytes) -> str:
    """Short SHA-256 of a history file's bytes (the manifest names what was read, not how)."""
    return hashlib.sha256(data).hexdigest()[:16]


def prior_rows(table: pd.DataFrame, cfg: PipelineConfig) -> pd.DataFrame:
    """A history's rows the prior learns from: eligible, labelled, after the cold start."""
    if "label" not in table:
        table = add_labels(table, cfg)
    keep = table["eligible"].to_numpy(dtype=bool) & table["label"].notna().to_numpy()
    keep &= table["period"].to_numpy() >= cfg.cold_start_months
    return table.loc[keep, [*PRIOR_FEATURES, "period", "label"]]


def fit_prior(
    parts: Mapping[str, pd.DataFrame],
    hashes: Mapping[str, str],
    cfg: PipelineConfig | None = None,
    nthread: int = 1,
) -> Prior:
    """One monotone XGBoost ranking each listener-month's rows of every history in `parts`
    (name → its prior_rows), then a Platt curve from its score to log-odds on the same rows;
    `hashes` (name → content hash) goes into the manifest."""
    cfg = cfg or PipelineConfig()
    parts = dict(sorted(parts.items()))
    rows = pd.concat(list(parts.values()), keys=list(parts), names=["listener", None])
    rows = rows.reset_index(level=0).sort_values(["listener", "period"], kind="stable")
    y = rows["label"].to_numpy(dtype="float64")
    if y.sum() < 1 or y.sum() == len(y):
        raise ValueError("the prior needs both breakouts and non-breakouts to learn from")
    model = XGBoostModel(
        cfg,
        PRIOR_FEATURES,
        rounds=PRIOR_ROUNDS,
        params={**PRIOR_PARAMS, "objective": PRIOR_OBJECTIVE, "eval_metric": "map"}
        | {"nthread": nthread, "seed": cfg.seed},
        monotone=MONOTONE,  # the listener's trees' signs
        balanced=False,
    )
    x = matrix(rows, PRIOR_FEATURES)
    month = rows["listener"] + "|" + rows["period"].astype(str)
    model.fit(x, y, group=pd.factorize(month)[0])
    model.params["nthread"] = 1
    slope, intercept = platt(model.margin(x), y)
    histories = [
        {
            "name": name,
            "sha256": hashes[name],
            "rows": len(part),
            "positives": int(part["label"].sum()),
        }
        for name, part in parts.items()
    ]
    return Prior(model, _manifest(histories, len(rows), int(y.sum()), cfg), slope, intercept)


def _manifest(histories: list[dict], rows: int, positives: int, cfg: PipelineConfig) -> dict:

    return {
        "histories": histories,
        "rows": rows,
        "positives": positives,
        "features": list(PRIOR_FEATURES),
        "rounds": PRIOR_ROUNDS,
        "objective": PRIOR_OBJECTIVE,
        "params": dict(PRIOR_PARAMS),
        "definitions": {k: getattr(cfg, k) for k in DEFINITIONS},
        "versions": library_versions(),
        "created_at": stamp_now(),
    }


def prior_payload(prior: Prior) -> dict:
    """The prior as plain JSON values."""
    return {
        "format": PRIOR_FORMAT,
        "format_version": PRIOR_VERSION,
        "model": prior.model.to_dict(),
        "platt": {"slope": prior.slope, "intercept": prior.intercept},
        "manifest": prior.manifest,
    }


def save_prior(prior: Prior, path: str | Path = PRIOR_FILE) -> Path:
    """Write the prior atomically as JSON; ValueError when it would exceed MAX_PRIOR_BYTES."""
    path = Path(path)
    data = json.dumps(prior_payload(prior), sort_keys=True).encode("utf-8")
    if len(data) > MAX_PRIOR_BYTES:
        raise ValueError(f"the prior is {len(data)} bytes, more than {MAX_PRIOR_BYTES}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return _write_atomically(path.parent, path.name, data)


def prior_from_payload(payload: object, where: Path) -> Prior:
    """A Prior from `prior_payload` values; ModelFormatError (one line) for anything else."""
    if not isinstance(payload, dict) or payload.get("format") != PRIOR_FORMAT:
        raise ModelFormatError(f"{where} does not hold a breakout-artists prior")
    if payload.get("format_version") != PRIOR_VERSION:
        raise ModelFormatError(f"{where}: prior format version is not {PRIOR_VERSION}")
    try:
        manifest = dict(payload["manifest"])
        if list(manifest["features"]) != PRIOR_FEATURES:
            raise ValueError("features differ from the project's")
        model = XGBoostModel.from_dict(payload["model"], PRIOR_FEATURES)
        if model.offset is not None:
            raise ValueError("the prior starts from no offset")
        curve = [float(payload["platt"][k]) for k in ("slope", "intercept")]
        if not np.isfinite(curve).all() or curve[0] <= 0:
            raise ValueError("the Platt curve must be finite and increasing")
        model.margin(np.zeros((1, len(PRIOR_FEATURES))))
    except Exception as exc:  # any malformed value: refuse the whole file
        raise ModelFormatError(f"{where} is a damaged prior ({type(exc).__name__})") from None
    return Prior(model, manifest, *curve)


def read_prior(path: str | Path) -> Prior:
    """Load a prior file; ModelFormatError (one line) when it is missing, too large or damaged."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_PRIOR_BYTES:
            raise ModelFormatError(f"{path} is too large to be a prior")
        payload = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise ModelFormatError(f"{path} is not a readable prior ({type(exc).__name__})") from None
    return prior_from_payload(payload, path)


@cache
def shipped_prior() -> Prior | None:
    """The prior shipped with the package; None when the package holds none."""
    return read_prior(PRIOR_FILE) if PRIOR_FILE.exists() else None
