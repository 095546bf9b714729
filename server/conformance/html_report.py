"""A run as one self-contained HTML page a vendor can read and share: the summary, every test,
each failure with the request and response that showed it and how to fix it, the suppressions
applied, and the requirements coverage. Inline CSS, no scripts, no external assets; every
piece of text from the run or the target is HTML-escaped."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from html import escape

from server.conformance.coverage import Coverage, coverage, result_label
from server.conformance.model import Exchange, Run, TestResult
from server.conformance.suppress import suppressions_of
from server.conformance.suppressions import Suppression

BODY_LIMIT = 8_000

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1b1b1b;
max-width:80rem}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}
pre{background:#f7f7f7;border:1px solid #ddd;padding:.5rem;overflow-x:auto;white-space:pre-wrap;
word-break:break-word;max-height:30rem}
.pass,.passed{color:#176b2c;font-weight:600}.fail,.error,.failed{color:#b00020;font-weight:600}
.skip,.not-exercised{color:#666}.suppressed{color:#8a5a00;font-weight:600}
.verdict{font-size:1.3rem;font-weight:700;padding:.4rem .8rem;display:inline-block}
.verdict.yes{background:#e3f4e6;color:#176b2c}.verdict.no{background:#fde7ea;color:#b00020}
.failure{border-left:4px solid #b00020;padding-left:1rem;margin:1.5rem 0}
.failure.suppressed-failure{border-left-color:#8a5a00}
dt{font-weight:600}dd{margin:0 0 .4rem 0}
"""


