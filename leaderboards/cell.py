"""One table cell of our results: successes, finished episodes, errors, missing.

The rate and its 95% Wilson interval count finished episodes only (success or
failure). Episodes that ended in an error and planned episodes with no record
are counted beside it, never folded into the rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from leaderboards.stats import wilson_interval

STATUSES = ("success", "failure", "error", "missing")


@dataclass(frozen=True)
class Cell:
    """Counts behind one rate; ``missing`` is None when the run's plan is unknown."""

    successes: int
    n: int
    errors: int
    missing: int | None

    @property
    def rate(self) -> float | None:
        return self.successes / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.n)

    @property
    def planned(self) -> int | None:
        return None if self.missing is None else self.n + self.errors + self.missing

    @property
    def empty(self) -> bool:
        return self.n == 0 and self.errors == 0 and not self.missing


def cell_from_statuses(statuses: Iterable[str], plan_known: bool = True) -> Cell:
    """Count episode statuses (success / failure / error / missing) into a cell."""
    counts = dict.fromkeys(STATUSES, 0)
    for s in statuses:
        if s not in counts:
            raise ValueError(f"unknown episode status {s!r}; expected one of {', '.join(STATUSES)}")
        counts[s] += 1
    return Cell(
        successes=counts["success"],
        n=counts["success"] + counts["failure"],
        errors=counts["error"],
        missing=counts["missing"] if plan_known else None,
    )
