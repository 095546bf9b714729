"""Type slices of a choice element (`Observation.value[x]:valueQuantity`) constrain that type."""

from __future__ import annotations

from typing import Any

from server.definitions import load_r4
from server.errors import is_error
from server.profiles.snapshot import generate_snapshot
from server.validation import ResourceValidator

URL = "https://cradle.example/fhir/StructureDefinition/WeightInKg"


def profile() -> dict[str, Any]:
    return {
        "resourceType": "StructureDefinition", "url": URL, "name": "WeightInKg",
        "status": "active", "kind": "resource", "abstract": False, "type": "Observation",
        "derivation": "constraint",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Observation",
        "differential": {"element": [
            {"id": "Observation.value[x]", "path": "Observation.value[x]",
             "slicing": {"discriminator": [{"type": "type", "path": "$this"}],
                         "rules": "closed"}},
            {"id": "Observation.value[x]:valueQuantity", "path": "Observation.value[x]",
             "sliceName": "valueQuantity", "min": 1, "type": [{"code": "Quantity"}]},
            {"id": "Observation.value[x]:valueQuantity.system",
             "path": "Observation.value[x].system", "min": 1,
             "fixedUri": "http://unitsofmeasure.org"},
            {"id": "Observation.value[x]:valueQuantity.code",
             "path": "Observation.value[x].code", "min": 1, "fixedCode": "kg"},
        ]},
    }


def validator() -> ResourceValidator:
    definitions = load_r4().copy()
    definitions.add(generate_snapshot(profile(), definitions))
    return ResourceValidator(definitions)


def observation(value: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "code": {"text": "weight"}, **value}


def errors(resource: dict[str, Any]) -> set[tuple[str | None, str | None]]:
    return {(i.message_id, i.expression) for i in validator().validate(resource, URL)
            if is_error(i)}


def test_the_sliced_type_is_constrained() -> None:
    kg = {"value": 21.5, "system": "http://unitsofmeasure.org", "code": "kg"}
    assert errors(observation({"valueQuantity": kg})) == set()
    pounds = {**kg, "code": "[lb_av]"}
    assert ("fixed-value-mismatch", "Observation.value.ofType(Quantity).code") in errors(
        observation({"valueQuantity": pounds}))


def test_a_required_type_slice_must_be_present() -> None:
    found = errors(observation({}))
    assert any(message_id == "cardinality-min" for message_id, _ in found), found


def test_closed_type_slicing_rejects_other_types() -> None:
    assert ("unknown-element", "Observation.valueString") in errors(
        observation({"valueString": "heavy"}))
