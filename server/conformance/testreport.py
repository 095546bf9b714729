"""A run as a FHIR R4 TestReport: one `test` per conformance test, its actions' results, and
the failing exchange in the assert's `detail`."""

from __future__ import annotations

from server.conformance.model import Json, Run, TestResult

_RESULT = {"pass": "pass", "fail": "fail", "error": "error", "skip": "skip"}


def as_testreport(run: Run, report_id: str | None = None) -> Json:
    """Return the TestReport of `run` (status completed; result pass only when every mandatory
    test passed)."""
    failed = [r for r in run.results if not r.passed and r.test.mandatory]
    scores = [r for r in run.results if r.outcome != "skip"]
    report: Json = {
        "resourceType": "TestReport",
        "status": "completed",
        "name": f"Cradle conformance: {', '.join(s.name for s in run.suites)}",
        "testScript": {"reference": f"TestScript/cradle-{run.suites[0].name}"
                       if run.suites else "TestScript/cradle"},
        "result": "fail" if failed else "pass",
        "score": round(100 * sum(r.passed for r in scores) / len(scores), 1) if scores else 100,
        "tester": "cradle conformance kit",
        "issued": run.ended,
        "participant": [{"type": "server", "uri": run.target},
                        {"type": "test-engine", "uri": "https://cradle.example/fhir/conformance"}],
        "test": [_test(r) for r in run.results],
    }
    if report_id:
        report["id"] = report_id
    return report


def _test(result: TestResult) -> Json:
    outcome = "pass" if result.suppressed_by else _RESULT[result.outcome]
    message = result.message or ("passed" if outcome == "pass" else outcome)
    if result.suppressed_by:
        message = f"suppressed ({result.suppressed_by}): {result.message}"
    detail = None
    if result.exchange is not None:
        detail = f"{result.exchange.method} {result.exchange.url} -> {result.exchange.status}"
    assertion: Json = {"result": outcome, "message": message}
    if detail:
        assertion["detail"] = detail
    return {
        "name": result.test.id,
        "description": f"{result.test.title}"
                       + ("" if result.test.mandatory else " (optional)")
                       + (f" [requirements: {', '.join(result.test.requirements)}]"
                          if result.test.requirements else ""),
        "action": [{"assert": assertion}],
    }
