"""Pooled views of an ablation grid and paired policy comparisons.

A grid point of a small ablation holds a handful of episodes, so its Wilson
interval is wide. Pooling clean episodes over modes (per delay) or over delays
(per mode) gives narrower intervals for the questions those pools answer.
Two policies run on the same plan rows (task, init state, seed, delay, mode,
shift), so their episodes pair up; the exact McNemar test on the discordant
pairs says whether they differ beyond chance.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any, Sequence

from evaluators.plan import EpisodeSpec
from leaderboards.ablation import Curve
from leaderboards.cell import Cell, cell_from_statuses
from leaderboards.figures import curves_png
from leaderboards.stats import mcnemar_exact

Row = dict[str, Any]


def _rows(records: Sequence[dict[str, Any]], specs: Sequence[EpisodeSpec]) -> list[Row]:
    """One row per planned episode: its grid coordinates and status (``missing`` without a record)."""
    by_id = {r["episode_id"]: r for r in records}
    out = []
    for s in specs:
        row = s.row()
        rec = by_id.get(s.episode_id)
        out.append({
            "policy": row["policy"].split(":", 1)[0], "mode": (row.get("variant") or {}).get("mode", row["executor"]),
            "delay": int(row["delay"]), "shift": row["perturbation"], "severity": int(row["severity"]),
            "task": row["task"], "init_index": row["init_index"], "seed": row["seed"],
            "status": rec["status"] if rec else "missing",
        })
    return out


def pooled_cells(rows: Sequence[Row], by: Sequence[str], clean_only: bool = True) -> dict[tuple, Cell]:
    """Cells keyed by the ``by`` fields, pooling every other grid coordinate."""
    groups: dict[tuple, list[str]] = defaultdict(list)
    for r in rows:
        if clean_only and r["shift"] != "none":
            continue
        groups[tuple(r[k] for k in by)].append(r["status"])
    return {k: cell_from_statuses(v) for k, v in sorted(groups.items())}


def paired_counts(rows: Sequence[Row], a: str, b: str, where: dict[str, Any] | None = None) -> tuple[int, int, int]:
    """(pairs, successes of a only, successes of b only) over episodes both policies finished."""
    keys = ("mode", "delay", "shift", "severity", "task", "init_index", "seed")
    sel = [r for r in rows if all(r[k] == v for k, v in (where or {}).items())]
    got: dict[str, dict[tuple, bool]] = {a: {}, b: {}}
    for r in sel:
        if r["policy"] in got and r["status"] in ("success", "failure"):
            got[r["policy"]][tuple(r[k] for k in keys)] = r["status"] == "success"
    common = got[a].keys() & got[b].keys()
    only_a = sum(got[a][k] and not got[b][k] for k in common)
    only_b = sum(got[b][k] and not got[a][k] for k in common)
    return len(common), only_a, only_b


def _cell_text(c: Cell) -> str:
    lo, hi = c.interval
    return f"{c.successes}/{c.n} ({100 * (c.rate or 0):.0f}%, {100 * lo:.0f}-{100 * hi:.0f})"


def summary_markdown(rows: Sequence[Row], title: str) -> str:
    """Pooled tables (clean episodes; the shift at its delays) and paired tests between policies."""
    out = [f"# {title}: pooled success (95% Wilson intervals) and paired tests", ""]
    policies = sorted({r["policy"] for r in rows})
    modes = sorted({r["mode"] for r in rows})
    delays = sorted({r["delay"] for r in rows})
    per_mode = pooled_cells(rows, ("policy", "mode"))
    per_delay = pooled_cells(rows, ("policy", "delay"))
    per_policy = pooled_cells(rows, ("policy",))
    out += ["Clean episodes, pooled over delays (per mode) and over modes (per delay):", "",
            "| policy | all clean | " + " | ".join(f"mode {m}" for m in modes) + " | " + " | ".join(f"d={d}" for d in delays) + " |",
            "|" + "---|" * (2 + len(modes) + len(delays))]
    for p in policies:
        cells = [per_policy.get((p,)), *(per_mode.get((p, m)) for m in modes), *(per_delay.get((p, d)) for d in delays)]
        out.append(f"| {p} | " + " | ".join(_cell_text(c) if c else "-" for c in cells) + " |")
    shifts = sorted({(r["shift"], r["severity"]) for r in rows if r["shift"] != "none"})
    for kind, sev in shifts:
        shift_delays = sorted({r["delay"] for r in rows if r["shift"] == kind and r["severity"] == sev})
        sel = [r for r in rows if r["delay"] in shift_delays and r["shift"] in ("none", kind) and r["severity"] in (0, sev)]
        cells = pooled_cells(sel, ("policy", "shift"), clean_only=False)
        out += ["", f"{kind}@{sev} vs its clean twins (delays {shift_delays}, pooled over modes):", "",
                "| policy | clean | shifted | paired: clean only / shifted only |", "|---|---|---|---|"]
        for p in policies:
            if (p, "none") in cells and (p, kind) in cells:
                n, only_clean, only_shift = _paired_shift(sel, p, kind)
                out.append(f"| {p} | {_cell_text(cells[(p, 'none')])} | {_cell_text(cells[(p, kind)])} | "
                           f"{only_clean} / {only_shift} of {n} pairs (McNemar p = {mcnemar_exact(only_clean, only_shift):.3g}) |")
    if len(policies) > 1:
        out += ["", "Paired policy comparisons (same plan rows; exact McNemar on discordant pairs):", "",
                "| A | B | episodes | clean pairs | A only | B only | McNemar p |", "|---|---|---|---|---|---|---|"]
        for a, b in combinations(policies, 2):
            for label, where in [("all clean", {"shift": "none"}), *((f"clean, mode {m}", {"shift": "none", "mode": m}) for m in modes)]:
                n, only_a, only_b = paired_counts(rows, a, b, where)
                out.append(f"| {a} | {b} | {label} | {n} | {only_a} | {only_b} | {mcnemar_exact(only_a, only_b):.3g} |")
    return "\n".join(out) + "\n"


def _paired_shift(rows: Sequence[Row], policy: str, kind: str) -> tuple[int, int, int]:
    keys = ("mode", "delay", "task", "init_index", "seed")
    got: dict[str, dict[tuple, bool]] = {"none": {}, kind: {}}
    for r in rows:
        if r["policy"] == policy and r["status"] in ("success", "failure") and r["shift"] in got:
            got[r["shift"]][tuple(r[k] for k in keys)] = r["status"] == "success"
    common = got["none"].keys() & got[kind].keys()
    return (len(common), sum(got["none"][k] and not got[kind][k] for k in common),
            sum(got[kind][k] and not got["none"][k] for k in common))


def write_summary(run_dir: Path, records: Sequence[dict[str, Any]], specs: Sequence[EpisodeSpec]) -> str:
    """Write summary.md and success_vs_delay_pooled.png (one line per policy, pooled over modes)."""
    rows = _rows(records, specs)
    text = summary_markdown(rows, run_dir.name)
    (run_dir / "summary.md").write_text(text)
    per_delay = pooled_cells(rows, ("policy", "delay"))
    lines: dict[str, dict[int, Cell]] = defaultdict(dict)
    for (p, d), c in per_delay.items():
        lines[p][d] = c
    curves = [Curve("delay", f"{p} (all modes)", tuple(sorted(pts)), tuple(pts[d] for d in sorted(pts)))
              for p, pts in lines.items() if len(pts) > 1]
    if curves:
        curves_png(run_dir / "success_vs_delay_pooled.png", f"{run_dir.name}: success vs delay, clean, pooled over modes",
                   "delay d (control steps)", curves)
    return text
