"""Build every leaderboard table and figure for a set of runs and write the outputs.

Writes into the output folder: ``leaderboard.md``, ``leaderboard.tex``,
``leaderboard.csv``, ``index.html`` and ``figures/*.png``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from leaderboards.ablation import ablation_tables, delay_curves, severity_curves
from leaderboards.benchmark_tables import (
    libero_table, per_task_table, robocasa_table, robocasa_task_table, twins_tables,
)
from leaderboards.cross_embodiment import cross_embodiment_tables, matrix_cells, wants_matrix
from leaderboards.csv_output import tables_csv
from leaderboards.html_output import document_html
from leaderboards.latex_output import document_latex
from leaderboards.markdown_output import document_markdown
from leaderboards.paired import paired_table
from leaderboards.provenance import stamp_lines
from leaderboards.run_loading import Run
from leaderboards.table_model import Table
from leaderboards.training_manifest import TrainingManifest, checkpoint_manifest_path, read_training_manifest

OUTPUT_FILES = ("leaderboard.md", "leaderboard.tex", "leaderboard.csv", "index.html")


@dataclass
class Leaderboard:
    tables: list[Table]
    figures: list[tuple[str, str]]  # (path relative to the output folder, caption)
    stamp: list[str]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def training_manifest_for(run: Run, override: str | Path | None) -> TrainingManifest | None:
    if override is not None:
        return read_training_manifest(override)
    path = checkpoint_manifest_path(run.manifest, run.path)
    return read_training_manifest(path) if path else None


def build_leaderboard(runs: Sequence[Run], out_dir: Path, reference: str | None = None,
                      training_manifest: str | Path | None = None) -> Leaderboard:
    """All tables for ``runs``; figures are written under ``out_dir/figures``."""
    if not runs:
        raise ValueError("no runs given")
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"run folder names must be unique, got {names}")
    if reference is not None and reference not in names:
        raise ValueError(f"reference run {reference!r} is not among the runs: {', '.join(names)}")
    fig_dir = out_dir / "figures"
    tables: list[Table] = []
    figures: list[tuple[str, str]] = []

    for t in (libero_table(runs), per_task_table(runs, "libero"), robocasa_table(runs), robocasa_task_table(runs)):
        if t is not None:
            tables.append(t)
    tables.extend(twins_tables(runs))

    for run in runs:
        manifest = training_manifest_for(run, training_manifest)
        if not wants_matrix(run, manifest):
            continue
        tables.extend(cross_embodiment_tables(run, manifest))
        tasks, embs, cells = matrix_cells(run, manifest)
        fig_dir.mkdir(parents=True, exist_ok=True)
        rel = f"figures/xemb_{_slug(run.name)}.png"
        from leaderboards.figures import heatmap_png

        heatmap_png(out_dir / rel, f"{run.name}: success by task x embodiment (H = held-out)", tasks, embs, cells)
        figures.append((rel, f"Cross-embodiment matrix of {run.name} (hatched: held-out)"))

    tables.extend(ablation_tables(runs))
    curve_sets = [("delay", "inference delay (control steps)", delay_curves(runs))]
    sev = severity_curves(runs)
    for fig in sorted({c.figure for c in sev}):
        curve_sets.append((fig, f"severity of {fig.split(':', 1)[1]}", [c for c in sev if c.figure == fig]))
    for fig, xlabel, curves in curve_sets:
        if not curves:
            continue
        from leaderboards.figures import curves_png

        fig_dir.mkdir(parents=True, exist_ok=True)
        rel = f"figures/ablation_{_slug(fig)}.png"
        curves_png(out_dir / rel, f"Success vs {xlabel}", xlabel, curves)
        figures.append((rel, f"Success vs {xlabel} (95% Wilson bands)"))

    ref = next((r for r in runs if r.name == reference), runs[0])
    for other in runs:
        if other is not ref:
            t = paired_table(ref, other)
            if t is not None:
                tables.append(t)
    return Leaderboard(tables=tables, figures=figures, stamp=stamp_lines(runs))


def write_leaderboard(board: Leaderboard, out_dir: Path) -> dict[str, Path]:
    """Write the four documents; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    texts = {
        "leaderboard.md": document_markdown(board.tables, board.stamp, board.figures),
        "leaderboard.tex": document_latex(board.tables, board.stamp),
        "leaderboard.csv": tables_csv(board.tables, board.stamp),
        "index.html": document_html(board.tables, board.stamp, board.figures),
    }
    paths = {}
    for name, text in texts.items():
        path = out_dir / name
        tmp = out_dir / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(path)
        paths[name] = path
    return paths
