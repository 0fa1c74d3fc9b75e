"""A seeded, plausible listener: core rotation, monthly discoveries, a few breakouts."""

from __future__ import annotations

import time
from datetime import datetime

import numpy as np
import pandas as pd

from pipeline.periods import DAY

MONTH_DAYS = 30.44

_FIRST = ["Mia", "Jonas", "Lena", "Omar", "Ines", "Theo", "Nora", "Kai", "Ada", "Luca", "Zoe"]
_LAST = ["Varga", "Holm", "Okafor", "Reyes", "Lindqvist", "Moreau", "Tanaka", "Novak", "Silva"]
_ADJ = ["Velvet", "Hollow", "Electric", "Paper", "Golden", "Quiet", "Neon", "Wild", "Lunar"]
_NOUN = ["Tides", "Foxes", "Engines", "Rivers", "Ghosts", "Lanterns", "Pines", "Signals", "Moths"]
_WORD = ["Night", "Glass", "Summer", "Echo", "Harbor", "Static", "Bloom", "Drift", "Fever"]
# Names with HTML-sensitive characters and non-ASCII letters, as real libraries have.
SPECIAL_NAMES = [
    "Simon & Garfunkel",
    'Mo "Kid" Rivera',
    "Hazel & The <Wolves>",
    "Sigur Rós Tribute",
    "Anna's Garden",
    "AC/DC <3 Fans",
]


def _names(rng: np.random.Generator, n: int) -> list[str]:
    """`n` distinct (case-insensitively) artist names, the special ones first in a random order."""
    seen: set[str] = set()
    out: list[str] = []
    for name in rng.permutation(SPECIAL_NAMES).tolist():
        seen.add(name.casefold())
        out.append(name)
    while len(out) < n:
        kind = rng.integers(4)
        if kind == 0:
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        elif kind == 1:
            name = f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)}"
        elif kind == 2:
            name = f"{rng.choice(_WORD)} & {rng.choice(_NOUN)}"
        else:
            name = f"{rng.choice(_ADJ)} {rng.choice(_WORD)} {rng.integers(2, 99)}"
        if name.casefold() not in seen:
            seen.add(name.casefold())
            out.append(name)
    return out[:n]


def _ramp(
    days: np.ndarray,
    start: np.ndarray,
    base: np.ndarray,
    growth: np.ndarray,
    cap: np.ndarray,
    length: np.ndarray,
    decay: np.ndarray,
) -> np.ndarray:
    """Daily rates: base·growth^k from `start`, capped, for `length` days, then decaying."""
    k = days[None, :] - start[:, None]
    rising = np.minimum(base[:, None] * growth[:, None] ** np.clip(k, 0, 400), cap[:, None])
    after = np.clip(k - length[:, None], 0, None)
    rate = rising * np.exp(-after / decay[:, None])
    return np.where(k >= 0, rate, 0.0)


def simulate_listener(
    seed: int, months: int = 36, end: datetime | float | None = None
) -> pd.DataFrame:
    """Scrobbles (ts, artist, track, album, mbids "") of a simulated listener, ending at `end`.

    Deterministic for a given (seed, months, end); `end` defaults to now so the history is fresh.
    """
    if months < 1:
        raise ValueError("months must be at least 1")
    rng = np.random.default_rng(seed)
    if isinstance(end, datetime):
        end = end.timestamp()
    end_ts = int(time.time() if end is None else end)
    n_days = round(months * MONTH_DAYS)
    days = np.arange(n_days)
    first_day_ts = end_ts - n_days * DAY

    # Monthly volume 800-2000 scrobbles, more on weekends.
    month_of_day = (days / MONTH_DAYS).astype(int)
    level = rng.uniform(750, 1450, month_of_day.max() + 1)[month_of_day] / MONTH_DAYS
    weekday = (first_day_ts // DAY + days + 3) % 7  # 0 = Monday
    level = level * np.where(weekday >= 5, 1.25, 0.9)

    disc_rate = _discovery_rates(rng, days, months)
    n_disc = disc_rate.shape[0]
    core_rate, back_rate = _rotation_rates(rng, days, month_of_day, level, disc_rate)
    n_core, n_back = core_rate.shape[0], back_rate.shape[0]

    rate = np.vstack([core_rate, back_rate, disc_rate])
    rate = rate * np.minimum(1.0, 1.1 * level / rate.sum(axis=0))  # keep the volume plausible
    counts = rng.poisson(rate)
    n_artists = rate.shape[0]
    artist_idx, day_idx = np.nonzero(counts)
    reps = counts[artist_idx, day_idx]
    artist_idx = np.repeat(artist_idx, reps)
    day_idx = np.repeat(day_idx, reps)
    n = len(artist_idx)
    hour = rng.choice(24, n, p=_hour_weights())
    ts = first_day_ts + day_idx * DAY + hour * 3600 + rng.integers(0, 3600, n)

    # Special names: the two fresh breakouts, one core artist, random discoveries.
    names = np.asarray(_names(rng, n_artists), dtype=object)
    others = rng.choice(np.arange(n_core + n_back, n_artists - 2), len(SPECIAL_NAMES) - 3, False)
    slots = np.r_[n_artists - 2, n_artists - 1, 0, others]
    rest_slots = np.setdiff1d(np.arange(n_artists), slots)
    artist_names = np.empty(n_artists, dtype=object)
    artist_names[np.r_[slots, rest_slots]] = names

    catalog = np.r_[
        rng.integers(40, 120, n_core), rng.integers(8, 40, n_back), rng.integers(4, 25, n_disc)
    ]
    track_idx = (catalog[artist_idx] * rng.random(n) ** 1.8).astype(int)
    frame = pd.DataFrame({"ts": ts.astype("int64"), "a": artist_idx, "t": track_idx})
    frame = frame[frame["ts"] < end_ts].sort_values("ts", kind="stable").reset_index(drop=True)
    return _with_names(frame, artist_names)


def _discovery_rates(rng: np.random.Generator, days: np.ndarray, months: int) -> np.ndarray:
    """Daily play rates (discovery x day) of the newly discovered artists."""
    n_days = len(days)
    # Discoveries: ~26 new artists a month; kinds one-off, fade, linger, false start, breakout.
    n_disc = int(rng.poisson(26 * months))
    start = np.sort(rng.integers(0, n_days, n_disc))
    kind = rng.choice(5, n_disc, p=[0.5, 0.3, 0.1, 0.04, 0.06])
    fresh = [n_days - 11, n_days - 19]  # two fresh breakouts so the demo shows recent candidates
    start = np.r_[start, fresh]
    kind = np.r_[kind, [4, 4]]
    n_disc = len(start)
    base = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3],
        [
            rng.uniform(0.9, 1.6, n_disc),
            rng.uniform(1.0, 2.2, n_disc),
            rng.uniform(0.4, 0.8, n_disc),
            rng.uniform(0.3, 0.5, n_disc),
        ],
        rng.uniform(0.3, 0.55, n_disc),
    )
    growth = np.select(
        [kind == 3, kind == 4],
        [rng.uniform(1.05, 1.09, n_disc), rng.uniform(1.05, 1.09, n_disc)],
        1.0,
    )
    cap = np.where(kind == 4, rng.uniform(1.2, 2.8, n_disc), 3.0)
    length = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3],
        [
            np.zeros(n_disc),
            rng.uniform(0, 3, n_disc),
            rng.uniform(10, 40, n_disc),
            rng.uniform(12, 24, n_disc),
        ],
        rng.uniform(60, 300, n_disc),
    )
    decay = np.select(
        [kind == 0, kind == 1],
        [np.full(n_disc, 0.6), rng.uniform(1.5, 4, n_disc)],
        rng.uniform(6, 30, n_disc),
    )
    disc_rate = _ramp(days, start, base, growth, cap, length, decay)
    disc_rate[np.arange(n_disc), start] = np.maximum(disc_rate[np.arange(n_disc), start], 1.0)
    return disc_rate


