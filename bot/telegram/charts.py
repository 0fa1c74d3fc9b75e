"""PNG charts for cards and /record (matplotlib Agg; call through asyncio.to_thread).

Sized for a phone: 800 px wide, no text under 14 pt (19 px at 100 dpi), so it stays legible
when Telegram shrinks the picture to the width of the screen.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import accumulate

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pipeline.periods import add_months, month_code
from pipeline.record import MonthOutcomes, TrackRecord

BAR, CUMULATIVE, CORE, TRACK = "#3b7dd8", "#2a9d5c", "#d8553b", "#e6e6e6"
SAID, MISSED, OPEN = "#9a9a9a", "#c9c9c9", "#f0c05a"
WIDTH, DPI = 8.0, 100  # inches, dots per inch: 800 px
TEXT, SMALL, BIG = 15, 14, 18  # points
MIN_LABELLED_DAYS = 5  # a month with fewer days in the chart gets no name and no core bar


def _figure(height: float, rows: int, ratios: Sequence[float]) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(WIDTH, height), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, 1, gridspec_kw={"height_ratios": list(ratios)}, squeeze=False)
    return figure, [a for row in axes for a in row]


def _png(figure: Figure) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _plain(axes: Axes) -> None:
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(labelsize=SMALL)


def _progress_bar(axes: Axes, month_plays: int, core_bar: int | None, month: str) -> None:
    """This month against the core bar: '5 of 8 plays', a bar filled that far."""
    axes.set_axis_off()
    if core_bar is None:
        axes.text(0, 0.5, f"{month}: {month_plays} plays so far", fontsize=BIG, va="center")
        return
    done = min(month_plays, core_bar) / core_bar
    axes.barh(0, 1, height=0.5, color=TRACK)
    axes.barh(0, done, height=0.5, color=CUMULATIVE if month_plays >= core_bar else BAR)
    axes.set_xlim(0, 1)
    axes.set_ylim(-0.5, 1.3)
    words = (
        f"{month}: {month_plays} of {core_bar} plays — core already"
        if month_plays >= core_bar
        else f"{month}: {month_plays} of {core_bar} plays needed for core"
    )
    axes.text(0, 0.62, words, fontsize=BIG, fontweight="bold", va="bottom")


def _months(days: Sequence[datetime]) -> list[tuple[str, list[int]]]:
    """(YYYY-MM, positions) of each month the days cover, oldest first."""
    out: dict[str, list[int]] = {}
    for i, d in enumerate(days):
        out.setdefault(f"{d.year:04d}-{d.month:02d}", []).append(i)
    return list(out.items())


def _daily(
    axes: Axes, days: Sequence[datetime], plays: Sequence[int], bars: Mapping[str, int]
) -> None:
    """Daily plays; each month's running total against that month's core bar."""
    axes.bar(range(len(days)), plays, color=BAR, width=0.8, label="plays that day")
    top, shown_bar = max([*plays, 1]), None
    for n, (month, positions) in enumerate(_months(days)):
        running = list(accumulate(plays[i] for i in positions))
        top = max(top, running[-1])
        label = "month's running total" if n == 0 else None
        axes.step(positions, running, where="mid", color=CUMULATIVE, linewidth=2.2, label=label)
        bar = bars.get(month)
        wide = len(positions) >= MIN_LABELLED_DAYS
        if bar is not None and wide:
            top = max(top, bar)
            axes.hlines(bar, positions[0] - 0.5, positions[-1] + 0.5, colors=CORE, linewidth=2)
            if bar != shown_bar:  # the same bar again needs no second label
                axes.text(
                    positions[0], bar, f" core: {bar}", color=CORE, fontsize=SMALL, va="bottom"
                )
            shown_bar = bar
        if positions[0] > 0:
            axes.axvline(positions[0] - 0.5, color="#bbbbbb", linewidth=1)
        if wide:
            name = days[positions[0]].strftime("%B" if len(positions) >= 12 else "%b")
            where = axes.get_xaxis_transform()
            axes.text(positions[0], 1.0, f" {name}", transform=where, fontsize=SMALL, color="#555")
    axes.set_ylim(0, top * 1.15 + 1)
    step = max(1, len(days) // 6)
    ticks = list(range(len(days)))[::-step][::-1]
    axes.set_xticks(ticks, [f"{days[i].day} {days[i]:%b}" for i in ticks])
    axes.set_xlim(-0.7, len(days) - 0.3)
    axes.set_ylabel("plays", fontsize=TEXT)
    axes.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2, frameon=False, fontsize=SMALL
    )
    _plain(axes)


def daily_plays_png(
    days: Sequence[datetime],
    plays: Sequence[int],
    title: str,
    core_bar: int | None,
    month_bars: Mapping[str, int] | None = None,
) -> bytes:
    """This month's plays against the core bar as a progress bar, above the daily plays of
    the window with each month's running total and core bar (red)."""
    figure, (head, body) = _figure(6.0, 2, (1, 4))
    month = f"{days[-1].year:04d}-{days[-1].month:02d}"
    this_month = sum(plays[i] for i in dict(_months(days))[month])
    bars = {**(month_bars or {}), **({month: core_bar} if core_bar is not None else {})}
    _progress_bar(head, this_month, core_bar, days[-1].strftime("%B"))
    _daily(body, days, plays, bars)
    figure.suptitle(title, fontsize=BIG, x=0.02, ha="left", parse_math=False)
    return _png(figure)


