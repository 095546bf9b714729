"""Mutating valid profile examples makes exactly the named rule fire (hypothesis)."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from server.errors import is_error
from server.profiles.loader import build_definitions
from server.validation import ResourceValidator

EXAMPLES = Path(__file__).resolve().parents[2] / "profiles" / "examples"
CHILD_URL = "https://cradle.example/fhir/StructureDefinition/Child"
NHS = "https://fhir.nhs.uk/Id/nhs-number"


@cache
def validator() -> ResourceValidator:
    return ResourceValidator(build_definitions())


def child() -> dict[str, Any]:
    path = EXAMPLES / "Child/valid/child-with-nhs-number-upn-cp-plan.json"
    body: dict[str, Any] = orjson.loads(path.read_bytes())
    return body


def modulus_11_ok(digits: str) -> bool:
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def errors(resource: dict[str, Any]) -> set[tuple[str | None, str | None]]:
    return {(i.message_id, i.expression) for i in validator().validate(resource, CHILD_URL)
            if is_error(i)}


def test_the_example_is_valid() -> None:
    assert errors(child()) == set()


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_a_changed_nhs_number_fails_exactly_when_its_check_digit_is_wrong(digits: str) -> None:
    resource = copy.deepcopy(child())
    index = next(i for i, ident in enumerate(resource["identifier"]) if ident["system"] == NHS)
    resource["identifier"][index]["value"] = digits
    found = errors(resource)
    if modulus_11_ok(digits):
        assert found == set()
    else:
        assert found == {("invariant-nhs-2", f"Patient.identifier[{index}]")}


def required_top_level() -> list[str]:
    """Names of the Child's top-level elements with min >= 1 (from its snapshot)."""
    sd = build_definitions().structure_definition(CHILD_URL)
    assert sd is not None
    return sorted(e["path"].split(".")[1] for e in sd["snapshot"]["element"]
                  if e["path"].count(".") == 1 and ":" not in e["id"]
                  and e.get("min", 0) >= 1 and e["path"].split(".")[1] in child())


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_removing_a_required_element_names_it(data: st.DataObject) -> None:
    names = required_top_level()
    assert names  # the Child requires some elements (e.g. name)
    element = data.draw(st.sampled_from(names))
    resource = copy.deepcopy(child())
    del resource[element]
    assert ("cardinality-min", f"Patient.{element}") in errors(resource)
