"""How one table value reads as text, shared by the Markdown, LaTeX and HTML outputs.

A cell reads ``rate [low, high] k/n`` (percent, 95% Wilson), followed by
``err E`` when episodes errored and ``missing M`` (or ``missing ?`` when the
plan is unknown); an empty cell with nothing planned reads ``-``.
"""

from __future__ import annotations

from leaderboards.cell import Cell
from leaderboards.table_model import MarkedCell, PublishedRate, Value


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def cell_parts(cell: Cell) -> tuple[str, str, str]:
    """(rate, interval, counts) strings of a cell."""
    if cell.n == 0:
        rate, interval = "-", ""
    else:
        lo, hi = cell.interval
        rate, interval = pct(cell.rate), f"[{pct(lo)}, {pct(hi)}]"
    counts = [f"{cell.successes}/{cell.n}"]
    if cell.errors:
        counts.append(f"err {cell.errors}")
    if cell.missing is None:
        counts.append("missing ?")
    elif cell.missing:
        counts.append(f"missing {cell.missing}")
    return rate, interval, ", ".join(counts)


def value_text(value: Value) -> str:
    """Plain text of any table value."""
    if value is None:
        return ""
    if isinstance(value, MarkedCell):
        return f"{value_text(value.cell)} {value.mark}"
    if isinstance(value, Cell):
        if value.empty and value.missing is not None:
            return "-"
        return " ".join(p for p in cell_parts(value) if p)
    if isinstance(value, PublishedRate):
        return f"{value.percent:.1f}"
    return str(value)
