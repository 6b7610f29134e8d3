"""Static PNG figures (matplotlib Agg): cross-embodiment heatmaps and ablation curves."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from leaderboards.ablation import Curve  # noqa: E402
from leaderboards.cross_embodiment import HELD_OUT, TRAINED  # noqa: E402

PNG_METADATA = {"Software": None}  # no matplotlib version stamp: same data, same bytes


def heatmap_png(path: Path, title: str, tasks: list[str], embodiments: list[str], cells: dict) -> Path:
    """Tasks x embodiments success heatmap; held-out cells hatched, labels give rate, n and mark."""
    grid = np.full((len(tasks), len(embodiments)), np.nan)
    for (task, emb), (cell, _) in cells.items():
        if cell.rate is not None:
            grid[tasks.index(task), embodiments.index(emb)] = 100 * cell.rate
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(embodiments), 1.2 + 0.55 * len(tasks)), dpi=100)
    im = ax.imshow(np.ma.masked_invalid(grid), vmin=0, vmax=100, cmap="viridis", aspect="auto")
    for (task, emb), (cell, mark) in cells.items():
        i, j = tasks.index(task), embodiments.index(emb)
        if mark == HELD_OUT:
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", edgecolor="white", lw=0))
        tag = {TRAINED: "T", HELD_OUT: "H"}.get(mark, "?")
        text = f"{grid[i, j]:.0f}%\nn={cell.n} {tag}" if cell.rate is not None else f"n=0 {tag}"
        ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if np.isnan(grid[i, j]) or grid[i, j] < 60 else "black")
    ax.set_xticks(range(len(embodiments)), embodiments, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(tasks)), tasks, fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="success %")
    fig.tight_layout()
    fig.savefig(path, metadata=PNG_METADATA)
    plt.close(fig)
    return path


def curves_png(path: Path, title: str, xlabel: str, curves: Sequence[Curve]) -> Path:
    """Success vs a factor, one line per curve, with 95% Wilson bands."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=100)
    for c in curves:
        xs = np.array(c.xs, dtype=float)
        rate = np.array([100 * (x.rate if x.rate is not None else np.nan) for x in c.cells])
        lo = np.array([100 * x.interval[0] for x in c.cells])
        hi = np.array([100 * x.interval[1] for x in c.cells])
        (line,) = ax.plot(xs, rate, marker="o", label=c.label)
        ax.fill_between(xs, lo, hi, alpha=0.2, color=line.get_color())
    ax.set_xticks(sorted({x for c in curves for x in c.xs}))
    ax.set_ylim(0, 100)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("success % (95% Wilson band)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, metadata=PNG_METADATA)
    plt.close(fig)
    return path
