"""Requirements coverage: for each requirement in `conformance/requirements.yaml`, the tests
of a run that exercised it and what they found.

A test exercises a requirement when it names it and ran (any outcome but skip). Status:

- `failed`: an exercising test failed or errored and no suppression covers it;
- `suppressed`: it would be failed, but every such failure is suppressed;
- `passed`: at least one exercising test passed and none failed;
- `not exercised`: no test names it, or every test naming it was skipped.

Requirements that tests name but the catalogue lacks are listed too (level `?`), so a typo in
a suite does not silently vanish from coverage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from server.conformance.model import Json, Run, TestResult
from server.conformance.suites import load_requirements

PASSED, FAILED, SUPPRESSED, NOT_EXERCISED = "passed", "failed", "suppressed", "not exercised"


@dataclass(frozen=True)
class Coverage:
    id: str
    level: str
    source: str
    text: str
    tests: tuple[tuple[str, str], ...]  # (test id, result label) of every test naming it
    status: str

    @property
    def exercised_by(self) -> tuple[str, ...]:
        """The ids of the tests that ran (not skipped) for this requirement."""
        return tuple(test for test, label in self.tests if label != "skip")


def result_label(result: TestResult) -> str:
    """pass | fail | error | skip | suppressed."""
    return "suppressed" if result.suppressed_by is not None else result.outcome


def coverage(run: Run, requirements: Mapping[str, Json] | None = None) -> list[Coverage]:
    """Return the coverage of every requirement, in catalogue order, then any requirement the
    tests name that the catalogue lacks."""
    catalogue = dict(requirements if requirements is not None
                     else run.requirements or load_requirements())
    by_requirement: dict[str, list[TestResult]] = {}
    for result in run.results:
        for requirement in result.test.requirements:
            by_requirement.setdefault(requirement, []).append(result)
    ids = list(catalogue) + [r for r in by_requirement if r not in catalogue]
    out = []
    for ident in ids:
        entry = catalogue.get(ident)
        results = by_requirement.get(ident, [])
        out.append(Coverage(
            id=ident,
            level=str(entry.get("level", "")) if entry else "?",
            source=str(entry.get("source", "")) if entry else "",
            text=str(entry.get("text", "")) if entry else "not in requirements.yaml",
            tests=tuple((r.test.id, result_label(r)) for r in results),
            status=_status(results)))
    return out


def _status(results: list[TestResult]) -> str:
    ran = [r for r in results if r.outcome != "skip"]
    if not ran:
        return NOT_EXERCISED
    if any(r.outcome in ("fail", "error") and r.suppressed_by is None for r in ran):
        return FAILED
    if any(r.outcome in ("fail", "error") for r in ran):
        return SUPPRESSED
    return PASSED


def summary(rows: list[Coverage]) -> str:
    """One short paragraph: counts by status, then the failed and unexercised SHALLs."""
    counts = {status: sum(r.status == status for r in rows)
              for status in (PASSED, FAILED, SUPPRESSED, NOT_EXERCISED)}
    line = (f"requirements: {counts[PASSED]} passed, {counts[FAILED]} failed, "
            f"{counts[SUPPRESSED]} suppressed, {counts[NOT_EXERCISED]} not exercised "
            f"(of {len(rows)})")
    failed = [r.id for r in rows if r.status == FAILED]
    unexercised = [r.id for r in rows if r.status == NOT_EXERCISED and r.level == "SHALL"]
    if failed:
        line += f"\n  failed: {', '.join(failed)}"
    if unexercised:
        line += f"\n  SHALL not exercised: {', '.join(unexercised)}"
    return line
