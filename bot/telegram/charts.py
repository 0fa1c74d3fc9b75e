"""PNG chart of an artist's monthly plays (matplotlib Agg; call through asyncio.to_thread)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def monthly_plays_png(
    months: Sequence[str], plays: Sequence[int], title: str, threshold: int | None = None
) -> bytes:
    """Bar chart of plays per month; `threshold` draws the core-artist line."""
    figure = Figure(figsize=(8, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    positions = range(len(months))
    axes.bar(positions, plays, color="#3b7dd8")
    if threshold is not None:
        axes.axhline(threshold, color="#d8553b", linestyle="--", linewidth=1, label="core")
        axes.legend(loc="upper left", frameon=False)
    step = max(1, len(months) // 12)
    axes.set_xticks(list(positions)[::step], list(months)[::step], rotation=45, ha="right")
    axes.set_ylabel("plays")
    axes.set_title(title, parse_math=False)  # "$uicideboy$" is a name, not TeX
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
