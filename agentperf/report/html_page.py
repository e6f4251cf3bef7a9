"""The shell every HTML report shares: page, verdict banner, sections and tables.

One self-contained file: inline CSS and SVG, no network, no external asset. Light and
dark follow ``prefers-color-scheme``; ``@media print`` drops the interactive bits. The
only script sorts a table when its header is clicked and filters rows as one types in a
table's filter box; without it every table is still there, in report order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from agentperf.report.serialize import nested_tables, scalar_rows

CSS = """
:root { color-scheme: light dark; --bg: #fff; --fg: #1f2328; --muted: #656d76;
  --line: #d0d7de; --card: #f6f8fa; --ok: #1a7f37; --okbg: #dafbe1; --bad: #cf222e;
  --badbg: #ffebe9; --warn: #9a6700; --warnbg: #fff8c5; }
@media (prefers-color-scheme: dark) { :root { --bg: #0d1117; --fg: #e6edf3; --muted: #8d96a0;
  --line: #30363d; --card: #161b22; --ok: #3fb950; --okbg: #12261e; --bad: #f85149;
  --badbg: #2d1214; --warn: #d29922; --warnbg: #2b2111; } }
* { box-sizing: border-box; }
body { background: var(--bg); color: var(--fg); margin: 0 auto; max-width: 1180px;
  padding: 16px 24px 48px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px;
  border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.meta { color: var(--muted); margin: 0 0 12px; }
.verdict { border-radius: 6px; padding: 10px 14px; margin: 8px 0 12px; border: 1px solid; }
.verdict strong { font-size: 18px; }
.verdict.pass { background: var(--okbg); color: var(--ok); }
.verdict.fail { background: var(--badbg); color: var(--bad); }
.verdict.warn { background: var(--warnbg); color: var(--warn); }
.cards { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px;
  padding: 6px 12px; min-width: 120px; }
.card b { display: block; font-size: 17px; } .card span { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; margin: 6px 0; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 3px 10px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: var(--card); } td.num, th.num { text-align: right; }
th[data-sort] { cursor: pointer; } .pass { color: var(--ok); font-weight: 600; }
.fail { color: var(--bad); font-weight: 600; }
ul.warnings li { color: var(--warn); }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr));
  gap: 4px 20px; }
figure.chart { margin: 10px 0; } figure.chart svg { width: 100%; height: auto;
  max-width: 900px; display: block; } figcaption, .nodata, .note { color: var(--muted); }
input.filter { margin: 4px 0; padding: 3px 6px; background: var(--bg); color: var(--fg);
  border: 1px solid var(--line); border-radius: 4px; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
@media print { body { max-width: none; padding: 0; } input.filter { display: none; }
  figure.chart, table { break-inside: avoid; } }
"""

#: Sorting and filtering only; the page reads the same without it.
SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (t) {
  t.querySelectorAll('th').forEach(function (th, col) {
    th.dataset.sort = '1';
    th.addEventListener('click', function () {
      var body = t.tBodies[0], rows = Array.from(body.rows), asc = th.dataset.dir !== 'asc';
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v || a.cells[col].textContent,
            y = b.cells[col].dataset.v || b.cells[col].textContent,
            nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? c : -c;
      });
      th.dataset.dir = asc ? 'asc' : 'desc';
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
document.querySelectorAll('input.filter').forEach(function (box) {
  var t = document.getElementById(box.dataset.table);
  box.addEventListener('input', function () {
    var q = box.value.toLowerCase();
    Array.from(t.tBodies[0].rows).forEach(function (r) {
      r.style.display = r.textContent.toLowerCase().indexOf(q) >= 0 ? '' : 'none';
    });
  });
});
"""


@dataclass(frozen=True)
class Verdict:
    """The banner at the top: ``tone`` is pass, fail or warn."""

    tone: str
    headline: str
    detail: str = ""


@dataclass(frozen=True)
class Section:
    title: str
    body: str
    id: str = ""


@dataclass(frozen=True)
class Cell:
    """A table cell: ``text`` shown, ``sort`` the value sorting uses (a number)."""

    text: str
    sort: float | None = None
    css: str = ""


def page(title: str, meta: str, verdict: Verdict, sections: Iterable[Section]) -> str:
    """The whole document; sections with an empty body are left out."""
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">{escape(meta)}</p>',
        f'<p id="verdict" class="verdict {verdict.tone}" role="status">'
        f"<strong>{escape(verdict.headline)}</strong>{escape(verdict.detail)}</p>",
    ]
    for section in sections:
        if not section.body:
            continue
        anchor = f' id="{escape(section.id)}"' if section.id else ""
        body.append(f"<section{anchor}><h2>{escape(section.title)}</h2>\n{section.body}</section>")
    return _printable(
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


#: Control characters HTML does not allow in a document (an agent's error message may
#: carry one); each becomes U+FFFD, as a browser would show it.
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def _printable(document: str) -> str:
    return _CONTROL.sub("\ufffd", document)


def chart_grid(charts: Iterable[str]) -> str:
    """Charts side by side where the page is wide enough, one per row otherwise."""
    charts = [c for c in charts if c]
    return '<div class="charts">' + "\n".join(charts) + "</div>" if charts else ""


def cards(items: Sequence[tuple[str, str]]) -> str:
    """Headline figures as small cards: (value, label)."""
    if not items:
        return ""
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for v, k in items
        )
        + "</div>"
    )


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str | Cell]],
    *,
    id: str = "",
    numeric: Sequence[int] = (),
    filterable: bool = False,
    css: str = "",
) -> str:
    """A sortable table; ``numeric`` columns align right. A filter box when asked."""
    if not rows:
        return ""
    anchor = f' id="{escape(id)}"' if id else ""
    head = "".join(
        f"<th{' class=num' if i in numeric else ''}>{escape(h)}</th>" for i, h in enumerate(headers)
    )
    out = []
    if filterable and id:
        out.append(
            f'<input class="filter" type="search" placeholder="filter rows" '
            f'aria-label="filter {escape(id)}" data-table="{escape(id)}">'
        )
    out.append(f'<table class="sortable {css}"{anchor}><thead><tr>{head}</tr></thead><tbody>')
    for row in rows:
        out.append("<tr>" + "".join(_cell(c, i in numeric) for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _cell(cell: str | Cell, numeric: bool) -> str:
    if not isinstance(cell, Cell):
        cell = Cell(str(cell))
    classes = " ".join(c for c in (cell.css, "num" if numeric else "") if c)
    attrs = f' class="{classes}"' if classes else ""
    if cell.sort is not None:
        attrs += f' data-v="{cell.sort!r}"'
    return f"<td{attrs}>{escape(cell.text)}</td>"


def bullet_list(items: Iterable[str], css: str = "") -> str:
    items = list(items)
    if not items:
        return ""
    klass = f' class="{css}"' if css else ""
    return f"<ul{klass}>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def paragraph(text: str, css: str = "note") -> str:
    return f'<p class="{css}">{escape(text)}</p>' if text else ""


def gates_table(gates: Sequence[Mapping[str, Any]]) -> str:
    """Each gate with what was observed against its limit and what decided it."""
    if not gates:
        return paragraph("No gate was set.")
    rows = []
    for gate in gates:
        result = "pass" if gate.get("passed") else "fail"
        rows.append(
            [
                gate.get("label", ""),
                gate.get("observed_text", ""),
                gate.get("limit_text") or gate.get("limit_label") or "",
                Cell(result.upper(), css=result),
                gate.get("message", ""),
            ]
        )
    return table(["gate", "observed", "limit", "result", "detail"], rows, id="gates", css="gates")


def record_tables(data: Mapping[str, Any] | None) -> str:
    """Any JSON-able mapping as a label/value table plus one table per nested record set.

    Sections whose exact shape another part of the tool owns (cache stats, token usage)
    render through this, so a field added there shows up here without a change.
    """
    if not data:
        return ""
    out = [table(["", "value"], [[k, v] for k, v in scalar_rows(data)])]
    for title, columns, rows in nested_tables(data):
        out.append(f"<h3>{escape(title)}</h3>" + table(columns, rows))
    return "\n".join(out)


def health_html(health: Mapping[str, Any], warnings: Sequence[str] = ()) -> str:
    """The health score, each finding with its value against its limit and the points it
    cost, the recommendations, and the warnings that travel with the result."""
    rows = [
        [
            f["rule"],
            f["message"],
            f.get("value_text", ""),
            f.get("limit_text", ""),
            Cell(f"-{f['points']:g}", -f["points"]),
        ]
        for f in health.get("findings") or ()
    ]
    status = str(health.get("status", "")).replace("_", " ")
    parts = [
        paragraph(f"Score {health['score']:.0f}/100: {status}", "lead"),
        table(["rule", "finding", "value", "limit", "points"], rows, numeric=(4,), id="findings"),
        "<h3>Recommendations</h3>" if health.get("recommendations") else "",
        bullet_list(health.get("recommendations") or ()),
    ]
    if warnings:
        parts += ["<h3>Warnings</h3>", bullet_list(warnings, "warnings")]
    return "\n".join(p for p in parts if p)
