"""Ablation outputs: table (Markdown + CSV) and success-vs-delay / -severity PNGs.

One line per (policy, mode). Planned episodes without a record count as
missing, never as failures. Curves use the leaderboards' cells (95% Wilson
intervals) and figure code; pooled views and paired tests: ``ablate_summary``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from evaluators.ablate_summary import write_summary
from evaluators.plan import EpisodeSpec
from leaderboards.ablation import Curve
from leaderboards.cell import Cell, cell_from_statuses
from leaderboards.figures import curves_png

Key = tuple[str, str, int, str, int]  # policy, mode, delay, perturbation, severity


def policy_label(policy_id: str) -> str:
    """``"mpg-on:h05-1a2b3c4d"`` -> ``"mpg-on"``; unlabelled ids stay whole."""
    return policy_id.split(":", 1)[0]


def _key(spec: dict[str, Any]) -> Key:
    mode = (spec.get("variant") or {}).get("mode", spec.get("executor", "sync"))
    return (policy_label(spec["policy"]), mode, int(spec["delay"]), spec["perturbation"], int(spec["severity"]))


def grid_cells(records: Sequence[dict[str, Any]], specs: Sequence[EpisodeSpec]) -> dict[Key, Cell]:
    """A cell per grid point over the planned episodes (records of other plans are ignored)."""
    by_id = {r["episode_id"]: r for r in records}
    statuses: dict[Key, list[str]] = defaultdict(list)
    for s in specs:
        rec = by_id.get(s.episode_id)
        statuses[_key(s.row())].append(rec["status"] if rec else "missing")
    return {k: cell_from_statuses(v) for k, v in sorted(statuses.items())}


def _fmt(cell: Cell) -> list[str]:
    lo, hi = cell.interval
    rate = f"{100 * cell.rate:.1f}" if cell.rate is not None else "-"
    return [str(cell.n), str(cell.successes), rate, f"{100 * lo:.1f}", f"{100 * hi:.1f}", str(cell.errors), str(cell.missing)]


HEADER = ["policy", "mode", "delay", "shift", "severity", "n", "successes", "success %", "wilson lo %", "wilson hi %", "errors", "missing"]


def delay_curves(cells: dict[Key, Cell]) -> list[Curve]:
    lines: dict[tuple[str, str], dict[int, Cell]] = defaultdict(dict)
    for (pol, mode, d, pert, sev), cell in cells.items():
        if pert == "none":
            lines[(pol, mode)][d] = cell
    return [Curve("delay", f"{p} {m}", tuple(sorted(pts)), tuple(pts[x] for x in sorted(pts))) for (p, m), pts in lines.items() if len(pts) > 1]


def severity_curves(cells: dict[Key, Cell]) -> dict[str, list[Curve]]:
    """Per shift kind, one line per (policy, mode) at the smallest delay; severity 0 is the clean twin."""
    if not cells:
        return {}
    d0 = min(k[2] for k in cells)
    out: dict[str, list[Curve]] = defaultdict(list)
    kinds = sorted({k[3] for k in cells if k[3] != "none"})
    for kind in kinds:
        lines: dict[tuple[str, str], dict[int, Cell]] = defaultdict(dict)
        for (pol, mode, d, pert, sev), cell in cells.items():
            if d == d0 and pert == kind:
                lines[(pol, mode)][sev] = cell
            if d == d0 and pert == "none":
                lines[(pol, mode)].setdefault(0, cell)
        for (p, m), pts in lines.items():
            if len(pts) > 1:
                out[kind].append(Curve(f"severity:{kind}", f"{p} {m}", tuple(sorted(pts)), tuple(pts[x] for x in sorted(pts))))
    return dict(out)


def write_report(run_dir: Path, records: Sequence[dict[str, Any]], specs: Sequence[EpisodeSpec]) -> str:
    """Write table.md, table.csv, the curve PNGs and the pooled summary into ``run_dir``; return the Markdown table."""
    run_dir.mkdir(parents=True, exist_ok=True)
    cells = grid_cells(records, specs)
    rows = [[pol, mode, str(d), pert, str(sev), *_fmt(c)] for (pol, mode, d, pert, sev), c in cells.items()]
    md = [f"# {run_dir.name}: success per grid point (95% Wilson intervals)", "", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(md) + "\n"
    (run_dir / "table.md").write_text(text)
    (run_dir / "table.csv").write_text("\n".join(",".join(r) for r in [HEADER, *rows]) + "\n")
    delay = delay_curves(cells)
    if delay:
        curves_png(run_dir / "success_vs_delay.png", f"{run_dir.name}: success vs delay (clean)", "delay d (control steps)", delay)
    for kind, curves in severity_curves(cells).items():
        curves_png(run_dir / f"success_vs_severity_{kind}.png", f"{run_dir.name}: success vs {kind} severity", "severity", curves)
    write_summary(run_dir, records, specs)
    return text
