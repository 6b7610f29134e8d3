"""Ablations: success vs delay, vs perturbation severity, and per variant.

A run qualifies when its episodes vary the factor. Each point pools every
task of the run at that setting; severity curves start from the clean
condition (perturbation "none") as severity 0 when the run has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from leaderboards.cell import Cell
from leaderboards.run_loading import Run
from leaderboards.table_model import Table, cell_of


@dataclass(frozen=True)
class Curve:
    """One line of an ablation figure: x values and the cell at each."""

    figure: str  # "delay" or "severity:<perturbation>"
    label: str
    xs: tuple[int, ...]
    cells: tuple[Cell, ...]


def delay_curves(runs: Sequence[Run]) -> list[Curve]:
    out = []
    for run in runs:
        f = run.episodes
        if f.empty or f["delay"].nunique() < 2:
            continue
        xs = tuple(sorted(int(d) for d in f["delay"].unique()))
        out.append(Curve("delay", run.name, xs, tuple(cell_of(f[f["delay"] == d], run.plan_known) for d in xs)))
    return out


def severity_curves(runs: Sequence[Run]) -> list[Curve]:
    out = []
    for run in runs:
        f = run.episodes
        shifted = sorted(p for p in f["perturbation"].unique() if p != "none") if not f.empty else []
        clean = f[f["perturbation"] == "none"]
        for pert in shifted:
            g = f[f["perturbation"] == pert]
            points = {int(s): cell_of(g[g["severity"] == s], run.plan_known) for s in sorted(g["severity"].unique())}
            if not clean.empty and 0 not in points:
                points[0] = cell_of(clean, run.plan_known)
            if len(points) < 2:
                continue
            xs = tuple(sorted(points))
            out.append(Curve(f"severity:{pert}", run.name, xs, tuple(points[x] for x in xs)))
    return out


def ablation_tables(runs: Sequence[Run]) -> list[Table]:
    """Delay table, severity table and variant table, each only when some run varies it."""
    tables = []
    delay = delay_curves(runs)
    if delay:
        xs = sorted({x for c in delay for x in c.xs})
        t = Table("ablation_delay", "Success vs inference delay (steps) (%)", ["run"], [f"d={x}" for x in xs])
        for c in delay:
            t.add([c.label], [c.cells[c.xs.index(x)] if x in c.xs else None for x in xs])
        tables.append(t)
    sev = severity_curves(runs)
    if sev:
        xs = sorted({x for c in sev for x in c.xs})
        t = Table("ablation_severity", "Success vs perturbation severity (%)", ["run", "perturbation"],
                  [f"s={x}" for x in xs])
        for c in sev:
            t.add([c.label, c.figure.split(":", 1)[1]], [c.cells[c.xs.index(x)] if x in c.xs else None for x in xs])
        t.notes.append("s=0 is the clean condition (perturbation none) on the same init states")
        tables.append(t)
    variant_runs = [r for r in runs if not r.episodes.empty and r.episodes["variant"].nunique() > 1]
    if variant_runs:
        t = Table("ablation_variant", "Success per policy variant (%)", ["run", "variant"], ["success"])
        for run in variant_runs:
            for v, g in run.episodes.groupby("variant", sort=True):
                t.add([run.name, str(v)], [cell_of(g, run.plan_known)])
        tables.append(t)
    return tables
