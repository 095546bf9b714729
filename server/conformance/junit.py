"""A run as JUnit XML for CI: one `testsuite` per suite, one `testcase` per test (classname =
suite name, name = test id).

A failed test is a `failure`, an unanswered one an `error`, both carrying the message, the
message id (as `type`) and the failing request and response; a skipped test is `skipped`. A
suppressed failure is reported as passed with a `system-out` note naming the justification.
JUnit has no notion of optional tests: an optional test's failure is still a `failure`, its
text saying it does not affect conformance (the `conformant` property on `testsuites` does).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime

from server.conformance.model import Exchange, Run, Suite, TestResult

BODY_LIMIT = 4_000
# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def as_junit(run: Run) -> bytes:
    """Return the JUnit XML document (UTF-8, with declaration) for `run`."""
    groups = _by_suite(run)
    root = ET.Element("testsuites", _attributes(
        name="Cradle conformance", **_counts([r for _, results in groups for r in results]),
        time=_seconds(run)))
    properties = ET.SubElement(root, "properties")
    for name, value in (("target", run.target), ("started", run.started),
                        ("ended", run.ended), ("conformant", str(run.passed).lower())):
        ET.SubElement(properties, "property", name=name, value=_clean(value))
    for name, results in groups:
        suite = ET.SubElement(root, "testsuite", _attributes(
            name=name, **_counts(results), timestamp=run.started))
        for result in results:
            _testcase(suite, name, result)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _by_suite(run: Run) -> list[tuple[str, list[TestResult]]]:
    """Results grouped by the suite holding their test, in suite order; results of tests no
    suite holds (a hand-built run) go under `cradle`."""
    owner: dict[int, Suite] = {id(t): s for s in run.suites for t in s.tests}
    by_id = {t.id: s for s in run.suites for t in s.tests}
    groups: dict[str, list[TestResult]] = {s.name: [] for s in run.suites}
    for result in run.results:
        suite = owner.get(id(result.test)) or by_id.get(result.test.id)
        groups.setdefault(suite.name if suite else "cradle", []).append(result)
    return [(name, results) for name, results in groups.items()]


def _counts(results: list[TestResult]) -> dict[str, str]:
    live = [r for r in results if r.suppressed_by is None]
    return {"tests": str(len(results)),
            "failures": str(sum(r.outcome == "fail" for r in live)),
            "errors": str(sum(r.outcome == "error" for r in live)),
            "skipped": str(sum(r.outcome == "skip" for r in results))}


def _testcase(parent: ET.Element, suite: str, result: TestResult) -> None:
    case = ET.SubElement(parent, "testcase", _attributes(classname=suite, name=result.test.id))
    if result.suppressed_by is not None:
        note = (f"SUPPRESSED ({result.suppressed_by}): this test's {result.outcome} is a known, "
                f"accepted issue.\n{result.message} [{result.message_id}]\n"
                + _exchange_text(result.exchange))
        ET.SubElement(case, "system-out").text = _clean(note.rstrip())
    elif result.outcome == "skip":
        ET.SubElement(case, "skipped", message=_clean(result.message))
    elif result.outcome in ("fail", "error"):
        element = ET.SubElement(case, "failure" if result.outcome == "fail" else "error",
                                _attributes(message=result.message,
                                            type=result.message_id or result.outcome))
        text = f"{result.test.title}\n{result.message} [{result.message_id}]\n"
        if not result.test.mandatory:
            text += "Optional test: this does not affect conformance.\n"
        if result.test.fix:
            text += f"How to fix: {result.test.fix}\n"
        element.text = _clean((text + _exchange_text(result.exchange)).rstrip())


def _exchange_text(exchange: Exchange | None) -> str:
    if exchange is None:
        return ""
    lines = [f"Request: {exchange.method} {exchange.url}"]
    if exchange.request_body:
        lines.append(_truncate(exchange.request_body))
    lines.append(f"Response: {exchange.status if exchange.status is not None else 'none'}")
    if exchange.response_body:
        lines.append(_truncate(exchange.response_body))
    return "\n".join(lines) + "\n"


def _truncate(text: str, limit: int = BODY_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… ({len(text) - limit} more characters)"


def _attributes(**values: str) -> dict[str, str]:
    return {k: _clean(v) for k, v in values.items()}


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _seconds(run: Run) -> str:
    try:
        elapsed = (datetime.fromisoformat(run.ended)
                   - datetime.fromisoformat(run.started)).total_seconds()
    except ValueError:
        return "0"
    return f"{max(elapsed, 0):.3f}"
