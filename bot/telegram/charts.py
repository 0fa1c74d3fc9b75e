"""PNG charts for cards (matplotlib Agg; call through asyncio.to_thread)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

BAR, CUMULATIVE, CORE = "#3b7dd8", "#2a9d5c", "#d8553b"


def daily_plays_png(
    days: Sequence[datetime], plays: Sequence[int], title: str, core_bar: int | None
) -> bytes:
    """Daily plays as bars; this month's running total and the plays needed for core as lines."""
    figure = Figure(figsize=(8, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    positions = list(range(len(days)))
    axes.bar(positions, plays, color=BAR, label="plays per day")
    this_month = [
        i for i, d in enumerate(days) if (d.year, d.month) == (days[-1].year, days[-1].month)
    ]
    if this_month:
        running, total = [], 0
        for i in this_month:
            total += plays[i]
            running.append(total)
        axes.step(this_month, running, where="mid", color=CUMULATIVE, label="this month so far")
        if core_bar is not None:
            axes.hlines(
                core_bar,
                this_month[0] - 0.5,
                this_month[-1] + 0.5,
                colors=CORE,
                linestyles="--",
                linewidth=1.2,
                label=f"core this month: {core_bar} plays",
            )
    step = max(1, len(days) // 10)
    labels = [f"{d.day} {d:%b}" for d in days]
    axes.set_xticks(positions[::step], labels[::step], rotation=45, ha="right")
    axes.set_ylabel("plays")
    axes.set_title(title, parse_math=False)  # "$uicideboy$" is a name, not TeX
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(loc="upper left", frameon=False, fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
