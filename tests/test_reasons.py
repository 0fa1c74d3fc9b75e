"""Reasons: grouped, plain sentences, positives first, safe to put in HTML."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

from pipeline.features import ALL_FEATURES, FEATURES
from pipeline.reasons import (
    FEATURE_GROUP,
    GROUPS,
    PLAY_FACTS,
    explain,
    fallback_contributions,
    group_of,
)

FEATURE_NAME = re.compile("|".join(re.escape(f) for f in ALL_FEATURES) + r"|_")


def _row(**values: float) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(ALL_FEATURES, 0.0)
    row.update(artist_key="x", artist="X", month="2026-10", period=10, first_seen_ts=1_790_000_000)
    row.update(values)
    return row


def _rows(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), index=[10 + i for i in range(len(rows))])


def test_every_model_feature_belongs_to_one_group() -> None:
    assert set(FEATURES) <= set(FEATURE_GROUP)
    for headline, members in GROUPS.values():
        assert headline in members
    # a feature added later still lands in a sensible group instead of being dropped
    assert group_of("distinct_tracks_last7_t") == "variety"
    assert group_of("weekend_plays_t") == "activity"


def test_activity_sentence_reads_like_a_person_wrote_it() -> None:
    rows = _rows(_row(plays_t=14, days_active_t=5, plays_prev3_mean=3.5, months_since_first_seen=2))
    contributions = pd.DataFrame(0.0, index=rows.index, columns=[*FEATURES, "bias"])
    contributions["plays_t"] = 1.2
    contributions["ratio_to_prev3"] = 0.4
    contributions["days_since_first_seen"] = -0.3
    out = explain(rows, contributions, top=2)
    assert out["sentence"].iloc[0] == (
        "14 plays on 5 different days in October, 4× your previous 3-month average"
    )
    assert out["contribution"].iloc[0] == np.float64(1.6)  # grouped: plays + growth
    assert out["row"].tolist() == [10, 10]
    assert out["position"].tolist() == [1, 2]


def test_positive_drivers_come_first_then_the_strongest_drag() -> None:
    rows = _rows(_row(plays_last14_t=6, last_play_gap_days_t=0.5, distinct_tracks_t=4))
    contributions = pd.DataFrame(0.0, index=rows.index, columns=FEATURES)
    contributions["plays_last14_t"] = 0.2
    contributions["distinct_tracks_t"] = 0.9
    contributions["share_t"] = -0.05
    contributions["days_since_first_seen"] = -0.8
    out = explain(rows, contributions, top=3, window="trailing")
    assert out["feature"].tolist() == [
        "distinct_tracks_t",
        "plays_last14_t",
        "days_since_first_seen",
    ]
    assert out["sentence"].iloc[1] == "6 plays in the last 14 days, last played today"
    assert (out["contribution"].iloc[:2] > 0).all() and out["contribution"].iloc[2] < 0


def test_sentences_have_no_feature_names_and_need_no_escaping() -> None:
    rng = np.random.default_rng(0)
    rows = _rows(
        *[
            _row(
                **{
                    f: float(v)
                    for f, v in zip(FEATURES, rng.integers(0, 40, len(FEATURES)), strict=True)
                }
            )
            for _ in range(30)
        ]
    )
    rows["share_t"] = rows["share_t"] / 100
    rows["track_novelty_rate_t"] = rows["track_novelty_rate_t"] / 40
    contributions = pd.DataFrame(
        rng.normal(size=(30, len(FEATURES))), index=rows.index, columns=FEATURES
    )
    for window in ("month", "trailing"):
        out = explain(rows, contributions, top=5, window=window)
        per_row = out.groupby("row")["position"].apply(list)
        assert all(p == list(range(1, len(p) + 1)) for p in per_row) and len(per_row) == 30
        for sentence in out["sentence"]:
            assert sentence and not FEATURE_NAME.search(sentence), sentence
            assert html.escape(sentence) == sentence
            assert "nan" not in sentence.lower()


def test_fallback_reasons_come_from_raw_values() -> None:
    rows = _rows(
        _row(plays_t=12, days_active_t=8, plays_last14_t=9, distinct_tracks_t=6, share_t=0.01),
        _row(plays_t=3, days_active_t=1, plays_last14_t=0, distinct_tracks_t=1, share_t=0.002),
        _row(plays_t=5, days_active_t=3, plays_last14_t=2, distinct_tracks_t=2, share_t=0.004),
    )
    out = explain(rows, fallback_contributions(rows), top=2, window="trailing")
    strong = out[out["row"] == 10]
    weak = out[out["row"] == 11]
    assert (strong["contribution"] > 0).all()
    assert (weak["contribution"] < 0).all()
    assert strong["sentence"].iloc[0].startswith("12 plays on 8 different days in the last 30 days")


def test_no_rows_no_reasons() -> None:
    rows = _rows(_row()).iloc[:0]
    assert explain(rows, pd.DataFrame(columns=FEATURES)).empty


def assert_reasons_agree(reasons: pd.DataFrame) -> int:
    """No candidate has play facts on both sides, discovery as its main reason (unless it is all
    that lifts the artist), a group twice, or numbers that disagree; returns how many candidates
    were checked."""
    group = reasons["feature"].map(group_of)
    frame = reasons.assign(group=group.to_numpy(), up=(reasons["contribution"] > 0).to_numpy())
    key = ["window", "artist_key"] if "window" in frame else ["row"]
    checked = 0
    for _, one in frame.groupby(key):
        checked += 1
        assert one["group"].is_unique, one
        assert one["position"].tolist() == list(range(1, len(one) + 1)), one
        facts = one[one["group"].isin(PLAY_FACTS)]
        assert facts["up"].nunique() <= 1, facts[["sentence", "contribution"]]
        drivers = one[one["up"]]
        if not drivers.empty and drivers["group"].iloc[0] == "discovery":  # all that lifts it
            assert len(drivers) == 1, one["sentence"].tolist()
        assert (one["contribution"] != 0).all()
        by_group = dict(zip(one["group"], one["sentence"], strict=True))
        if "activity" in by_group and "recency" in by_group:
            plays = int(re.match(r"([\d,]+) play", by_group["activity"]).group(1).replace(",", ""))
            recent = re.match(r"([\d,]+) play", by_group["recency"])
            assert recent is None or int(recent.group(1).replace(",", "")) <= plays, by_group
        for sentence in one["sentence"]:
            assert sentence and not FEATURE_NAME.search(sentence), sentence
            assert html.escape(sentence) == sentence and "nan" not in sentence.lower()
    return checked


def test_the_same_plays_are_never_a_reason_and_a_drag() -> None:
    # The case: recent plays push up, the month's few active days pull down.
    rows = _rows(_row(plays_t=7, days_active_t=2, plays_last14_t=4, last_play_gap_days_t=1.5))
    contributions = pd.DataFrame(0.0, index=rows.index, columns=FEATURES)
    contributions["last_play_gap_days_t"] = 0.5  # recency
    contributions["days_active_t"] = -0.3  # activity
    contributions["months_since_first_seen"] = -0.2  # discovery
    out = explain(rows, contributions, top=3, window="trailing")
    assert out["sentence"].tolist() == [
        "4 plays in the last 14 days, last played yesterday",
        "discovered today",
    ]
    assert not out["sentence"].str.contains("2 different days").any()
    assert out["contribution"].iloc[0] > 0 and (out["contribution"].iloc[1:] < 0).all()
    # the other way round: the drag side wins when the play facts sum below zero
    contributions["days_active_t"] = -0.9
    out = explain(rows, contributions, top=3, window="trailing")
    assert out["sentence"].iloc[0].startswith("7 plays on 2 different days")
    assert not out["sentence"].str.contains("last 14 days").any()
    assert_reasons_agree(out)


def test_discovery_is_the_main_reason_only_when_nothing_else_lifts_the_artist() -> None:
    rows = _rows(
        _row(plays_t=5, days_active_t=3, days_since_first_seen=24),
        _row(plays_t=4),
        _row(plays_t=4, days_since_first_seen=24),
    )
    contributions = pd.DataFrame(0.0, index=rows.index, columns=FEATURES)
    contributions["months_since_first_seen"] = 2.0
    contributions.loc[10, "core_progress_t"] = 0.2
    contributions.loc[11, "core_progress_t"] = -2.4
    contributions.loc[12, "core_progress_t"] = -0.4
    out = explain(rows, contributions, top=3, window="trailing")
    first = out[out["row"] == 10]
    assert first["feature"].tolist() == ["plays_t", "days_since_first_seen"]
    assert first["sentence"].iloc[1] == "discovered 24 days ago"
    # as the only driver of an artist below a typical new one it is not shown at all
    assert out.loc[out["row"] == 11, "feature"].tolist() == ["plays_t"]
    assert (out.loc[out["row"] == 11, "contribution"] < 0).all()
    # but when it is all that lifts the artist above one, it is said first
    lifted = out[out["row"] == 12]
    assert lifted["feature"].tolist() == ["days_since_first_seen", "plays_t"]
    assert lifted["sentence"].iloc[0] == "discovered 24 days ago"


def test_the_habit_group_is_gone() -> None:
    assert "habit" not in GROUPS
    assert group_of("user_breakout_rate_similar") != "habit"