def as_html(run: Run, suppressions: Sequence[Suppression] | None = None,
            rows: list[Coverage] | None = None) -> str:
    """Return the report page. `suppressions` are those applied (default: read from the
    results); `rows` the requirements coverage (default: computed from the run)."""
    applied = list(suppressions) if suppressions is not None else suppressions_of(run)
    table = rows if rows is not None else coverage(run)
    suites = ", ".join(s.name for s in run.suites) or "none"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Cradle conformance report: {escape(run.target)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Cradle conformance report</h1>",
        _summary(run, suites),
        "<h2>Tests</h2>", _tests(run.results),
        "<h2>Failures</h2>", _failures(run.results),
        "<h2>Suppressions applied</h2>", _suppressions(applied),
        "<h2>Requirements coverage</h2>", _coverage(table),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _summary(run: Run, suites: str) -> str:
    labels = [result_label(r) for r in run.results]
    mandatory = [r for r in run.results if r.test.mandatory]
    verdict = ('<p class="verdict yes">CONFORMANT</p>' if run.passed
               else '<p class="verdict no">NOT CONFORMANT</p>')
    facts = [("Target", run.target), ("Suites", suites),
             ("Started", run.started), ("Ended", run.ended),
             ("Mandatory tests passed", f"{sum(r.passed for r in mandatory)}/{len(mandatory)}"),
             ("Results", ", ".join(f"{labels.count(k)} {k}" for k in
                                   ("pass", "fail", "error", "skip", "suppressed")))]
    skipped = sum(r.outcome == "skip" for r in mandatory)
    note = (f"<p>{skipped} mandatory test{'s were' if skipped != 1 else ' was'} skipped (the "
            "target does not claim what they need); a skip counts as passed, so read the "
            "requirements coverage for what was not exercised.</p>" if skipped else "")
    return (verdict + _table(["", ""], [[escape(k), escape(v)] for k, v in facts],
                             header=False) + note)


def _tests(results: list[TestResult]) -> str:
    rows = []
    for result in results:
        label = result_label(result)
        rows.append([
            f'<a href="#{_anchor(result)}">{escape(result.test.id)}</a>'
            if label in ("fail", "error", "suppressed") else escape(result.test.id),
            escape(result.test.title),
            "mandatory" if result.test.mandatory else "optional",
            f'<span class="{label}">{escape(label)}</span>'
            + (f"<br>{escape(result.message)}" if label == "skip" and result.message else ""),
            escape(", ".join(result.test.requirements))])
    return _table(["Test", "Title", "Level", "Result", "Requirements"], rows)


def _failures(results: list[TestResult]) -> str:
    failed = [r for r in results if r.outcome in ("fail", "error")]
    if not failed:
        return "<p>None.</p>"
    return "\n".join(_failure(r) for r in failed)


def _failure(result: TestResult) -> str:
    label = result_label(result)
    classes = "failure suppressed-failure" if result.suppressed_by is not None else "failure"
    parts = [f'<section class="{classes}" id="{_anchor(result)}">',
             f"<h3>{escape(result.test.id)}: {escape(result.test.title)}</h3>",
             f'<p><span class="{label}">{escape(label.upper())}</span>'
             + ("" if result.test.mandatory else " (optional: does not affect conformance)")
             + "</p>", "<dl>",
             f"<dt>What went wrong</dt><dd>{escape(result.message)}"
             + (f" <code>{escape(result.message_id)}</code>" if result.message_id else "")
             + "</dd>"]
    if result.suppressed_by is not None:
        parts.append(f"<dt>Suppressed</dt><dd>{escape(result.suppressed_by)}</dd>")
    if result.test.fix:
        parts.append(f"<dt>How to fix</dt><dd>{escape(result.test.fix)}</dd>")
    if result.test.requirements:
        parts.append(f"<dt>Requirements</dt><dd>{escape(', '.join(result.test.requirements))}"
                     "</dd>")
    parts.append("</dl>")
    parts.append(_exchange(result.exchange))
    parts.append("</section>")
    return "\n".join(parts)


def _exchange(exchange: Exchange | None) -> str:
    if exchange is None:
        return "<p>No request was answered.</p>"
    status = "no answer" if exchange.status is None else str(exchange.status)
    parts = [f"<h4>Request</h4><p><code>{escape(exchange.method)} {escape(exchange.url)}"
             "</code></p>"]
    if exchange.request_body:
        parts.append(f"<pre>{escape(_pretty(exchange.request_body))}</pre>")
    parts.append(f"<h4>Response</h4><p>HTTP <code>{escape(status)}</code></p>")
    if exchange.response_headers:
        headers = "\n".join(f"{k}: {v}" for k, v in exchange.response_headers.items())
        parts.append(f"<pre>{escape(headers)}</pre>")
    if exchange.response_body:
        parts.append(f"<pre>{escape(_pretty(exchange.response_body))}</pre>")
    return "\n".join(parts)


def _suppressions(applied: list[Suppression]) -> str:
    if not applied:
        return "<p>None.</p>"
    return _table(["Id", "Expression", "Justification"],
                  [[escape(s.id), escape(s.expression or "—"), escape(s.justification)]
                   for s in applied])


def _coverage(rows: list[Coverage]) -> str:
    cells = []
    for row in rows:
        css = row.status.replace(" ", "-")
        tests = ", ".join(f"{test} ({label})" for test, label in row.tests) or "—"
        cells.append([escape(row.id), escape(row.level), escape(row.text), escape(row.source),
                      escape(tests), f'<span class="{css}">{escape(row.status)}</span>'])
    return _table(["Requirement", "Level", "Text", "Source", "Tests", "Status"], cells,
                  table_id="coverage")


def _table(headings: Iterable[str], rows: list[list[str]], header: bool = True,
           table_id: str | None = None) -> str:
    """A table of cells that are already HTML (escaped by the caller)."""
    out = [f'<table id="{table_id}">' if table_id else "<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headings) + "</tr>")
    out.extend("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    out.append("</table>")
    return "\n".join(out)


def _pretty(text: str, limit: int = BODY_LIMIT) -> str:
    """JSON bodies indented; any body cut at `limit` characters, saying how much was cut."""
    with contextlib.suppress(ValueError, RecursionError):
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    if len(text) > limit:
        return f"{text[:limit]}\n… ({len(text) - limit} more characters)"
    return text


def _anchor(result: TestResult) -> str:
    return "failure-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in result.test.id)
