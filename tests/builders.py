"""Resource builders shared by the test tiers."""

from __future__ import annotations

from typing import Any

TEST_SYSTEM = "https://cradle.example/fhir/Id/test"


def patient(tag: str, **extra: Any) -> dict[str, Any]:
    """A valid Patient carrying `tag` as its identifier value."""
    return {
        "resourceType": "Patient",
        "identifier": [{"system": TEST_SYSTEM, "value": tag}],
        "name": [{"family": "Smith", "given": ["Amelia"]}],
        "gender": "female",
        "birthDate": "2015-03-14",
        **extra,
    }


def observation(tag: str, subject: str, **extra: Any) -> dict[str, Any]:
    """A valid Observation about `subject`, coded with `tag`."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}], "text": tag},
        "identifier": [{"system": TEST_SYSTEM, "value": tag}],
        "subject": {"reference": subject},
        "valueQuantity": {"value": 21.5, "unit": "kg", "system": "http://unitsofmeasure.org",
                          "code": "kg"},
        **extra,
    }
