"""The FHIRPath compiler agrees with fhirpathpy, and with FHIRPath where fhirpathpy is silent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import fhirpathpy
import pytest
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models
from hypothesis import given, settings
from hypothesis import strategies as st

from server.definitions.registry import load_r4
from server.validation.fhirpath_compile import compile_expression
from server.validation.fhirpath_values import (
    DateLiteral,
    Env,
    Fn,
    Undecidable,
    Unsupported,
    plain,
)
from server.validation.invariants import _TRACE, SKIPPED

ROOT = Path(__file__).resolve().parents[2]
MODEL = models["r4"]
NHS = "https://fhir.nhs.uk/Id/nhs-number"


def run(expression: str, focus: Any = None, resource: Any = None) -> list[Any]:
    """Evaluate with the compiler; `focus` doubles as %resource unless given."""
    resource = focus if resource is None else resource
    return compile_expression(expression)([] if focus is None else [focus],
                                          Env(resource, resource, focus))


# --- (1) differential: every compilable profile/base constraint, compiler vs fhirpathpy ---

@cache
def constraints() -> list[tuple[str, str, str]]:
    """Return (key, element path, expression) for the R4 base and Cradle constraints."""
    found: set[tuple[str, str, str]] = set()
    sds = list(load_r4().structure_definitions.values())
    sds += [json.loads(p.read_text())
            for p in (ROOT / "profiles/StructureDefinition").glob("*.json")]
    for sd in sds:
        for section in ("snapshot", "differential"):
            for element in sd.get(section, {}).get("element", []):
                for con in element.get("constraint", []):
                    if con.get("expression") and con.get("key") not in SKIPPED:
                        found.add((con["key"], element["path"], con["expression"]))
    return sorted(found)


def typed_nodes(node: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    """Yield (element path, type name, value) for every dict in a resource, by the R4 model."""
    if type(node) is not dict:
        return
    if "resourceType" in node:
        path = node["resourceType"]
    kind = MODEL["path2Type"].get(path, path)
    yield path, kind, node
    base = path if kind in ("BackboneElement", "Element") or "." not in path else kind
    for key, value in node.items():
        child = MODEL["pathsDefinedElsewhere"].get(f"{base}.{key}", f"{base}.{key}")
        for item in value if type(value) is list else [value]:
            yield from typed_nodes(item, child)


def corpus() -> list[dict[str, Any]]:
    """Return the Cradle examples and hand-built R4 resources."""
    examples = sorted((ROOT / "profiles/examples").glob("*/*/*.json"))
    out = [json.loads(p.read_text()) for p in examples if not p.name.endswith(".expect.json")]
    period = {"start": "2020-01-01", "end": "2019-12"}
    out += [
        {"resourceType": "Patient", "id": "p1", "active": True, "gender": "female",
         "birthDate": "2010-05-06", "deceasedBoolean": False,
         "name": [{"family": "Smith", "given": ["Ann"], "period": period}],
         "telecom": [{"system": "phone", "value": "0113"}, {"value": "x"}],
         "identifier": [{"system": NHS, "value": "9434765919", "period": period}],
         "contact": [{"name": {"text": "Bo"}}, {"relationship": [{"text": "x"}]}],
         "link": [{"other": {"reference": "Patient/2"}, "type": "seealso"}]},
        {"resourceType": "Patient", "id": "p2", "contact": [{}],
         "name": [{"period": {"start": "2020-01-01T10:00:00Z", "end": "2020-01-01T09:00:00Z"}}],
         "extension": [{"url": "http://x", "valueString": "y"}, {"url": "http://y"}]},
        {"resourceType": "Observation", "status": "final", "code": {"text": "bp"},
         "valueQuantity": {"value": 1.5, "unit": "mmHg", "system": "http://unitsofmeasure.org",
                           "code": "mm[Hg]"},
         "dataAbsentReason": {"text": "x"},
         "referenceRange": [{"low": {"value": 1}}, {"text": "normal"}, {}],
         "component": [{"code": {"text": "s"}, "valueQuantity": {"value": 120, "code": "mm"}},
                       {"code": {"text": "d"}, "valueString": "x", "dataAbsentReason": {}}]},
        {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
         "effectivePeriod": {"start": "2021", "end": "2021-03-04"},
         "valueRange": {"low": {"value": 2, "unit": "kg"}, "high": {"value": 1, "unit": "kg"}},
         "valueRatio": {"numerator": {"value": 1}}},
        {"resourceType": "Bundle", "type": "searchset", "total": 2,
         "entry": [{"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "id": "a"},
                    "search": {"mode": "match"}},
                   {"fullUrl": "http://x/Patient/b", "resource": {"resourceType": "Patient"},
                    "request": {"method": "GET", "url": "Patient"}}]},
        {"resourceType": "Bundle", "type": "document", "identifier": {"system": "s"},
         "timestamp": "2020-01-01T00:00:00Z",
         "entry": [{"resource": {"resourceType": "Composition", "status": "final"}},
                   {"link": [{"relation": "self", "url": "x"}]}]},
        {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:2", "request": {"method": "POST", "url": "Patient"},
             "resource": {"resourceType": "Observation", "status": "final",
                          "code": {"coding": [{"system": "http://loinc.org", "code": "1"}]},
                          "valueCodeableConcept": {"text": "x"}}},
            {"fullUrl": "urn:uuid:2", "response": {"status": "200"}}]},
    ]
    return out


def normal(result: list[Any]) -> list[Any]:
    """Return results in one shape for both engines (numbers as Decimal, dates as text)."""
    out: list[Any] = []
    for item in result:
        item = plain(item)
        if type(item) in (int, float) and type(item) is not bool:
            item = Decimal(str(item))
        elif type(item) is DateLiteral:
            item = item.text
        elif type(item) not in (bool, str, dict, Decimal):
            item = str(item)
        out.append(item)
    return out


def compiled_constraints() -> list[tuple[str, str, str, Fn]]:
    """Return the constraints the compiler accepts, compiled."""
    out = []
    for key, path, expression in constraints():
        try:
            out.append((key, path, expression, compile_expression(_TRACE.sub("", expression))))
        except Unsupported:
            continue
    return out


def test_the_compiler_accepts_most_constraints() -> None:
    total, accepted = len(constraints()), len(compiled_constraints())
    assert accepted >= 0.85 * total, f"{accepted}/{total}"
    cradle = {"child-1", "child-2", "child-3", "nhs-1", "nhs-2", "upn-1", "upn-2", "uln-1",
              "uln-2", "lacid-1", "postcode-1", "concern-1", "concern-2", "referral-1",
              "cpr-1", "pin-1"}
    assert cradle <= {key for key, *_ in compiled_constraints()}


def test_compiled_constraints_agree_with_fhirpathpy() -> None:
    by_path: dict[str, list[tuple[str, str, Fn]]] = {}
    for key, path, expression, fn in compiled_constraints():
        by_path.setdefault(path, []).append((key, expression, fn))
    compared, disagreements = 0, []
    for resource in corpus():
        for path, kind, node in typed_nodes(resource, resource["resourceType"]):
            for key, expression, fn in by_path.get(path, []) + by_path.get(kind, []):
                env = {"resource": resource, "rootResource": resource, "context": node}
                try:
                    expected = fhirpathpy.evaluate(ResourceNode.create_node(node, path),
                                                   _TRACE.sub("", expression), env, MODEL)
                except Exception:  # fhirpathpy cannot evaluate it (e.g. hasValue())
                    continue
                try:
                    got = fn([node], Env(resource, resource, node))
                except Undecidable:
                    continue  # production hands these to fhirpathpy
                compared += 1
                if normal(got) != normal(expected):
                    disagreements.append((key, path, normal(got), normal(expected)))
    assert compared > 300
    assert disagreements == []


# --- (2) semantics ---

@pytest.mark.parametrize(("expression", "expected"), [
    ("{} and true", []), ("{} and false", [False]), ("false and {}", [False]),
    ("{} or true", [True]), ("{} or false", []), ("true or {}", [True]),
    ("{} implies true", [True]), ("{} implies false", []), ("false implies {}", [True]),
    ("true implies {}", []), ("true xor {}", []), ("true xor false", [True]),
    ("7 mod 3", [1]), ("-7 mod 3", [-1]), ("7 div 2", [3]), ("-7 div 2", [-3]),
    ("7 mod 0", []), ("7 div 0", []), ("7 / 0", []), ("7 / 2", [Decimal("3.5")]),
    ("7.5 mod 2", [Decimal("1.5")]), ("1 + 2 * 3", [7]), ("'a' + 'b'", ["ab"]),
    ("'a' & {}", ["a"]), ("'a' + {}", []),
    ("'abc'.substring(5)", []), ("'abc'.substring(-1, 1)", []), ("'abc'.substring(1, 10)", ["bc"]),
    ("'abc'.substring(1)", ["bc"]), ("{}.substring(0)", []),
    ("'12'.toInteger()", [12]), ("'+1'.toInteger()", [1]), ("'1.5'.toInteger()", []),
    ("' 1'.toInteger()", []), ("'x'.toInteger()", []), ("true.toString()", ["true"]),
    ("@2020 < @2021-01-01", [True]), ("@2020 < @2020-01-01", []),
    ("@2020-01-01 = @2020-01-01T00:00:00", []), ("@2020-01-01 = @2020-01-01", [True]),
    ("@2020-01-01T10:00:00Z < @2020-01-01T11:00:00+02:00", [False]),
    ("@2020-01-01T10:00Z < @2020-01-01T10:00:01Z", []),
    ("'a' ~ 'A'", [True]), ("'a' !~ ' a'", [False]), ("{} = {}", []), ("1 = 1.0", [True]),
    ("(1 | 2 | 2).count()", [2]), ("(1 | 2) = (2 | 1)", [False]), ("1 in (1 | 2)", [True]),
    ("(1 | 2) contains 3", [False]), ("{} in (1 | 2)", []), ("iif({}, 1, 2)", [2]),
    ("(1 | 2 | 3).where($this > 1).select($this * 2)", [4, 6]),
    ("(1 | 2).all($this > 0)", [True]), ("{}.all(false)", [True]), ("(1 | 1).isDistinct()", [True]),
    ("'abc'.matches('^b')", [False]), ("'abc'.matches('b')", [True]), ("'abc'.length()", [3]),
    ("'ABC'.indexOf('C')", [2]), ("(1 | 2)[1]", [2]), ("(1 | 2)[5]", []),
])
def test_semantics(expression: str, expected: list[Any]) -> None:
    assert run(expression) == expected


def test_choice_types_companions_and_type_tests() -> None:
    obs = {"resourceType": "Observation", "valueQuantity": {"value": 3},
           "_status": {"extension": [{"url": "u"}]}, "issued": "2020"}
    assert run("value.value", obs) == [3]
    assert run("value.ofType(Quantity).exists()", obs) == [True]
    assert run("value is Quantity", obs) == [True]
    assert run("value is CodeableConcept", obs) == [False]
    assert run("status.exists() and status.hasValue().not()", obs) == [True]
    assert run("status.extension.url", obs) == ["u"]
    assert run("$this is Observation and %resource is Patient", obs) == [False]
    with pytest.raises(Undecidable):
        run("issued is instant", obs)  # a non-choice element's type is not in the JSON


@pytest.mark.parametrize("expression", [
    "code.memberOf('http://x')", "a.resolve()", "1 'mg' > 0", "@T10:00 = @T10:00",
    "value is String", "$index", "a.Patient", "x.aggregate($this)",
])
def test_unsupported_expressions_are_refused(expression: str) -> None:
    with pytest.raises(Unsupported):
        compile_expression(expression)


def test_other_constants_are_the_callers_variables() -> None:
    # Bound by the caller (the maps' `%name`s); unbound, fhirpathpy decides (`%vs-x` ...).
    compiled = compile_expression("%dob <= %bound and %codes.count() = 2")
    env = Env({}, {}, {}, {"dob": "2012-04-01", "bound": "2012-04-01", "codes": ["a", "b"]})
    assert compiled([{}], env) == [True]
    with pytest.raises(Undecidable):
        compile_expression("%vs-x")([{}], Env({}, {}, {}))


def test_callers_functions_take_string_arguments() -> None:
    def shout(inputs: list[object], suffix: str) -> list[object]:
        return [f"{i}".upper() + suffix for i in inputs]

    compiled = compile_expression("%name.shout('!')", {"shout": shout})
    assert compiled([{}], Env({}, {}, {}, {"name": "ada"})) == ["ADA!"]
    with pytest.raises(Unsupported):
        compile_expression("%name.shout('!')")


# --- (3) NHS number check digit ---

def _nhs_2() -> str:
    child = json.loads((ROOT / "profiles/StructureDefinition/Child.json").read_text())
    for element in child["differential"]["element"]:
        for con in element.get("constraint", []):
            if con["key"] == "nhs-2":
                return str(con["expression"])
    raise AssertionError("nhs-2 not found")


def modulus_11(digits: str) -> bool:
    """Return True if a 10-digit NHS number has a valid Modulus 11 check digit."""
    remainder = sum(int(d) * (10 - i) for i, d in enumerate(digits[:9])) % 11
    check = (11 - remainder) % 11
    return check != 10 and check == int(digits[9])


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_nhs_2_matches_modulus_11(digits: str) -> None:
    identifier = {"system": NHS, "value": digits}
    expression = _nhs_2()
    compiled = run(expression, identifier)
    reference = fhirpathpy.evaluate(ResourceNode.create_node(identifier, "Identifier"),
                                    expression, {}, MODEL)
    assert compiled == reference == [modulus_11(digits)]
