"""Running suites against a target FHIR server: every step's request sent, every expectation
checked, each failure kept with the exchange that showed it."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fhirpathpy import evaluate

from server.conformance.data import fixture
from server.conformance.generated import FHIR_MODEL, generate_for_target
from server.conformance.model import (
    Exchange,
    Json,
    Run,
    Step,
    Suite,
    Test,
    TestResult,
    Validate,
)
from server.conformance.search_values import as_search, without_resolve
from server.conformance.suites import load_requirements

FHIR_JSON = "application/fhir+json"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class StepFailed(Exception):
    def __init__(self, message_id: str, message: str) -> None:
        super().__init__(message)
        self.message_id = message_id


@dataclass
class Target:
    """The server under test: its base URL, an HTTP client, what it claims to support."""

    base: str
    client: httpx.AsyncClient
    claims: set[str] = field(default_factory=set)  # "Patient.create", "Patient.search:name"…

    @property
    def root(self) -> str:
        """The server root: the FHIR base without its last path segment (`…/fhir`)."""
        return self.base.rsplit("/", 1)[0] if self.base.count("/") > 2 else self.base


async def run_suites(base: str, suites: Sequence[Suite], token: str | None = None,
                     validate: Validate | None = None,
                     transport: httpx.AsyncBaseTransport | None = None) -> Run:
    """Run `suites` against the FHIR base URL `base` and return what was found.

    `validate` checks answers the suites expect to conform (without it those expectations
    are skipped); `transport` lets tests run against an in-process app. Never raises for
    what the target does: a refused connection is an `error` result per test.
    """
    headers = {"Accept": FHIR_JSON}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    started = _now()
    async with httpx.AsyncClient(base_url=base.rstrip("/"), headers=headers, timeout=60,
                                 transport=transport) as client:
        target = Target(base.rstrip("/"), client)
        target.claims = await _claims(client)
        results = [await run_test(target, test, validate) for suite in suites
                   for test in (*suite.tests, *(t for spec in suite.at_run_time
                                                for t in generate_for_target(spec,
                                                                             target.claims)))]
    return Run(base, list(suites), results, started, _now(), load_requirements())


async def run_test(target: Target, test: Test, validate: Validate | None) -> TestResult:
    """Return the result of one test: its steps in order, stopping at the first failure."""
    missing = [need for need in test.needs if need not in target.claims]
    if missing and not target.claims:
        return TestResult(test, "fail", "the target's CapabilityStatement (GET [base]/metadata) "
                          "could not be read, so nothing it supports is known",
                          "conformance-no-capabilities")
    if missing and all(".search:" in need for need in missing):
        # Search parameters are tested where claimed: not claiming one is allowed.
        return TestResult(test, "skip", f"the target does not claim {', '.join(missing)}",
                          "conformance-not-claimed")
    if missing:
        return TestResult(test, "fail", f"the target does not claim {', '.join(missing)}, "
                          "which the standard requires", "conformance-required-not-claimed")
    # ${run}: unique per test run, so identifiers never collide with a target's other data
    variables: dict[str, str] = {"run": uuid.uuid4().hex[:12]}
    exchange: Exchange | None = None
    try:
        for step in test.steps:
            exchange, body = await _send(target, step, variables)
            _expect(step, exchange, body, validate, variables)
            for name, expression in step.save.items():
                if expression == "$body":  # the answer as text (a native document)
                    variables[name] = exchange.response_body or ""
                    continue
                if expression.startswith(("search:", "search-other:")):
                    variables[name] = _search_value(body, expression)
                    continue
                found = evaluate(body, expression) if isinstance(body, dict) else []
                if not found:
                    raise StepFailed("conformance-nothing-to-save",
                                     f"the answer has no {expression} to use later")
                variables[name] = str(found[0])
    except StepFailed as failure:
        return TestResult(test, "fail", str(failure), failure.message_id, exchange)
    except httpx.HTTPError as error:
        return TestResult(test, "error", f"no answer from the target: {error}",
                          "conformance-no-answer", exchange)
    return TestResult(test, "pass")


async def _claims(client: httpx.AsyncClient) -> set[str]:
    """What the CapabilityStatement claims, as `Type.interaction` and `Type.search:param`."""
    try:
        response = await client.get("/metadata")
        statement = response.json()
    except (httpx.HTTPError, ValueError):
        return set()
    claims: set[str] = set()
    for rest in statement.get("rest", []):
        for resource in rest.get("resource", []):
            kind = resource.get("type", "")
            claims.update(f"{kind}.{i.get('code')}" for i in resource.get("interaction", []))
            claims.update(f"{kind}.search:{p.get('name')}"
                          for p in resource.get("searchParam", []))
            for operation in resource.get("operation", []):
                claims.add(f"{kind}.${operation.get('name')}")
        claims.update(f"system.{i.get('code')}" for i in rest.get("interaction", []))
    return claims


async def _send(target: Target, step: Step,
                variables: dict[str, str]) -> tuple[Exchange, Any]:
    url = _fill(step.url, variables)
    headers = {k: _fill(v, variables) for k, v in step.headers.items()}
    content: bytes | None = None
    if isinstance(step.body, bytes):  # a vendor's native file, sent as it is
        content = step.body
    elif step.body is not None:
        body = step.body
        if isinstance(body, str) and body.startswith("fixture:"):
            body = fixture(body.removeprefix("fixture:"))
        text = body if isinstance(body, str) else json.dumps(body)
        content = _fill(text, variables).encode()
        headers.setdefault("Content-Type", FHIR_JSON)
    if url.startswith("~/"):  # relative to the server root, not the FHIR base
        url = target.root + url[1:]
    response = await target.client.request(step.method, url, content=content, headers=headers)
    try:
        parsed: Any = response.json() if response.content else None
    except ValueError:
        parsed = None
    exchange = Exchange(step.method, f"{target.base}{url}",
                        content.decode() if content is not None else None,
                        response.status_code, dict(response.headers),
                        response.text[:20_000] if response.content else None)
    return exchange, parsed


def _search_value(body: Any, spec: str) -> str:
    """`search:TYPE:EXPRESSION`: the search value matching what EXPRESSION finds in the answer
    (a token as system|code, a reference, a date…); `search-other:…` one that cannot match."""
    kind, type_, expression = spec.split(":", 2)
    found = (evaluate(body, without_resolve(expression), None, FHIR_MODEL)
             if isinstance(body, dict) else [])
    if not found:
        raise StepFailed("conformance-nothing-to-save",
                         f"the answer has no {expression} to search by")
    value = as_search(type_, found[0])
    if value is None:
        raise StepFailed("conformance-nothing-to-save",
                         f"the answer's {expression} holds nothing to search by")
    if kind == "search":
        return value
    nowhere = uuid.uuid4().hex[:10]
    return {"token": f"{value.split('|')[0]}|no-such-{nowhere}" if "|" in value
            else f"no-such-{nowhere}", "date": "lt1901-01-01",
            "reference": f"Patient/no-such-{nowhere}", "number": "-987654321"}.get(
                type_, f"zq{nowhere}")


def _fill(text: str, variables: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: variables.get(m.group(1), m.group(0)), text)


def _expect(step: Step, exchange: Exchange, body: Any, validate: Validate | None,
            variables: dict[str, str]) -> None:
    expect = step.expect
    if "status" in expect:
        allowed = expect["status"] if isinstance(expect["status"], list) else [expect["status"]]
        if exchange.status not in allowed:
            raise StepFailed("conformance-status",
                             f"expected HTTP status {' or '.join(map(str, allowed))}, "
                             f"got {exchange.status}{_said(body)}")
    for name in expect.get("headers", []):
        if name.lower() not in {k.lower() for k in exchange.response_headers}:
            raise StepFailed("conformance-header", f"the answer has no {name} header")
    kind = expect.get("resourceType")
    if kind and (not isinstance(body, dict) or body.get("resourceType") != kind):
        found = body.get("resourceType") if isinstance(body, dict) else "no FHIR JSON"
        raise StepFailed("conformance-resource-type", f"expected a {kind}, got {found}")
    if expect.get("outcome"):
        _expect_outcome(body, named=expect["outcome"] == "names-element")
    for expression in (_fill(e, variables) for e in _list(expect.get("fhirpath"))):
        if not isinstance(body, dict) or evaluate(body, expression) != [True]:
            raise StepFailed("conformance-fhirpath",
                             f"expected {expression} to be true{_actual(body, expression)}")
    if expect.get("conforms") and validate is not None and isinstance(body, dict):
        for resource in _resources(body):
            errors = validate(resource)
            if errors:
                message_id, message, where = errors[0]
                raise StepFailed("conformance-not-conformant",
                                 f"{resource.get('resourceType')}/{resource.get('id')} does "
                                 f"not conform: {message} ({message_id} at {where})")


def _left_of_comparison(expression: str) -> str | None:
    """The left side of a top-level `=`, `!=`, `<`, `>`, `<=`, `>=` (outside brackets)."""
    depth, quoted = 0, False
    for i, char in enumerate(expression):
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            depth -= 1
        elif not quoted and depth == 0 and char in "=<>!":
            return expression[:i].strip() or None
    return None


def _actual(body: Any, expression: str) -> str:
    """For `X = Y`-like expressions, what X actually was, so the vendor sees the value."""
    left = _left_of_comparison(expression)
    if not isinstance(body, dict) or left is None or " and " in expression:
        return ""
    try:
        value = evaluate(body, left)
    except Exception:  # fhirpathpy raises many types; the message is only a hint
        return ""
    shown = value[0] if len(value) == 1 else value
    return f" (it is {str(shown)[:200]})"


def _said(body: Any) -> str:
    """What an OperationOutcome answer said, for the failure message."""
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        issues = body.get("issue") or [{}]
        worst = [i for i in issues if i.get("severity") in ("fatal", "error")]
        first = (worst or issues)[0]
        places = first.get("location") or first.get("expression") or []
        where = f" at {', '.join(places)}" if places else ""
        return f": {first.get('diagnostics') or first.get('code', '')}{where}"
    return ""


def _expect_outcome(body: Any, named: bool) -> None:
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        raise StepFailed("conformance-no-outcome",
                         "an error must be answered with an OperationOutcome")
    issues = body.get("issue") or []
    if not issues or not all(i.get("severity") and i.get("code") for i in issues):
        raise StepFailed("conformance-outcome-issue",
                         "the OperationOutcome needs issues with severity and code")
    if named and not any(i.get("expression") for i in issues
                         if i.get("severity") in ("error", "fatal")):
        raise StepFailed("conformance-outcome-no-expression",
                         "the OperationOutcome must name the offending element "
                         "(issue.expression, FHIRPath)")


def _resources(body: Json) -> list[Json]:
    if body.get("resourceType") == "Bundle":
        return [e["resource"] for e in body.get("entry", []) if isinstance(e.get("resource"),
                                                                             dict)]
    return [body]


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
