"""Where each artist stands under the rules right now: the stored status behind `/why`.

Core and eligibility of complete periods come from the feature table (the one place the rules
are computed). The month in progress is not complete, so "core so far" needs a bar that the
1st of a month cannot fake: plays needed = min(core_plays, 1 % of the larger of this month's
scrobbles so far and last month's), never less than 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import rules
from pipeline.config import PipelineConfig

# Why an artist is or is not a candidate, in the order they are tested.
VERDICTS = ("candidate", "core", "recently_core", "too_old", "too_few_plays", "not_eligible")
STATUS_COLUMNS = [
    "artist_key",
    "month",
    "plays_month",
    "month_total",
    "plays_needed",
    "core_now",
    "core_prev1",
    "core_prev2",
    "plays_last_month",
    "plays_30d",
    "months_since_discovery",
    "first_seen_ts",
    "last_played_ts",
    "eligible_month",
    "eligible_trailing",
    "first_core_month",
    "last_core_month",
    "verdict",
]


def _at(table: pd.DataFrame, period: int, column: str, keys: pd.Index, default) -> np.ndarray:
    """`column` of each artist's row in `period` (default where it has none)."""
    rows = table[(table["period"] == period).to_numpy()]
    values = pd.Series(rows[column].to_numpy(), index=rows["artist_key"].to_numpy())
    return values.reindex(keys, fill_value=default).to_numpy()


def _period_label(table: pd.DataFrame, period: int) -> str:
    """'YYYY-MM' of `period`, also when no artist has a row in it (a history that ended long
    ago reaches no row of the month in progress)."""
    labels = table.attrs.get("period_labels")
    if labels is not None and 0 <= period < len(labels):
        return str(labels[period])
    rows = table.loc[table["period"] == period, "month"]
    if len(rows):
        return str(rows.iloc[0])
    raise ValueError(f"no label for period {period}")


def artist_status(
    monthly: pd.DataFrame,
    trailing: pd.DataFrame,
    last_played: pd.Series,
    month_total: int,
    cfg: PipelineConfig,
) -> pd.DataFrame:
    """One row per artist of `monthly` (calendar table whose last period holds `now`).

    `trailing` is the trailing-window table (its last period ends now), `last_played` the
    newest timestamp per artist_key, `month_total` the scrobbles of the month so far.
    """
    if monthly.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in STATUS_COLUMNS})
    cur = int(monthly.attrs.get("n_periods", monthly["period"].max() + 1)) - 1
    first = monthly.groupby("artist_key", sort=True).agg(
        first_period=("period", "min"), first_seen_ts=("first_seen_ts", "min")
    )
    keys = first.index
    plays = _at(monthly, cur, "plays_t", keys, 0.0).astype("int64")
    last_month = _at(monthly, cur - 1, "plays_t", keys, 0.0).astype("int64")
    last_total = monthly.loc[monthly["period"] == cur - 1, "total_monthly_scrobbles"]
    projected = max(int(month_total), int(last_total.max()) if len(last_total) else 0)
    needed = int(rules.core_need(projected, cfg))
    core_now = rules.is_core(plays, projected, cfg)
    core_prev1 = _at(monthly, cur - 1, "is_core", keys, False).astype(bool)
    core_prev2 = _at(monthly, cur - 2, "is_core", keys, False).astype(bool)
    elig_month = _at(monthly, cur - 1, "eligible", keys, False).astype(bool)
    t_last = int(trailing.attrs.get("n_periods", 0)) - 1
    elig_trail = _at(trailing, t_last, "eligible", keys, False).astype(bool)
    plays_30d = _at(trailing, t_last, "plays_t", keys, 0.0).astype("int64")
    age = cur - first["first_period"].to_numpy(dtype="int64")
    closed = monthly[monthly["is_core"].to_numpy() & (monthly["period"] < cur).to_numpy()]
    # by period, then named: min/max of month strings run per group in Python (pandas' str)
    cores = closed.groupby("artist_key").agg(
        first_period=("period", "min"), last_period=("period", "max")
    )
    month_of_period = closed.drop_duplicates("period").set_index("period")["month"]
    cores["first"] = month_of_period.reindex(cores["first_period"]).to_numpy(dtype=object)
    cores["last"] = month_of_period.reindex(cores["last_period"]).to_numpy(dtype=object)
    cores = cores.reindex(keys)
    first_core = cores["first"]
    # core in the last complete month or either of the two before it: not eligible anywhere
    lookback = cur - 1 - cfg.eligible_not_core_lookback
    # never core: not recently core, also when the lookback reaches before the first period
    last_core = cores["last_period"].to_numpy(dtype="float64")
    recently = ~np.isnan(last_core) & (np.nan_to_num(last_core, nan=-1.0) >= lookback)
    month_now = _period_label(monthly, cur)
    first_core = first_core.where(first_core.notna() | ~core_now, month_now)
    few = ~rules.enough_plays(plays_30d, cfg) & ~rules.enough_plays(last_month, cfg)
    verdict = np.select(
        [
            elig_trail | elig_month,
            core_now,
            recently,
            ~rules.young_enough(age, cfg),
            few,
        ],
        list(VERDICTS[:-1]),
        VERDICTS[-1],
    )
    return pd.DataFrame(
        {
            "artist_key": keys.to_numpy(dtype=object),
            "month": month_now,
            "plays_month": plays,
            "month_total": int(month_total),
            "plays_needed": needed,
            "core_now": core_now,
            "core_prev1": core_prev1,
            "core_prev2": core_prev2,
            "plays_last_month": last_month,
            "plays_30d": plays_30d,
            "months_since_discovery": age,
            "first_seen_ts": first["first_seen_ts"].to_numpy(dtype="int64"),
            "last_played_ts": last_played.reindex(keys).fillna(0).to_numpy(dtype="int64"),
            "eligible_month": elig_month,
            "eligible_trailing": elig_trail,
            "first_core_month": first_core.to_numpy(dtype=object),  # missing: NaN
            "last_core_month": cores["last"].to_numpy(dtype=object),
            "verdict": verdict.astype(object),
        }
    )[STATUS_COLUMNS]
