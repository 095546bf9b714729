"""Binding strengths: required codes are errors, extensible ones warnings."""

from __future__ import annotations

from server.definitions import load_r4
from server.validation import ResourceValidator

V3_MARITAL = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"


def issues(resource: dict[str, object]) -> list[tuple[str, str | None, str | None]]:
    found = ResourceValidator(load_r4()).validate(resource)
    return [(i.severity, i.message_id, i.expression) for i in found
            if i.message_id and i.message_id.startswith("code-not-in")]


def test_extensible_binding_outside_the_value_set_is_a_warning() -> None:
    # Patient.maritalStatus is bound (extensible) to the marital-status value set.
    odd = {"resourceType": "Patient",
           "maritalStatus": {"coding": [{"system": V3_MARITAL, "code": "ZZ"}]}}
    assert issues(odd) == [("warning", "code-not-in-valueset-extensible",
                            "Patient.maritalStatus.coding[0].code")]
    fine = {"resourceType": "Patient",
            "maritalStatus": {"coding": [{"system": V3_MARITAL, "code": "M"}]}}
    assert issues(fine) == []
    other_system = {"resourceType": "Patient", "maritalStatus": {
        "coding": [{"system": "http://example.org/local", "code": "x"}], "text": "local"}}
    assert issues(other_system) == []


def test_required_binding_outside_the_value_set_is_an_error() -> None:
    assert issues({"resourceType": "Patient", "gender": "robot"}) == [
        ("error", "code-not-in-valueset", "Patient.gender")]
