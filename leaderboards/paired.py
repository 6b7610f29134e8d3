"""Paired comparison of two runs on the same init states (exact McNemar test).

Episodes pair when they share benchmark, suite, task, embodiment, init index,
seed and condition (delay, perturbation, severity, variant). Only pairs where
both episodes finished (success or failure) enter the test; the rest are
counted as unpaired, so errors never look like failures.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from leaderboards.run_loading import Run
from leaderboards.stats import holm_adjust, mcnemar_exact
from leaderboards.table_model import Table

PAIR_KEY = ["benchmark", "suite", "task", "embodiment", "init_index", "seed", "delay", "perturbation", "severity", "variant"]


@dataclass(frozen=True)
class PairedResult:
    """Counts of one paired comparison; ``only_a`` = A succeeded and B failed."""

    pairs: int
    both: int
    only_a: int
    only_b: int
    neither: int
    unpaired: int

    @property
    def p_value(self) -> float:
        return mcnemar_exact(self.only_a, self.only_b)

    @property
    def rate_a(self) -> float | None:
        return (self.both + self.only_a) / self.pairs if self.pairs else None

    @property
    def rate_b(self) -> float | None:
        return (self.both + self.only_b) / self.pairs if self.pairs else None


def paired_frame(a: Run, b: Run) -> pd.DataFrame:
    """Outer join of two runs on the pairing key with each side's status."""
    left = a.episodes[PAIR_KEY + ["status"]].rename(columns={"status": "status_a"})
    right = b.episodes[PAIR_KEY + ["status"]].rename(columns={"status": "status_b"})
    for side, name in ((left, a.name), (right, b.name)):
        if side.duplicated(PAIR_KEY).any():
            raise ValueError(f"run {name!r} has several episodes with the same init state and condition; cannot pair")
    return left.merge(right, on=PAIR_KEY, how="outer")


def paired_result(frame: pd.DataFrame) -> PairedResult:
    done = frame["status_a"].isin(["success", "failure"]) & frame["status_b"].isin(["success", "failure"])
    sa, sb = frame.loc[done, "status_a"] == "success", frame.loc[done, "status_b"] == "success"
    return PairedResult(
        pairs=int(done.sum()), both=int((sa & sb).sum()), only_a=int((sa & ~sb).sum()),
        only_b=int((~sa & sb).sum()), neither=int((~sa & ~sb).sum()), unpaired=int((~done).sum()),
    )


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def paired_table(a: Run, b: Run) -> Table | None:
    """Per task and overall; None when the runs share no init states."""
    frame = paired_frame(a, b)
    overall = paired_result(frame)
    if overall.pairs == 0:
        return None
    t = Table(f"paired_{a.name}_vs_{b.name}", f"Paired comparison: A = {a.name} vs B = {b.name}",
              ["suite", "task"], ["pairs", "A %", "B %", "A only", "B only", "both", "neither", "unpaired",
                                  "p (exact McNemar)", "p (Holm)"])
    per_task = []
    for (suite, task), g in frame.groupby(["suite", "task"], sort=True):
        per_task.append((suite, task, paired_result(g)))
    tested = [r.p_value for _, _, r in per_task]
    adjusted = holm_adjust(tested)
    for (suite, task, r), adj in zip(per_task, adjusted):
        t.add([suite, task], _values(r, f"{adj:.4g}"))
    t.add(["**overall**", ""], _values(overall, "-"))
    t.notes.append("pairs: same init state, seed and condition, both finished; A only / B only are the discordant "
                   "pairs the exact test uses; unpaired: missing or errored on either side, left out")
    return t


def _values(r: PairedResult, holm: str) -> list:
    return [str(r.pairs), _pct(r.rate_a), _pct(r.rate_b), str(r.only_a), str(r.only_b), str(r.both),
            str(r.neither), str(r.unpaired), f"{r.p_value:.4g}", holm]
