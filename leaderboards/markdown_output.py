"""Markdown rendering of leaderboard tables (byte-identical for the same input)."""

from __future__ import annotations

from typing import Sequence

from leaderboards.table_model import Table
from leaderboards.value_text import value_text


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def table_markdown(table: Table) -> str:
    head = table.label_columns + table.value_columns
    lines = [f"### {table.title}", "", "| " + " | ".join(_escape(h) for h in head) + " |",
             "|" + "|".join(["---"] * len(head)) + "|"]
    for labels, values in table.rows:
        lines.append("| " + " | ".join(_escape(x) for x in labels + [value_text(v) for v in values]) + " |")
    lines.append("")
    lines.extend(f"- {n}" for n in table.notes)
    return "\n".join(lines).rstrip("\n") + "\n"


def document_markdown(tables: Sequence[Table], stamp: Sequence[str], figures: Sequence[tuple[str, str]]) -> str:
    out = ["# h05-bench leaderboard", "",
           "Cells: success % [95% Wilson interval] successes/finished; errors and missing episodes are counted "
           "apart and never enter the rate. Paper rows are published numbers (no episode counts).", ""]
    for t in tables:
        out.append(table_markdown(t))
    if figures:
        out.append("## Figures\n")
        out.extend(f"![{caption}]({path})\n" for path, caption in figures)
    out.append("## Provenance\n")
    out.extend(f"- {line}" for line in stamp)
    return "\n".join(out) + "\n"
