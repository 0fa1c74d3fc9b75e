"""Plain-language reasons: per-feature contributions grouped into a few readable sentences.

Related features are summed into one group (e.g. plays, active days and growth form "activity"),
groups are ranked per candidate (positive drivers first, then the strongest drags) and only the
top few are phrased, group by group with vectorized string operations. Sentences contain only
numbers, dates and plain words, never a feature name or an artist name.

Reasons agree with themselves: activity, recency and standing all describe the same plays, so
a candidate never gets one of them as a reason and another as a drag ("4 plays in the last 14
days" beside "holding it back: 7 plays on 2 different days"). The side their sum is on wins;
the others are not shown. Discovery (how recently the artist was found) is context, never the
main reason: it comes after the other drivers and is not shown as the only one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

# group -> (its headline feature, member features)
GROUPS: dict[str, tuple[str, list[str]]] = {
    "activity": (
        "plays_t",
        [
            "plays_t",
            "days_active_t",
            "max_day_plays_t",
            "core_progress_t",
            "core_progress_prev_t",
            "plays_t_minus_1",
            "plays_prev3_mean",
            "delta_1m",
            "delta_1m_pct",
            "ratio_to_prev3",
            "trend_slope_3m",
            "prev_month_plays_was_zero",
            "core_progress_3m_mean",
            "active_months_count_before_t",
            "cumulative_plays_before_t",
            "cumulative_plays_t",
            "cum_progress_t",
            "core_chance_t",
            "core_chance_recent_t",
            "core_chance_avg_t",
            "core_chance_mix_t",
        ],
    ),
    "recency": (
        "plays_last14_t",
        [
            "plays_last7_t",
            "plays_last14_t",
            "last_play_gap_days_t",
            "longest_streak_days_t",
            "recent_progress_t",
            "activation_t",
            "gap_ratio_t",
        ],
    ),
    "discovery": (
        "days_since_first_seen",
        [
            "days_since_first_seen",
            "months_since_first_seen",
            "is_first_month",
        ],
    ),
    "variety": (
        "distinct_tracks_t",
        ["distinct_tracks_t", "distinct_albums_t", "plays_per_track_t", "track_novelty_rate_t"],
    ),
    "standing": (
        "share_t",
        [
            "share_t",
            "share_delta_1m",
            "plays_rank_t",
            "total_monthly_scrobbles",
            "new_artists_t",
            "core_need_t",
            "exploration_t",
        ],
    ),
}
# The part of a group's sentence after its headline, and the features behind it: shown only
# when those features push the same way as the group ("3× your previous 3-month average"
# raises the odds, so it is never listed under what holds an artist back).
TAILS: dict[str, list[str]] = {
    "activity": [
        "plays_t_minus_1",
        "plays_prev3_mean",
        "delta_1m",
        "delta_1m_pct",
        "ratio_to_prev3",
        "trend_slope_3m",
        "prev_month_plays_was_zero",
        "core_progress_prev_t",
        "core_progress_3m_mean",
        "active_months_count_before_t",
    ],
    "recency": ["longest_streak_days_t"],
    "variety": ["plays_per_track_t", "track_novelty_rate_t"],
    "standing": ["plays_rank_t"],
}
# Groups that describe the same plays: shown on one side only (see the module docstring).
PLAY_FACTS = ("activity", "recency", "standing")
FEATURE_GROUP: dict[str, str] = {f: g for g, (_, members) in GROUPS.items() for f in members}
# For features added later and not yet listed above: a group by name, never a silent drop.
_NAME_HINTS = [
    ("first_seen", "discovery"),
    ("cumulative", "activity"),
    ("track", "variety"),
    ("album", "variety"),
    ("last7", "recency"),
    ("last14", "recency"),
    ("gap", "recency"),
    ("streak", "recency"),
    ("share", "standing"),
    ("artists_t", "standing"),
    ("total", "standing"),
    ("rank", "standing"),
]


def group_of(feature: str) -> str:
    """The reason group of a feature (listed, else guessed from its name, else activity)."""
    if feature in FEATURE_GROUP:
        return FEATURE_GROUP[feature]
    return next((g for hint, g in _NAME_HINTS if hint in feature), "activity")


# Transparent fallback (no model): direction of "more of this looks like a breakout".
FALLBACK_SIGNS: dict[str, float] = {
    "plays_t": 1.0,
    "days_active_t": 1.0,
    "plays_last14_t": 1.0,
    "last_play_gap_days_t": -1.0,
    "days_since_first_seen": -1.0,
    "distinct_tracks_t": 1.0,
    "share_t": 1.0,
}

REASON_COLUMNS = ["row", "position", "feature", "value", "contribution", "tail", "sentence"]


def _n(values: pd.Series | np.ndarray) -> pd.Series:
    """Whole numbers with thousands separators."""
    return pd.Series(np.rint(np.asarray(values, dtype="float64")).astype("int64")).map(
        "{:,}".format
    )


def _plural(values: pd.Series | np.ndarray, word: str, plural: str | None = None) -> pd.Series:
    """'1 play', '14 plays'."""
    counts = np.rint(np.asarray(values, dtype="float64"))
    return _n(counts) + " " + pd.Series(np.where(counts == 1, word, plural or word + "s"))


def _col(v: pd.DataFrame, name: str) -> np.ndarray:
    return v[name].to_numpy(dtype="float64", na_value=np.nan) if name in v else np.zeros(len(v))


def _times(ratio: np.ndarray) -> pd.Series:
    """'4×' or '1.6×'."""
    return (
        pd.Series(
            np.where(
                ratio >= 3,
                np.rint(ratio).astype("int64").astype(str),
                np.round(ratio, 1).astype(str),
            )
        )
        + "×"
    )


def _activity(v: pd.DataFrame, ctx: pd.DataFrame) -> pd.Series:
    plays, days = _col(v, "plays_t"), _col(v, "days_active_t")
    prev3, age = _col(v, "plays_prev3_mean"), _col(v, "months_since_first_seen")
    ratio = plays / np.maximum(prev3, 1e-9)
    head = (
        _plural(plays, "play")
        + " on "
        + _n(days)
        + pd.Series(np.where(days == 1, " day ", " different days "))
        + "in "
        + ctx["span"]
    )
    tail = np.select(
        [
            (prev3 > 0) & (ratio >= 10),
            (prev3 > 0) & (ratio >= 1.5),
            (prev3 > 0) & (ratio >= 0.67),
            prev3 > 0,
            age > 0,
        ],
        [
            ", more than 10× your previous 3-month average",
            (", " + _times(ratio) + " your previous 3-month average").to_numpy(dtype=object),
            ", about your previous 3-month average",
            (", down from " + _n(prev3) + " a month before").to_numpy(dtype=object),
            ", after no plays in the 3 months before",
        ],
        "",
    )
    return head + pd.Series(np.where(ctx["tail_ok"], tail, ""), dtype=object)


def _recency(v: pd.DataFrame, ctx: pd.DataFrame) -> pd.Series:
    last14, streak = _col(v, "plays_last14_t"), _col(v, "longest_streak_days_t")
    gap = np.floor(np.nan_to_num(_col(v, "last_play_gap_days_t"), nan=0.0))
    trailing = (ctx["window"] == "trailing").to_numpy()
    count = np.where(last14 == 0, "no plays", _plural(last14, "play").to_numpy(dtype=object))
    month = ctx["span"].to_numpy(dtype=object)
    head = pd.Series(count, dtype=object) + pd.Series(
        np.where(trailing, " in the last 14 days", " in the last two weeks of " + month)
    )
    streak_part = np.where(
        (streak >= 3) & ctx["tail_ok"].to_numpy(),
        (", a " + _n(streak) + "-day streak").to_numpy(dtype=object),
        "",
    )
    days = _plural(gap, "day").to_numpy(dtype=object)
    when = np.where(
        trailing,
        np.select([gap < 1, gap < 2], ["today", "yesterday"], days + " ago"),
        np.where(gap < 1, "on its last day", days + " before " + month + " ended"),
    )
    return (
        head
        + pd.Series(streak_part, dtype=object)
        + ", last played "
        + pd.Series(when, dtype=object)
    )


def _discovery(v: pd.DataFrame, ctx: pd.DataFrame) -> pd.Series:
    since = np.floor(np.nan_to_num(_col(v, "days_since_first_seen"), nan=0.0))
    trailing = (ctx["window"] == "trailing").to_numpy()
    first = pd.to_datetime(ctx["first_seen_ts"].to_numpy(dtype="int64"), unit="s", utc=True)
    on_date = "discovered on " + pd.Series(first.strftime("%-d %b %Y"), dtype=object)
    ago = np.select(
        [since < 1, since < 2, since < 60],
        [
            "discovered today",
            "discovered yesterday",
            ("discovered " + _n(since) + " days ago").to_numpy(dtype=object),
        ],
        ("discovered " + _n(since / 30.44) + " months ago").to_numpy(dtype=object),
    )
    return pd.Series(np.where(trailing, ago, on_date.to_numpy(dtype=object)), dtype=object)


def _variety(v: pd.DataFrame, ctx: pd.DataFrame) -> pd.Series:
    tracks, albums = _col(v, "distinct_tracks_t"), _col(v, "distinct_albums_t")
    novel = np.rint(_col(v, "track_novelty_rate_t") * tracks)
    per_track = _col(v, "plays_per_track_t")
    head = _plural(tracks, "different track") + " from " + _plural(albums, "album")
    tail = np.select(
        [per_track >= 2.5, novel > 0],
        [
            (
                ", " + pd.Series(np.round(per_track, 1).astype(str)) + " plays each on average"
            ).to_numpy(dtype=object),
            (", " + _n(novel) + " of them new to you").to_numpy(dtype=object),
        ],
        "",
    )
    return head + pd.Series(np.where(ctx["tail_ok"], tail, ""), dtype=object)


def _standing(v: pd.DataFrame, ctx: pd.DataFrame) -> pd.Series:
    share, rank = _col(v, "share_t"), _col(v, "plays_rank_t")
    total = _col(v, "total_monthly_scrobbles")
    pct = pd.Series(np.round(share * 100, 1).astype(str)) + "% of your " + _n(total) + " plays "
    head = pct + "in " + ctx["span"]
    tail = np.where(
        np.isfinite(rank) & (rank > 0) & ctx["tail_ok"].to_numpy(),
        (", your #" + _n(np.nan_to_num(rank)) + " artist").to_numpy(dtype=object),
        "",
    )
    return head + pd.Series(tail, dtype=object)


PHRASES: dict[str, Callable[[pd.DataFrame, pd.DataFrame], pd.Series]] = {
    "activity": _activity,
    "recency": _recency,
    "discovery": _discovery,
    "variety": _variety,
    "standing": _standing,
}


def period_spans(rows: pd.DataFrame, window: pd.Series) -> pd.Series:
    """'the last 30 days' (trailing window) or 'October' (calendar month)."""
    months = pd.to_datetime(rows["month"].astype(object) + "-01", format="%Y-%m-%d")
    named = months.dt.strftime("%B").to_numpy(dtype=object)
    trailing = window.to_numpy() == "trailing"
    return pd.Series(np.where(trailing, "the last 30 days", named), index=rows.index, dtype=object)


def fallback_contributions(rows: pd.DataFrame) -> pd.DataFrame:
    """Signed robust z-scores of a few raw values: reasons for the fallback ranking (no model)."""
    out = pd.DataFrame(index=rows.index)
    for feature, sign in FALLBACK_SIGNS.items():
        x = rows[feature].to_numpy(dtype="float64", na_value=np.nan)
        med = np.nanmedian(x) if len(x) else 0.0
        spread = np.nanmedian(np.abs(x - med)) if len(x) else 1.0
        out[feature] = sign * np.nan_to_num((x - med) / (spread if spread > 0 else 1.0))
    return out


def agreeing(c: np.ndarray, groups: list[str]) -> np.ndarray:
    """Group contributions with the play-fact groups on the minority side zeroed (not shown)
    and discovery zeroed where it would be the only driver, unless it is all that lifts the
    artist above a typical new one (a prior that ranks the newly found first says so)."""
    above = c.sum(axis=1) > 0
    c = c.copy()
    facts = [groups.index(g) for g in PLAY_FACTS if g in groups]
    net = c[:, facts].sum(axis=1, keepdims=True)
    block = c[:, facts]
    block[np.where(net >= 0, block < 0, block > 0)] = 0.0
    c[:, facts] = block
    if "discovery" in groups:
        d = groups.index("discovery")
        others = np.delete(c, d, axis=1)
        alone = (c[:, d] > 0) & ~(others > 0).any(axis=1) & ~above
        c[alone, d] = 0.0
    return c


def _ranked(c: np.ndarray, groups: list[str], top: int):
    """(row, group, position) of each shown reason: drivers strongest first (discovery last
    among them), then the strongest drags; groups with nothing to say are left out."""
    key = np.where(c > 0, -c, 1e12 + c)
    if "discovery" in groups:
        d = groups.index("discovery")
        key[:, d] = np.where(c[:, d] > 0, -1e-300, key[:, d])
    key[c == 0] = np.inf
    order = np.argsort(key, axis=1, kind="stable")[:, : min(top, len(groups))]
    n, k = order.shape
    row_i = np.repeat(np.arange(n), k)
    g_i = order.ravel()
    shown = c[row_i, g_i] != 0
    pos = np.tile(np.arange(k), n)
    return row_i[shown], g_i[shown], pos[shown]


def _tail_sums(contributions: pd.DataFrame, groups: list[str]) -> np.ndarray:
    """Per row and group, the summed contribution of the features behind its tail."""
    out = np.zeros((len(contributions), len(groups)))
    for gi, name in enumerate(groups):
        cols = [f for f in TAILS.get(name, []) if f in contributions]
        if cols:
            out[:, gi] = contributions[cols].to_numpy(dtype="float64").sum(axis=1)
    return out


def explain(
    rows: pd.DataFrame, contributions: pd.DataFrame, top: int = 3, window: str | pd.Series = "month"
) -> pd.DataFrame:
    """Top `top` reasons per row of `rows`: row (its index label), position, feature, value,
    contribution, sentence."""
    if rows.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in REASON_COLUMNS})
    known = [c for c in contributions.columns if c != "bias"]
    groups = list(GROUPS)
    per_group = (contributions[known].T.groupby([group_of(c) for c in known]).sum().T).reindex(
        columns=groups, fill_value=0.0
    )
    c = agreeing(per_group.to_numpy(dtype="float64"), groups)
    row_i, g_i, pos = _ranked(c, groups, top)
    tails = _tail_sums(contributions, groups)[row_i, g_i]
    tail_ok = (tails == 0) | (np.sign(tails) == np.sign(c[row_i, g_i]))
    win = window if isinstance(window, pd.Series) else pd.Series(window, index=rows.index)
    ctx = pd.DataFrame(
        {
            "window": win.astype(object).to_numpy(),
            "span": period_spans(rows, win).to_numpy(),
            "first_seen_ts": rows["first_seen_ts"].to_numpy(dtype="int64"),
        }
    )
    sentence = np.empty(len(g_i), dtype=object)
    feature = np.empty(len(g_i), dtype=object)
    value = np.full(len(g_i), np.nan)
    for gi, name in enumerate(groups):
        hit = np.flatnonzero(g_i == gi)
        if not len(hit):
            continue
        sub_rows = rows.iloc[row_i[hit]].reset_index(drop=True)
        sub_ctx = ctx.iloc[row_i[hit]].reset_index(drop=True).assign(tail_ok=tail_ok[hit])
        sentence[hit] = PHRASES[name](sub_rows, sub_ctx).to_numpy(dtype=object)
        headline = GROUPS[name][0]
        feature[hit] = headline
        value[hit] = _col(sub_rows, headline)
    return pd.DataFrame(
        {
            "row": rows.index.to_numpy()[row_i],
            "position": pos + 1,
            "feature": feature,
            "value": value,
            "contribution": c[row_i, g_i],
            # the features behind the sentence's tail: 0 when it has none, NaN when not shown
            "tail": np.where(tail_ok, tails, np.nan),
            "sentence": sentence,
        }
    )
