"""One static HTML page: every table, the figures (relative PNG links) and provenance."""

from __future__ import annotations

import html
from typing import Sequence

from leaderboards.cell import Cell
from leaderboards.table_model import MarkedCell, PublishedRate, Table, Value
from leaderboards.value_text import cell_parts, value_text

STYLE = """body{font-family:sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{border:1px solid #bbb;padding:3px 7px;font-size:13px}
th{background:#eee}td.v{text-align:right}td.paper{color:#555;font-style:italic}
small{color:#666}.held{background:#fff3e0}figure{display:inline-block;margin:0 1em 1em 0}
.notes{font-size:12px;color:#444}"""


def _cell_html(v: Value) -> tuple[str, str]:
    cls = "v"
    mark = ""
    if isinstance(v, MarkedCell):
        mark = f" <b>{html.escape(v.mark)}</b>"
        cls += " held" if v.mark == "H" else ""
        v = v.cell
    if isinstance(v, Cell) and not (v.empty and v.missing is not None):
        rate, interval, counts = cell_parts(v)
        return cls, f"{html.escape(rate)}{mark}<br><small>{html.escape(interval)} {html.escape(counts)}</small>"
    if isinstance(v, PublishedRate):
        return cls + " paper", html.escape(value_text(v))
    return cls, html.escape(value_text(v)) + mark


def table_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.label_columns + table.value_columns)
    rows = []
    for labels, values in table.rows:
        tds = "".join(f"<td>{html.escape(x.replace('**', ''))}</td>" for x in labels)
        for v in values:
            cls, text = _cell_html(v)
            tds += f'<td class="{cls}">{text}</td>'
        rows.append(f"<tr>{tds}</tr>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in table.notes)
    return (f'<h3>{html.escape(table.title)}</h3>\n<table id="{html.escape(table.key)}" class="leaderboard">'
            f"<thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n"
            + (f'<ul class="notes">{notes}</ul>\n' if notes else ""))


def document_html(tables: Sequence[Table], stamp: Sequence[str], figures: Sequence[tuple[str, str]]) -> str:
    figs = "".join(
        f'<figure><img src="{html.escape(p)}" alt="{html.escape(c)}"><figcaption>{html.escape(c)}</figcaption></figure>\n'
        for p, c in figures
    )
    prov = "".join(f"<li>{html.escape(line)}</li>" for line in stamp)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>h05-bench leaderboard</title>"
        f"<style>{STYLE}</style></head><body>\n<h1>h05-bench leaderboard</h1>\n"
        "<p>Cells: success % with [95% Wilson interval] and successes/finished; errors and missing episodes are "
        "counted apart and never enter the rate. Italic rows are published numbers.</p>\n"
        + "".join(table_html(t) for t in tables)
        + (f"<h2>Figures</h2>\n{figs}" if figures else "")
        + f'<h2>Provenance</h2>\n<ul id="provenance">{prov}</ul>\n</body></html>\n'
    )