def _rotation_rates(
    rng: np.random.Generator,
    days: np.ndarray,
    month_of_day: np.ndarray,
    level: np.ndarray,
    disc_rate: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Daily play rates of the core rotation and of the back catalog (artist x day)."""
    n_days = len(days)
    # Back catalog: artists played now and then, first heard before or early in the history.
    n_back = 120
    back_rate = np.broadcast_to(rng.gamma(0.6, 0.06, n_back)[:, None], (n_back, n_days))

    # Core rotation: a dozen favourites sharing what the rest leaves, drifting month to month.
    n_core = 12
    weights = rng.dirichlet(np.full(n_core, 2.0)) + 0.03
    drift = np.exp(np.cumsum(rng.normal(0, 0.25, (n_core, month_of_day.max() + 1)), axis=1))
    alive = days[None, :] < rng.integers(n_days // 2, n_days * 2, n_core)[:, None]
    share = weights[:, None] * drift[:, month_of_day] * alive
    share = share / share.sum(axis=0, keepdims=True)
    rest = disc_rate.sum(axis=0) + back_rate.sum(axis=0)
    core_rate = share * np.maximum(level - rest, 0.4 * level)
    return core_rate, back_rate


def _hour_weights() -> np.ndarray:
    w = np.array([2, 1, 0.5, 0.2, 0.1, 0.1, 0.5, 2, 4, 4, 3, 3, 4, 4, 3, 3, 4, 5, 6, 7, 8, 8, 6, 4])
    return w / w.sum()


def _with_names(frame: pd.DataFrame, artist_names: np.ndarray) -> pd.DataFrame:
    """Attach artist, track and album names (formatted once per distinct track)."""
    pairs = frame[["a", "t"]].drop_duplicates()
    words = np.asarray(_WORD + _NOUN + _ADJ, dtype=object)
    w1 = words[(pairs["a"].to_numpy() * 7 + pairs["t"].to_numpy() * 3) % len(words)]
    w2 = words[(pairs["a"].to_numpy() * 5 + pairs["t"].to_numpy() * 11 + 1) % len(words)]
    pairs = pairs.assign(
        track=[
            f"{x} {y}" if t % 4 else f"{x} of {y}"
            for x, y, t in zip(w1, w2, pairs["t"], strict=True)
        ],
        album=[
            ""
            if (a + t) % 23 == 0
            else f"{words[(a + t // 10) % len(words)]} Sessions {t // 10 + 1}"
            for a, t in zip(pairs["a"], pairs["t"], strict=True)
        ],
    )
    frame = frame.merge(pairs, on=["a", "t"], how="left")
    return pd.DataFrame(
        {
            "ts": frame["ts"].to_numpy(dtype="int64"),
            "artist": pd.Series(artist_names[frame["a"].to_numpy()], dtype=object),
            "track": frame["track"].astype(object).to_numpy(),
            "album": frame["album"].astype(object).to_numpy(),
            "artist_mbid": "",
            "track_mbid": "",
            "album_mbid": "",
        }
    )
