"""A conformance suite and what running it found, independent of any report format."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]
# Validates one resource, returning (message id, message, expression) per error.
Validate = Callable[[Json], list[tuple[str, str, str | None]]]


@dataclass(frozen=True)
class Step:
    """One request and what its answer must show.

    `expect` keys: `status` (int or list), `resourceType`, `headers` (names that must be
    present), `fhirpath` (expressions that must all be true over the body), `conforms`
    (the body must validate against the profiles), `outcome` (the body is an
    OperationOutcome; `names-element`: an error issue carries a FHIRPath
    expression). `save` names FHIRPath results to
    reuse as `${name}` in later steps (`$body`: the answer's text). A URL starting `~/` is
    relative to the server root rather than the FHIR base (agency endpoints); a `bytes` body is
    sent as it is (a vendor's native file).
    """

    method: str
    url: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    expect: Json = field(default_factory=dict)
    save: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Test:
    __test__ = False  # not a pytest test class

    id: str
    title: str
    description: str
    requirements: tuple[str, ...]
    mandatory: bool
    steps: tuple[Step, ...]
    fix: str = ""
    needs: tuple[str, ...] = ()  # capabilities the target must claim ("Patient.create")


@dataclass(frozen=True)
class Suite:
    name: str
    title: str
    description: str
    tests: tuple[Test, ...]
    version: str = "1.0.0"
    at_run_time: tuple[Json, ...] = ()  # generate entries that need the target's claims


@dataclass(frozen=True)
class Exchange:
    """A request and its response, as the report shows a failure."""

    method: str
    url: str
    request_body: str | None
    status: int | None
    response_headers: dict[str, str]
    response_body: str | None


@dataclass
class TestResult:
    __test__ = False

    test: Test
    outcome: str  # pass | fail | error | skip
    message: str = ""
    message_id: str = ""
    exchange: Exchange | None = None
    suppressed_by: str | None = None  # the justification, when a suppression applied

    @property
    def passed(self) -> bool:
        return self.outcome in ("pass", "skip") or self.suppressed_by is not None


@dataclass
class Run:
    """One run of some suites against one target."""

    target: str
    suites: list[Suite]
    results: list[TestResult]
    started: str
    ended: str
    requirements: dict[str, Json] = field(default_factory=dict)  # id -> requirement

    @property
    def passed(self) -> bool:
        """True when every mandatory test passed (or was suppressed)."""
        return all(r.passed for r in self.results if r.test.mandatory)
