"""The kit's reports (JUnit XML, HTML, FHIR TestReport), requirements coverage and
suppressions, from a run built by hand; and `cradle conformance run` writing all three."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from server.conformance.coverage import coverage, summary
from server.conformance.html_report import as_html
from server.conformance.junit import as_junit
from server.conformance.model import Exchange, Run, Suite, Test, TestResult
from server.conformance.profiles import profile_validator
from server.conformance.suppress import apply_suppressions
from server.conformance.suppressions import Suppression, load_suppressions
from server.conformance.testreport import as_testreport
from server.errors import Invalid
from tests.cli.commands import CRADLE, environment

REQUIREMENTS = {
    "req-a": {"id": "req-a", "level": "SHALL", "source": "spec a", "text": "A works"},
    "req-b": {"id": "req-b", "level": "SHALL", "source": "spec b", "text": "B works"},
    "req-c": {"id": "req-c", "level": "SHALL", "source": "spec c", "text": "C works"},
    "req-d": {"id": "req-d", "level": "SHOULD", "source": "spec d", "text": "D works"},
    "req-e": {"id": "req-e", "level": "SHALL", "source": "spec e", "text": "nobody tests E"},
    "req-f": {"id": "req-f", "level": "SHALL", "source": "spec f", "text": "F (suppressed)"},
}
BAD_URL = "http://target.example/fhir/Patient/abc?x=1&y=2"


def _test(ident: str, requirements: tuple[str, ...], mandatory: bool = True,
          fix: str = "") -> Test:
    return Test(id=ident, title=f"Title of {ident}", description="", requirements=requirements,
                mandatory=mandatory, steps=(), fix=fix)


def _run() -> Run:
    passing = _test("t-pass", ("req-a",))
    failing = _test("t-fail", ("req-a", "req-b"), fix="Answer a read with 200 & the record.")
    erring = _test("t-error", ("req-c",))
    skipped = _test("t-skip", ("req-d",))
    suppressed = _test("t-suppressed", ("req-f",))
    optional = _test("t-optional", ("req-d",), mandatory=False, fix="Optional fix text.")
    other = _test("t-other", ("req-a", "req-undeclared"))
    exchange = Exchange("GET", BAD_URL, None, 404, {"Content-Type": "application/fhir+json"},
                        json.dumps({"resourceType": "OperationOutcome", "issue": [
                            {"severity": "error", "code": "not-found",
                             "diagnostics": "<script>alert(1)</script>\x00"}]}))
    results = [
        TestResult(passing, "pass"),
        TestResult(failing, "fail", "expected HTTP status 200, got 404", "conformance-status",
                   exchange),
        TestResult(erring, "error", "no answer from the target: refused",
                   "conformance-no-answer"),
        TestResult(skipped, "skip", "the target does not claim Patient.vread",
                   "conformance-not-claimed"),
        TestResult(suppressed, "fail", "the answer has no ETag header", "conformance-header",
                   Exchange("POST", "http://target.example/fhir/Patient", '{"a": 1}', 201, {},
                            None)),
        TestResult(optional, "fail", "expected a Bundle, got no FHIR JSON",
                   "conformance-resource-type",
                   Exchange("GET", "http://target.example/fhir/Patient?_count=x", None, 500,
                            {}, "x" * 20_000)),
        TestResult(other, "pass"),
    ]
    suites = [Suite("one", "Suite one", "", (passing, failing, erring, skipped, suppressed,
                                              optional)),
              Suite("two", "Suite two", "", (other,))]
    run = Run("http://target.example/fhir", suites, results, "2026-01-01T10:00:00+00:00",
              "2026-01-01T10:00:05+00:00", dict(REQUIREMENTS))
    applied = apply_suppressions(run, [
        Suppression("t-suppressed", None, "Known gap, fixed in release 4.2 (VEND-123)"),
        Suppression("t-pass", None, "nothing to suppress"),
        Suppression("conformance-status", "Patient.id", "message ids do not apply here"),
        Suppression("t-unknown", None, "no such test")])
    assert [s.id for s in applied.used] == ["t-suppressed"]
    assert [s.id for s, _ in applied.unused] == ["t-pass", "conformance-status", "t-unknown"]
    return run


def test_suppression_marks_only_the_named_failing_test() -> None:
    run = _run()
    marked = {r.test.id: r.suppressed_by for r in run.results if r.suppressed_by}
    assert marked == {"t-suppressed": "Known gap, fixed in release 4.2 (VEND-123)"}
    assert not run.passed  # t-fail and t-error are mandatory and not suppressed


def test_junit_counts_and_elements() -> None:
    root = ET.fromstring(as_junit(_run()))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) \
        == ("7", "2", "1", "1")
    assert root.get("time") == "5.000"
    properties = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert properties["conformant"] == "false"
    assert properties["target"] == "http://target.example/fhir"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["one", "two"]
    assert [s.get("tests") for s in suites] == ["6", "1"]
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert {c.get("classname") for c in suites[0].iter("testcase")} == {"one"}
    assert cases["t-other"].get("classname") == "two"
    assert list(cases["t-pass"]) == []
    failure = cases["t-fail"].find("failure")
    assert failure is not None
    assert failure.get("message") == "expected HTTP status 200, got 404"
    assert failure.get("type") == "conformance-status"
    assert f"Request: GET {BAD_URL}" in (failure.text or "")
    assert "Response: 404" in (failure.text or "")
    assert "<script>alert(1)</script>" in (failure.text or "")  # text, escaped in the XML
    assert "\x00" not in (failure.text or "")
    error = cases["t-error"].find("error")
    assert error is not None and error.get("type") == "conformance-no-answer"
    skipped = cases["t-skip"].find("skipped")
    assert skipped is not None and "Patient.vread" in (skipped.get("message") or "")
    suppressed = cases["t-suppressed"]
    assert suppressed.find("failure") is None and suppressed.find("error") is None
    note = suppressed.find("system-out")
    assert note is not None and "VEND-123" in (note.text or "")
    optional = cases["t-optional"].find("failure")
    assert optional is not None and "does not affect conformance" in (optional.text or "")
    assert "more characters" in (optional.text or "")  # the 20 000-character body is cut


def test_html_report() -> None:
    page = as_html(_run())
    assert page.startswith("<!DOCTYPE html>")
    assert "NOT CONFORMANT" in page
    assert "1 mandatory test was skipped" in page
    assert "http://target.example/fhir/Patient/abc?x=1&amp;y=2" in page
    assert "HTTP <code>404</code>" in page
    assert "Answer a read with 200 &amp; the record." in page
    assert "Optional fix text." in page
    assert "Known gap, fixed in release 4.2 (VEND-123)" in page
    assert '<table id="coverage">' in page
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '"resourceType": "OperationOutcome"' in page.replace("&quot;", '"')  # pretty JSON
    assert "more characters" in page
    for forbidden in ("<link", "src=", "@import", "url("):  # self-contained
        assert forbidden not in page
    coverage_table = page.split('<table id="coverage">')[1]
    assert "req-e" in coverage_table and "not exercised" in coverage_table


def test_coverage_statuses() -> None:
    rows = {row.id: row for row in coverage(_run())}
    assert rows["req-a"].status == "failed"  # t-fail failed, though t-pass and t-other passed
    assert rows["req-a"].exercised_by == ("t-pass", "t-fail", "t-other")
    assert rows["req-b"].status == "failed"
    assert rows["req-c"].status == "failed"  # an error counts
    assert rows["req-d"].status == "failed"  # the optional test ran and failed; t-skip didn't
    assert rows["req-d"].tests == (("t-skip", "skip"), ("t-optional", "fail"))
    assert rows["req-e"].status == "not exercised"
    assert rows["req-f"].status == "suppressed"
    assert rows["req-undeclared"].level == "?"
    assert list(rows)[:6] == list(REQUIREMENTS)  # catalogue order first


def test_coverage_passed_and_only_skipped() -> None:
    good, skipped = _test("g", ("req-a",)), _test("s", ("req-b",))
    run = Run("http://t", [Suite("s", "S", "", (good, skipped))],
              [TestResult(good, "pass"), TestResult(skipped, "skip", "not claimed")],
              "2026-01-01T10:00:00+00:00", "2026-01-01T10:00:00+00:00", dict(REQUIREMENTS))
    rows = {row.id: row.status for row in coverage(run)}
    assert rows["req-a"] == "passed"
    assert rows["req-b"] == "not exercised"
    text = summary(coverage(run))
    assert text.startswith("requirements: 1 passed, 0 failed, 0 suppressed, 5 not exercised")
    assert "req-b" in text and "req-d" not in text  # only SHALLs are named


def test_testreport_is_valid_r4() -> None:
    report = as_testreport(_run(), "run-1")
    errors = profile_validator()(report)
    assert errors == []
    tests = {t["name"]: t["action"][0]["assert"] for t in report["test"]}
    assert tests["t-suppressed"]["result"] == "pass"
    assert "VEND-123" in tests["t-suppressed"]["message"]
    assert report["result"] == "fail"


@pytest.mark.parametrize("entry", [
    "- {id: t-fail}",
    "- {id: t-fail, justification: '  '}",
    "- {id: invariant-x, expression: 'Patient.*', justification: because}",
    "- {id: invariant-x, expression: '*', justification: because}",
])
def test_suppressions_rejected(tmp_path: Path, entry: str) -> None:
    file = tmp_path / "suppressions.yaml"
    file.write_text(f"suppressions:\n  {entry}\n")
    with pytest.raises(Invalid):
        load_suppressions(file)


def test_suppressions_loaded(tmp_path: Path) -> None:
    file = tmp_path / "suppressions.yaml"
    file.write_text("suppressions:\n  - {id: t-fail, justification: accepted (VEND-1)}\n")
    assert load_suppressions(file) == [Suppression("t-fail", None, "accepted (VEND-1)")]


def test_cli_writes_all_reports_for_an_unreachable_target(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    suppressions = tmp_path / "suppressions.yaml"
    suppressions.write_text(
        "suppressions:\n  - {id: api-capabilities, justification: metadata is off (VEND-9)}\n")
    done = subprocess.run(
        [*CRADLE, "conformance", "run", "--target", "http://127.0.0.1:9/fhir", "--suite", "api",
         "--out", str(out), "--suppressions", str(suppressions)],
        capture_output=True, text=True, env=environment(), timeout=300)
    assert done.returncode == 1, done.stderr
    assert "NOT CONFORMANT" in done.stdout
    assert "requirements:" in done.stdout
    for name in ("testreport.json", "junit.xml", "report.html"):
        assert (out / name).is_file(), name
    report = json.loads((out / "testreport.json").read_text())
    assert report["resourceType"] == "TestReport" and report["result"] == "fail"
    root = ET.parse(out / "junit.xml").getroot()
    assert int(root.get("errors") or 0) > 0
    page = (out / "report.html").read_text()
    assert "metadata is off (VEND-9)" in page
    assert '<table id="coverage">' in page


def test_cli_rejects_a_bad_suppressions_file(tmp_path: Path) -> None:
    suppressions = tmp_path / "suppressions.yaml"
    suppressions.write_text("suppressions:\n  - {id: api-capabilities}\n")
    done = subprocess.run(
        [*CRADLE, "conformance", "run", "--target", "http://127.0.0.1:9/fhir", "--suite", "api",
         "--suppressions", str(suppressions)],
        capture_output=True, text=True, env=environment(), timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("cradle: error: ")
    assert "justification" in done.stderr
    assert "Traceback" not in done.stderr
