"""LaTeX (booktabs) rendering of leaderboard tables."""

from __future__ import annotations

from typing import Sequence

from leaderboards.cell import Cell
from leaderboards.table_model import MarkedCell, Table, Value
from leaderboards.value_text import cell_parts, value_text

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(_SPECIAL.get(ch, ch) for ch in text)


def _value(v: Value) -> str:
    mark = ""
    if isinstance(v, MarkedCell):
        v, mark = v.cell, f" \\textsuperscript{{{latex_escape(v.mark)}}}"
    if isinstance(v, Cell) and not (v.empty and v.missing is not None):
        rate, interval, counts = cell_parts(v)
        small = " ".join(p for p in (interval, counts) if p)
        return f"{latex_escape(rate)}{mark} {{\\scriptsize {latex_escape(small)}}}"
    return latex_escape(value_text(v)) + mark


def table_latex(table: Table) -> str:
    cols = "l" * len(table.label_columns) + "r" * len(table.value_columns)
    lines = ["\\begin{table}[t]", "\\centering", "\\small", f"\\caption{{{latex_escape(table.title)}}}",
             f"\\label{{tab:{latex_escape(table.key)}}}", f"\\begin{{tabular}}{{{cols}}}", "\\toprule",
             " & ".join(latex_escape(h) for h in table.label_columns + table.value_columns) + " \\\\", "\\midrule"]
    for labels, values in table.rows:
        lines.append(" & ".join([latex_escape(x.replace("**", "")) for x in labels] + [_value(v) for v in values]) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    if table.notes:
        lines.append("\\par\\footnotesize " + latex_escape("; ".join(table.notes)))
    lines.append("\\end{table}")
    return "\n".join(lines) + "\n"


def document_latex(tables: Sequence[Table], stamp: Sequence[str]) -> str:
    """A fragment to \\input{} (needs booktabs); provenance as a comment block and a footnote table."""
    out = ["% h05-bench leaderboard: needs \\usepackage{booktabs}"]
    out += [f"% {line}" for line in stamp]
    out += [table_latex(t) for t in tables]
    return "\n".join(out) + "\n"
