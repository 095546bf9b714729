"""Conformance suites as data: `conformance/suites/NAME.yaml`, readable by vendors, loaded into
`Suite`s and compiled to FHIR TestScript resources (`as_testscript`).

A suite file:

    suite: api
    title: …
    description: …
    tests:
      - id: api-create-read              # stable: reports and suppressions name it
        title: …                         # one line a vendor understands
        description: …
        requirements: [rest-create]      # ids in conformance/requirements.yaml
        mandatory: true
        needs: [Patient.create]          # skipped when the target's CapabilityStatement lacks it
        fix: …                           # how to fix a failure
        steps:
          - request: {method: POST, url: /Patient, body: "fixture:child.json"}
            expect: {status: 201, headers: [Location, ETag], resourceType: Patient}
            save: {child: id}            # FHIRPath on the answer, reused as ${child}
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from server.conformance.data import default_conformance_dir
from server.conformance.generated import AT_RUN_TIME, agency_tests, generate
from server.conformance.model import Json, Step, Suite, Test
from server.errors import Invalid
from server.mapping.catalog import load_agencies


def suite_names(directory: Path | None = None) -> list[str]:
    """The suites shipped (an `agency` suite runs as `agency:AGENCY`)."""
    root = directory or default_conformance_dir()
    return sorted(p.stem for p in (root / "suites").glob("*.yaml"))


@lru_cache(maxsize=32)
def load_suite(name: str, directory: Path | None = None) -> Suite:
    """Return suite `name`; raises Invalid naming the file for a malformed one or an unknown
    name."""
    root = directory or default_conformance_dir()
    file = root / "suites" / f"{name}.yaml"
    if not file.is_file():
        raise Invalid(f"no conformance suite named '{name}' (known: "
                      f"{', '.join(suite_names(root))})")
    data = _read(file)
    try:
        specs = data.get("generate") or []
        tests = tuple(_test(t) for t in data.get("tests") or [])
        tests += tuple(t for spec in specs if spec.get("kind") not in AT_RUN_TIME
                       for t in generate(spec))
        return Suite(data["suite"], data.get("title", name), data.get("description", ""),
                     tests, str(data.get("version", "1.0.0")),
                     tuple(spec for spec in specs if spec.get("kind") in AT_RUN_TIME))
    except (KeyError, TypeError, ValueError) as error:
        raise Invalid(f"{file}: malformed suite: {error!r}") from None


def agency_suite(agency: str, files: list[Path]) -> Suite:
    """Return the `agency:AGENCY` suite for a vendor's native export `files`; raises Invalid
    for an agency Cradle has no mapping for, or no files."""
    agencies = load_agencies()
    if agency not in agencies:
        raise Invalid(f"no agency mapping named '{agency}' (known: {', '.join(agencies)})")
    if not files:
        raise Invalid(f"the agency:{agency} suite needs the vendor's native export files "
                      "(--native FILE)")
    media = agencies[agency].format.media_types[0]
    return Suite(f"agency:{agency}", f"{agency} native exports map onto the standard",
                 f"Each export file maps cleanly on the target and round-trips ({agency}).",
                 tuple(agency_tests(agency, media, files)))


def load_requirements(directory: Path | None = None) -> dict[str, Json]:
    """Return the requirements catalogue: id -> {text, source, level}."""
    root = directory or default_conformance_dir()
    data = _read(root / "requirements.yaml")
    return {r["id"]: r for r in data["requirements"]}


def _read(file: Path) -> Json:
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise Invalid(f"{file}: cannot read: {error}") from None
    if not isinstance(data, dict):
        raise Invalid(f"{file}: not a mapping")
    return data


def _test(data: Json) -> Test:
    return Test(
        id=str(data["id"]), title=str(data["title"]), description=data.get("description", ""),
        requirements=tuple(data.get("requirements", [])),
        mandatory=bool(data.get("mandatory", True)),
        steps=tuple(_step(s) for s in data["steps"]), fix=data.get("fix", ""),
        needs=tuple(data.get("needs", [])))


def _step(data: Json) -> Step:
    request = data["request"]
    return Step(method=request["method"].upper(), url=request["url"], body=request.get("body"),
                headers=dict(request.get("headers", {})), expect=dict(data.get("expect", {})),
                save=dict(data.get("save", {})))


def as_testscript(suite: Suite) -> Json:
    """Return the suite as a FHIR R4 TestScript (one `test` per test, an operation and its
    asserts per step)."""
    tests = []
    for test in suite.tests:
        actions: list[Json] = []
        for number, step in enumerate(test.steps, 1):
            actions.append({"operation": {
                "method": step.method.lower(), "url": step.url, "encodeRequestUrl": True,
                "label": f"{test.id}-{number}", "description": f"{step.method} {step.url}"}})
            for kind, value in step.expect.items():
                actions.append({"assert": _assert(kind, value, f"{test.id}-{number}")})
        tests.append({"id": test.id, "name": test.title,
                      "description": test.description or test.title, "action": actions})
    return {
        "resourceType": "TestScript", "id": f"cradle-{suite.name}",
        "url": f"https://cradle.example/fhir/TestScript/{suite.name}",
        "version": suite.version, "name": "".join(w.title() for w in suite.name.split("-")),
        "title": suite.title, "status": "active", "description": suite.description or suite.title,
        "test": tests}


def _assert(kind: str, value: Any, label: str) -> Json:
    base: Json = {"label": label, "warningOnly": False}
    if kind == "status":
        codes = value if isinstance(value, list) else [value]
        return {**base, "description": f"status {codes}",
                "responseCode": ",".join(str(c) for c in codes), "operator": "in"}
    if kind == "resourceType":
        return {**base, "description": f"a {value}", "resource": value}
    if kind == "fhirpath":
        expressions = value if isinstance(value, list) else [value]
        return {**base, "description": "; ".join(expressions),
                "expression": " and ".join(f"({e})" for e in expressions)}
    if kind == "conforms":
        return {**base, "description": "the answer conforms to the profiles",
                "validateProfileId": "cradle-profiles"}
    return {**base, "description": f"{kind}: {value}"}
