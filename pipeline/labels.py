"""Breakout labels: y(t) = Core(t+1) or Core(t+2), censored at the end, feedback overrides."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.config import PipelineConfig


def n_periods(table: pd.DataFrame) -> int:
    """Number of periods the table was built over (its last period + 1 when unknown)."""
    n = table.attrs.get("n_periods")
    if n is None:
        n = int(table["period"].max()) + 1 if len(table) else 0
    return int(n)


def rule_labels(table: pd.DataFrame, cfg: PipelineConfig) -> np.ndarray:
    """1.0 if the artist is core in any of the next `horizon` periods, NaN when censored.

    A last period still in progress (`attrs["open_last_period"]`, set when a rebuild runs
    mid-month) is not a finished month: it makes nobody core, and the labels that depend on it
    are not known yet.
    """
    n_p = max(n_periods(table), 1)
    closed = n_p - 1 if table.attrs.get("open_last_period") else n_p
    codes, _ = pd.factorize(table["artist_key"])
    period = table["period"].to_numpy(dtype="int64")
    key = codes.astype("int64") * (n_p + cfg.horizon + 1) + period
    core_keys = np.sort(key[table["is_core"].to_numpy(dtype=bool) & (period < closed)])
    label = np.zeros(len(table))
    for h in range(1, cfg.horizon + 1):
        pos = np.searchsorted(core_keys, key + h)
        pos = np.minimum(pos, max(len(core_keys) - 1, 0))
        if len(core_keys):
            label = np.maximum(label, core_keys[pos] == key + h)
    label[period >= closed - cfg.horizon] = np.nan
    return label


def add_labels(
    table: pd.DataFrame, cfg: PipelineConfig | None = None, feedback: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Copy of `table` with `label` (1.0/0.0, NaN when censored); feedback verdicts override it."""
    cfg = cfg or PipelineConfig()
    out = table.copy()
    label = rule_labels(table, cfg)
    if feedback is not None and len(feedback):
        fb = feedback[["artist_key", "month", "verdict"]].drop_duplicates(
            ["artist_key", "month"], keep="last"
        )
        merged = out[["artist_key", "month"]].merge(fb, on=["artist_key", "month"], how="left")
        verdict = merged["verdict"].to_numpy(dtype="float64", na_value=np.nan)
        label = np.where(np.isnan(verdict), label, (verdict > 0).astype("float64"))
    out["label"] = label
    return out
