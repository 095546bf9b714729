"""Property-based tests for the structural validator (hypothesis, no database)."""

from __future__ import annotations

import datetime as dt
import string
from typing import Any

from fhir.resources.R4B.patient import Patient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.definitions.registry import load_r4
from server.errors import is_error
from server.validation import ResourceValidator

Json = dict[str, Any]
# JSON names of the choice alternatives generated below, as the validator's FHIRPath steps.
CHOICE_STEPS = {"multipleBirthInteger": "multipleBirth.ofType(integer)"}
VALIDATOR = ResourceValidator(load_r4())
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Printable, non-blank text without leading/trailing whitespace (FHIR strings).
words = st.text(string.ascii_letters + "éñü'-", min_size=1, max_size=12)
ids = st.text(string.ascii_letters + string.digits + "-.", min_size=1, max_size=64)
dates = st.dates(min_value=dt.date(1001, 1, 1), max_value=dt.date(2999, 12, 31))
partial_dates = st.one_of(
    dates.map(lambda d: d.isoformat()),
    dates.map(lambda d: d.isoformat()[:7]),
    dates.map(lambda d: d.isoformat()[:4]),
)
names = st.fixed_dictionaries(
    {},
    optional={
        "use": st.sampled_from(["usual", "official", "temp", "nickname", "anonymous", "old",
                                "maiden"]),
        "family": words,
        "given": st.lists(words, min_size=1, max_size=3),
        "prefix": st.lists(words, min_size=1, max_size=2),
        "period": st.builds(lambda d: {"start": d}, partial_dates),
    },
).filter(bool)
identifiers = st.fixed_dictionaries(
    {"value": words},
    optional={
        "use": st.sampled_from(["usual", "official", "temp", "secondary", "old"]),
        "system": st.sampled_from(["urn:oid:1.2.3.4", "http://example.org/mrn",
                                   "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"]),
    },
)
telecoms = st.fixed_dictionaries(
    # cpt-2: a ContactPoint with a value needs a system.
    {"value": words,
     "system": st.sampled_from(["phone", "fax", "email", "pager", "url", "sms", "other"])},
    optional={
        "use": st.sampled_from(["home", "work", "temp", "old", "mobile"]),
        "rank": st.integers(min_value=1, max_value=2**31 - 1),
    },
)
patients = st.fixed_dictionaries(
    {"resourceType": st.just("Patient")},
    optional={
        "id": ids,
        "active": st.booleans(),
        "name": st.lists(names, min_size=1, max_size=3),
        "gender": st.sampled_from(["male", "female", "other", "unknown"]),
        "birthDate": partial_dates,
        "identifier": st.lists(identifiers, min_size=1, max_size=3),
        "telecom": st.lists(telecoms, min_size=1, max_size=3),
        "multipleBirthInteger": st.integers(min_value=-(2**31), max_value=2**31 - 1),
    },
)


def errors(resource: Json) -> list[Any]:
    return [i for i in VALIDATOR.validate(resource) if is_error(i)]


def element_paths(value: Any, path: str) -> list[tuple[str, Any, list[Any]]]:
    """Return (FHIRPath, container, key path) for every object and primitive in `value`."""
    found: list[tuple[str, Any, list[Any]]] = []

    def walk(node: Any, where: str, keys: list[Any]) -> None:
        if isinstance(node, dict):
            found.append((where, node, keys))
            for key, child in node.items():
                if key != "resourceType":
                    walk(child, f"{where}.{CHOICE_STEPS.get(key, key)}", [*keys, key])
        elif isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, f"{where}[{i}]", [*keys, i])
        else:
            found.append((where, node, keys))

    walk(value, path, [])
    return found


@SETTINGS
@given(patients)
def test_generated_valid_patients_have_no_errors(patient: Json) -> None:
    assert errors(patient) == []


@SETTINGS
@given(patients, st.data())
def test_unknown_key_is_reported_where_added(patient: Json, data: st.DataObject) -> None:
    objects = [(p, keys) for p, node, keys in element_paths(patient, "Patient")
               if isinstance(node, dict)]
    where, keys = data.draw(st.sampled_from(objects))
    key = data.draw(st.sampled_from(["foo", "bogusElement", "fhir_comments", "_foo", "x"]))
    target: Any = patient
    for step in keys:
        target = target[step]
    target[key] = "surprise"
    found = [(i.message_id, i.expression) for i in errors(patient)]
    assert found == [("unknown-element", f"{where}.{key}")]


@SETTINGS
@given(patients, st.data())
def test_wrong_primitive_json_type_is_reported_where_made(
    patient: Json, data: st.DataObject
) -> None:
    leaves = [(p, v, keys) for p, v, keys in element_paths(patient, "Patient")
              if not isinstance(v, dict) and keys and keys[0] != "resourceType"]
    if not leaves:
        patient["active"] = True
        leaves = [("Patient.active", True, ["active"])]
    where, old, keys = data.draw(st.sampled_from(leaves))
    # Replace the value by one of another JSON type: strings become numbers and
    # booleans/numbers become strings, which no primitive type accepts.
    new: Any = 42 if isinstance(old, str) else str(old)
    target: Any = patient
    for step in keys[:-1]:
        target = target[step]
    target[keys[-1]] = new
    found = [(i.message_id, i.expression) for i in errors(patient)]
    assert found == [("wrong-type", where)]


@SETTINGS
@given(patients)
def test_agrees_with_fhir_resources_on_valid_patients(patient: Json) -> None:
    # Differential check on elements Patient shares between R4 and R4B: whatever we
    # accept, the independent pydantic models accept too.
    assert errors(patient) == []
    Patient.model_validate(patient, strict=True)


@SETTINGS
@given(patients, st.sampled_from(["foo", "given", "deceased"]))
def test_agrees_with_fhir_resources_on_unknown_elements(patient: Json, key: str) -> None:
    patient[key] = "x"
    assert errors(patient)
    try:
        Patient.model_validate(patient, strict=True)
    except ValueError:
        return
    raise AssertionError("fhir.resources accepted an unknown element")