def _band_label(low: float, high: float) -> str:
    if low == 0:
        return f"under {high:.0%}"
    return f"{low:.0%} or more" if high >= 1 else f"{low:.0%}–{high:.0%}"


def percent_ticks(top: float) -> list[float]:
    """Ticks of a percentage axis drawn up to `top`: none above 100 % (the room above it holds
    the legend, not values)."""
    shown = min(top, 100.0)
    locator = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10])
    return [float(t) for t in locator.tick_values(0, shown) if 0 <= t <= shown]


def _reliability(axes: Axes, record: TrackRecord) -> None:
    """For each band of odds: what I said on average beside what came true."""
    bands = record.bands
    x = range(len(bands))
    said = [b.predicted * 100 for b in bands]
    true = [b.observed * 100 for b in bands]
    axes.bar([i - 0.2 for i in x], said, width=0.4, color=SAID, label="odds I gave")
    axes.bar([i + 0.2 for i in x], true, width=0.4, color=BAR, label="share that became core")
    for i, b in enumerate(bands):
        axes.text(i + 0.2, true[i], f"{b.observed:.0%}", ha="center", va="bottom", fontsize=SMALL)
    labels = [f"{_band_label(b.low, b.high)}\n{b.predictions} artists" for b in bands]
    axes.set_xticks(list(x), labels)
    axes.set_ylabel("%", fontsize=TEXT)
    top = max([*said, *true, 1]) * 1.6  # room for the legend above the bars
    axes.set_ylim(0, top)
    axes.set_yticks(percent_ticks(top))
    axes.set_title("How my odds held up", fontsize=TEXT, loc="left")
    axes.legend(loc="upper left", frameon=False, fontsize=SMALL)
    _plain(axes)


def _by_month(axes: Axes, record: TrackRecord) -> None:
    """Flagged artists per month (months without a flag included), stacked by outcome."""
    given = {m.month: m for m in record.by_month}
    first, last = record.by_month[0].month, record.by_month[-1].month
    months = [add_months(first, i) for i in range(month_code(last) - month_code(first) + 1)]
    rows = [given.get(m, MonthOutcomes(m, 0, 0, 0)) for m in months]
    x = list(range(len(rows)))
    core = [m.core for m in rows]
    missed = [m.not_core for m in rows]
    still = [m.open for m in rows]
    below = [a + b for a, b in zip(core, missed, strict=True)]
    axes.bar(x, core, color=CUMULATIVE, label="became core")
    axes.bar(x, missed, bottom=core, color=MISSED, label="didn't")
    axes.bar(x, still, bottom=below, color=OPEN, label="still open")
    step = max(1, -(-len(rows) // 6))
    ticks = x[::-step][::-1]
    names = [datetime.strptime(rows[i].month, "%Y-%m") for i in ticks]
    axes.set_xticks(ticks, [f"{d:%b}\n{d:%Y}" for d in names])
    axes.set_xlim(-0.6, max(len(rows), 6) - 0.4)
    axes.set_ylabel("artists", fontsize=TEXT)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_title("Artists I flagged, by month", fontsize=TEXT, loc="left")
    axes.legend(loc="upper left", frameon=False, fontsize=SMALL, ncols=3)
    top = max([a + b for a, b in zip(below, still, strict=True)] + [1])
    axes.set_ylim(0, top * 1.35 + 0.5)
    _plain(axes)


def record_png(record: TrackRecord) -> bytes | None:
    """How the odds held up by band, and the flagged artists' outcomes by month; None when
    there is nothing to draw."""
    panels = [p for p, ok in ((_reliability, record.bands), (_by_month, record.by_month)) if ok]
    if not panels:
        return None
    figure, axes = _figure(4.2 * len(panels), len(panels), [1] * len(panels))
    for draw, ax in zip(panels, axes, strict=True):
        draw(ax, record)
    return _png(figure)
