"""Per-task, per-suite and overall success rates with 95% Wilson intervals.

The rate counts finished episodes only (success or failure). Episodes that
ended in an error and planned episodes with no record yet are reported in
their own columns, never folded into the rate.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd

from leaderboards.stats import wilson_interval

COLUMNS = ["level", "suite", "task", "successes", "n", "rate", "ci_low", "ci_high", "errors", "missing"]


def _row(level: str, suite: str, task: str, group: pd.DataFrame, planned: int) -> dict:
    finished = group[group["status"].isin(["success", "failure"])]
    k, n = int((finished["status"] == "success").sum()), int(len(finished))
    lo, hi = wilson_interval(k, n)
    return {
        "level": level,
        "suite": suite,
        "task": task,
        "successes": k,
        "n": n,
        "rate": k / n if n else float("nan"),
        "ci_low": lo,
        "ci_high": hi,
        "errors": int((group["status"] == "error").sum()),
        "missing": planned - int(len(group)),
    }


def success_table(records: pd.DataFrame, planned: Iterable[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Aggregate records (one row per episode with ``suite``, ``task``, ``status``).

    ``planned`` lists (suite, task) for every planned episode, so cells show
    how many are missing; without it nothing is counted as missing.
    """
    plan = pd.DataFrame(list(planned) if planned is not None else [], columns=["suite", "task"])
    if records.empty:
        records = pd.DataFrame(columns=["suite", "task", "status"])
    if plan.empty:
        plan = records[["suite", "task"]]
    planned_counts = plan.groupby(["suite", "task"]).size()
    rows = []
    for suite in sorted(plan["suite"].unique()):
        for task in sorted(plan.loc[plan["suite"] == suite, "task"].unique()):
            g = records[(records["suite"] == suite) & (records["task"] == task)]
            rows.append(_row("task", suite, task, g, int(planned_counts[(suite, task)])))
        g = records[records["suite"] == suite]
        rows.append(_row("suite", suite, "", g, int(planned_counts[suite].sum())))
    rows.append(_row("overall", "", "", records, int(planned_counts.sum())))
    return pd.DataFrame(rows, columns=COLUMNS)


def _pct(x: float) -> str:
    return "-" if pd.isna(x) else f"{100 * x:.1f}"


def to_markdown(table: pd.DataFrame, title: str | None = None) -> str:
    """A Markdown table; byte-identical for the same input."""
    lines = [f"### {title}", ""] if title else []
    show_missing = bool((table["missing"] > 0).any())
    head = ["suite", "task", "success %", "95% CI", "k/n", "errors"] + (["missing"] if show_missing else [])
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] * len(head)) + "|")
    for r in table.itertuples(index=False):
        name = r.task if r.level == "task" else ("**all**" if r.level == "suite" else "")
        suite = "**overall**" if r.level == "overall" else r.suite
        cells = [suite, name, _pct(r.rate), f"[{_pct(r.ci_low)}, {_pct(r.ci_high)}]", f"{r.successes}/{r.n}", str(r.errors)]
        if show_missing:
            cells.append(str(r.missing))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def records_frame(records: Sequence[dict]) -> pd.DataFrame:
    """Flatten store records into one row per episode with the plan columns."""
    rows = []
    for r in records:
        row = dict(r.get("spec", {}))
        row.update({k: r.get(k) for k in ("episode_id", "status", "success", "steps", "error_kind", "error")})
        rows.append(row)
    return pd.DataFrame(rows)
