"""The table shape every builder produces and every output format renders.

A table is a title, column names and rows; a row is a label list followed by
values. A value is a :class:`Cell` (our episodes), a :class:`PublishedRate`
(a number from a paper, no episode counts), a plain string, or None (empty).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import pandas as pd

from leaderboards.cell import Cell, cell_from_statuses


@dataclass(frozen=True)
class PublishedRate:
    """A success rate in percent copied from a publication (see ``source``)."""

    percent: float
    source: str


@dataclass(frozen=True)
class MarkedCell:
    """A cell with a short mark shown beside it (e.g. T / H for trained / held-out)."""

    cell: Cell
    mark: str


Value = Union[Cell, MarkedCell, PublishedRate, str, float, int, None]


@dataclass
class Table:
    """One output table; ``key`` is a stable slug used in CSV rows and HTML ids."""

    key: str
    title: str
    label_columns: list[str]
    value_columns: list[str]
    rows: list[tuple[list[str], list[Value]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, labels: list[str], values: list[Value]) -> None:
        if len(labels) != len(self.label_columns) or len(values) != len(self.value_columns):
            raise ValueError(
                f"table {self.key!r}: row {labels} has {len(labels)} labels / {len(values)} values, "
                f"expected {len(self.label_columns)} / {len(self.value_columns)}"
            )
        self.rows.append((list(labels), list(values)))


def cell_of(episodes: pd.DataFrame, plan_known: bool) -> Cell:
    """The cell of a slice of a run's episodes frame."""
    return cell_from_statuses(episodes["status"], plan_known=plan_known)
