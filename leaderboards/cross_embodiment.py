"""Zero-shot cross-embodiment matrix: base tasks x embodiments, trained vs held-out."""

from __future__ import annotations

from leaderboards.cell import Cell
from leaderboards.run_loading import Run
from leaderboards.table_model import MarkedCell, Table, cell_of
from leaderboards.training_manifest import TrainingManifest, base_task

TRAINED, HELD_OUT, UNKNOWN = "trained", "held-out", "unknown"


def matrix_cells(run: Run, manifest: TrainingManifest | None) -> tuple[list[str], list[str], dict]:
    """(tasks, embodiments, {(task, embodiment): (Cell, mark)}) for a run's episodes."""
    f = run.episodes.assign(base_task=run.episodes["task"].map(base_task))
    tasks = sorted(f["base_task"].unique())
    embs = sorted(f["embodiment"].unique())
    cells: dict[tuple[str, str], tuple[Cell, str]] = {}
    for (task, emb), g in f.groupby(["base_task", "embodiment"], sort=True):
        bench = str(g["benchmark"].iloc[0])
        mark = UNKNOWN if manifest is None else (TRAINED if manifest.is_trained(task, emb, bench) else HELD_OUT)
        cells[(task, emb)] = (cell_of(g, run.plan_known), mark)
    return tasks, embs, cells


def wants_matrix(run: Run, manifest: TrainingManifest | None) -> bool:
    """A matrix is shown when the run spans several embodiments or has a training manifest."""
    return not run.episodes.empty and (run.episodes["embodiment"].nunique() > 1 or manifest is not None)


def cross_embodiment_tables(run: Run, manifest: TrainingManifest | None) -> list[Table]:
    """The matrix (cells: rate + interval + mark) and a trained / held-out summary."""
    tasks, embs, cells = matrix_cells(run, manifest)
    m = Table(f"xemb_{run.name}", f"Cross-embodiment matrix: {run.name} (%; T = trained, H = held-out zero-shot)",
              ["task"], embs)
    for task in tasks:
        row = []
        for emb in embs:
            if (task, emb) not in cells:
                row.append(None)
                continue
            cell, mark = cells[(task, emb)]
            row.append(MarkedCell(cell, {TRAINED: "T", HELD_OUT: "H", UNKNOWN: "?"}[mark]))
        m.add([task], row)
    m.notes.append(
        f"training manifest: {manifest.path}" if manifest else
        "no training manifest found (policy config names no checkpoint with training_manifest.json): marks are '?'"
    )
    summary = Table(f"xemb_summary_{run.name}", f"Trained vs held-out pairs: {run.name} (%)", ["pairs"], ["success"])
    if manifest is not None:
        f = run.episodes.assign(base_task=run.episodes["task"].map(base_task))
        for label, mark in (("trained", TRAINED), ("held-out (zero-shot)", HELD_OUT)):
            keys = {k for k, (_, mk) in cells.items() if mk == mark}
            sel = f[[(t, e) in keys for t, e in zip(f["base_task"], f["embodiment"])]]
            summary.add([f"{label}: {len(keys)} pairs"], [cell_of(sel, run.plan_known)])
    return [m, summary] if summary.rows else [m]
