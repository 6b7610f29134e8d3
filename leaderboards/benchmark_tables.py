"""Paper-style LIBERO and RoboCasa tables: published baselines, then our runs.

Column groups (LIBERO suites, RoboCasa categories, twins suites) and the
published numbers are data: ``published/*.yaml`` and ``robocasa_tasks.yaml``.
An aggregate column (LIBERO average, RoboCasa total) pools all episodes of its
groups and is only filled when every group has episodes; otherwise it says
which groups are absent rather than averaging what happens to be there.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import yaml

from leaderboards.run_loading import Run
from leaderboards.table_model import PublishedRate, Table, cell_of

DATA_DIR = Path(__file__).parent
LIBERO_SUITES = {"spatial": "libero_spatial", "object": "libero_object", "goal": "libero_goal", "long": "libero_10"}
COLUMN_TITLES = {
    "spatial": "Spatial", "object": "Object", "goal": "Goal", "long": "Long", "average": "Average",
    "pick_and_place": "Pick & place", "doors_drawers": "Doors / drawers", "others": "Others", "total": "Total",
    "long_horizon": "Long-horizon", "bimanual": "Bimanual", "generalisation": "Generalisation", "all": "All",
}


@lru_cache(maxsize=None)
def published(name: str) -> dict[str, Any]:
    """A published-baselines file (``published/<name>.yaml``), validated."""
    path = DATA_DIR / "published" / f"{name}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no published baselines file {path}")
    data = yaml.safe_load(path.read_text())
    for row in data["rows"]:
        if len(row["values"]) != len(data["columns"]):
            raise ValueError(f"{path}: row {row['name']!r} has {len(row['values'])} values for {len(data['columns'])} columns")
    return data


@lru_cache(maxsize=None)
def robocasa_categories() -> dict[str, str]:
    """RoboCasa task name (v0.1 and v1.0 aliases) -> category."""
    data = yaml.safe_load((DATA_DIR / "robocasa_tasks.yaml").read_text())
    out = {task: cat for cat, tasks in data["categories"].items() for task in tasks}
    for alias, original in data.get("aliases", {}).items():
        out[alias] = out[original]
    return out


def robocasa_v01_tasks() -> list[str]:
    data = yaml.safe_load((DATA_DIR / "robocasa_tasks.yaml").read_text())
    return [t for tasks in data["categories"].values() for t in tasks]


def _published_rows(table: Table, name: str) -> None:
    data = published(name)
    if list(data["columns"]) != [c for c in table.value_columns]:
        raise ValueError(f"published/{name}.yaml columns {data['columns']} do not match table {table.value_columns}")
    for row in data["rows"]:
        table.add([row["name"], "paper"], [PublishedRate(float(v), data["source"]) for v in row["values"]])
    table.notes.append(f"paper rows: {data['source']}")


def _grouped_row(run: Run, frame: pd.DataFrame, groups: dict[str, pd.Series], aggregate: bool) -> list:
    values: list = [cell_of(frame[mask], run.plan_known) for mask in groups.values()]
    if aggregate:
        absent = [name for name, c in zip(groups, values) if c.empty]
        if absent:
            values.append(f"n/a (no episodes: {', '.join(absent)})")
        else:
            any_mask = pd.concat(list(groups.values()), axis=1).any(axis=1)
            values.append(cell_of(frame[any_mask], run.plan_known))
    return values


def libero_table(runs: Sequence[Run]) -> Table | None:
    """Spatial / object / goal / long / average; None when no run has LIBERO episodes."""
    ours = [(r, r.episodes[r.episodes["benchmark"] == "libero"]) for r in runs]
    ours = [(r, f) for r, f in ours if not f.empty]
    if not ours:
        return None
    t = Table("libero", "LIBERO success rate (%)", ["policy", "source"], list(LIBERO_SUITES) + ["average"])
    _published_rows(t, "libero")
    for run, frame in ours:
        groups = {col: frame["suite"] == suite for col, suite in LIBERO_SUITES.items()}
        t.add([run.name, "ours"], _grouped_row(run, frame, groups, aggregate=True))
    t.notes.append("long = libero_10; average pools all episodes of the four suites (equal to the mean of "
                   "suite rates when every suite has the same episode count)")
    return t


def robocasa_frames(runs: Sequence[Run]) -> list[tuple[Run, pd.DataFrame]]:
    out = []
    for r in runs:
        f = r.episodes[r.episodes["benchmark"] == "robocasa"]
        if not f.empty:
            out.append((r, f.assign(category=f["task"].map(robocasa_categories()))))
    return out


def robocasa_table(runs: Sequence[Run]) -> Table | None:
    """Pick & place / doors-drawers / others / total; None without RoboCasa episodes."""
    ours = robocasa_frames(runs)
    if not ours:
        return None
    cols = ["pick_and_place", "doors_drawers", "others"]
    t = Table("robocasa", "RoboCasa success rate (%)", ["policy", "source"], cols + ["total"])
    _published_rows(t, "robocasa")
    for run, frame in ours:
        groups = {c: frame["category"] == c for c in cols}
        t.add([run.name, "ours"], _grouped_row(run, frame, groups, aggregate=True))
        unmapped = sorted(frame.loc[frame["category"].isna(), "task"].unique())
        if unmapped:
            t.notes.append(f"{run.name}: tasks outside the 24 published tasks, left out of every column: "
                           + ", ".join(unmapped))
    t.notes.append("total pools the 24 tasks' episodes; our RoboCasa differs from the published v0.1 "
                   "release (assets, layouts), so paper rows are context, not a like-for-like ranking")
    return t


def robocasa_task_table(runs: Sequence[Run]) -> Table | None:
    """One row per RoboCasa task (the 24 published, then any others), one column per run."""
    ours = robocasa_frames(runs)
    if not ours:
        return None
    cats = robocasa_categories()
    seen = sorted({t for _, f in ours for t in f["task"].unique()})
    tasks = robocasa_v01_tasks() + [t for t in seen if t not in robocasa_v01_tasks()]
    tasks = [t for t in tasks if t in seen] or tasks
    t = Table("robocasa_tasks", "RoboCasa per task (%)", ["task", "category"], [r.name for r, _ in ours])
    for task in tasks:
        t.add([task, cats.get(task, "unmapped")], [cell_of(f[f["task"] == task], r.plan_known) for r, f in ours])
    return t


def per_task_table(runs: Sequence[Run], benchmark: str) -> Table | None:
    """One row per (suite, task) of ``benchmark``, one column per run that has it."""
    ours = [(r, r.episodes[r.episodes["benchmark"] == benchmark]) for r in runs]
    ours = [(r, f) for r, f in ours if not f.empty]
    if not ours:
        return None
    keys = sorted({(s, k) for _, f in ours for s, k in zip(f["suite"], f["task"])})
    t = Table(f"{benchmark}_tasks", f"{benchmark}: per task (%)", ["suite", "task"], [r.name for r, _ in ours])
    for suite, task in keys:
        t.add([suite, task], [cell_of(f[(f["suite"] == suite) & (f["task"] == task)], r.plan_known) for r, f in ours])
    return t


def twins_tables(runs: Sequence[Run]) -> list[Table]:
    """Twins per suite (runs as rows, real-robot paper rows for reference) and per embodiment."""
    ours = [(r, r.episodes[r.episodes["benchmark"] == "twins"]) for r in runs]
    ours = [(r, f) for r, f in ours if not f.empty]
    if not ours:
        return []
    data = published("real_robots")
    suites = list(data["columns"]) + sorted({s for _, f in ours for s in f["suite"]} - set(data["columns"]))
    by_suite = Table("twins_suites", "Twins: success rate per suite (%)", ["policy", "source"], suites + ["all"])
    extra = len(suites) - len(data["columns"])
    for row in data["rows"]:
        by_suite.add([row["name"], "paper"],
                     [PublishedRate(float(v), data["source"]) for v in row["values"]] + [None] * (extra + 1))
    by_suite.notes.append(f"paper rows: {data['source']}")
    for run, frame in ours:
        by_suite.add([run.name, "ours"],
                     [cell_of(frame[frame["suite"] == s], run.plan_known) for s in suites] + [cell_of(frame, run.plan_known)])
    tables = [by_suite]
    for run, frame in ours:
        embs = sorted(frame["embodiment"].unique())
        t = Table(f"twins_embodiments_{run.name}", f"Twins: {run.name} per embodiment and suite (%)",
                  ["embodiment"], suites + ["all"])
        for e in embs:
            fe = frame[frame["embodiment"] == e]
            t.add([e], [cell_of(fe[fe["suite"] == s], run.plan_known) for s in suites] + [cell_of(fe, run.plan_known)])
        tables.append(t)
    return tables
