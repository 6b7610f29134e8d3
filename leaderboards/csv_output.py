"""CSV rendering: one row per table value, with the counts behind every rate."""

from __future__ import annotations

import csv
import io
from typing import Sequence

from leaderboards.cell import Cell
from leaderboards.table_model import MarkedCell, PublishedRate, Table

FIELDS = ["table", "row", "column", "kind", "successes", "n", "rate", "ci_low", "ci_high", "errors",
          "missing", "mark", "text"]


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.6f}"


def tables_csv(tables: Sequence[Table], stamp: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    for t in tables:
        for labels, values in t.rows:
            for col, v in zip(t.value_columns, values):
                row = {"table": t.key, "row": " / ".join(x.replace("**", "") for x in labels if x), "column": col}
                mark = ""
                if isinstance(v, MarkedCell):
                    v, mark = v.cell, v.mark
                if isinstance(v, Cell):
                    lo, hi = v.interval
                    row.update(kind="ours", successes=v.successes, n=v.n, rate=_num(v.rate),
                               ci_low=_num(lo) if v.n else "", ci_high=_num(hi) if v.n else "", errors=v.errors,
                               missing="" if v.missing is None else v.missing, mark=mark)
                elif isinstance(v, PublishedRate):
                    row.update(kind="published", rate=_num(v.percent / 100), text=v.source)
                elif v is not None:
                    row.update(kind="text", text=str(v))
                else:
                    row.update(kind="empty")
                w.writerow(row)
    for line in stamp:
        w.writerow({"table": "provenance", "kind": "text", "text": line})
    return buf.getvalue()
