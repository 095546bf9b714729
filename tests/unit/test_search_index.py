"""Index extraction: keys, ranges and sort values for typical resources."""

from __future__ import annotations

from typing import Any

from server.definitions.registry import load_r4
from server.search.index import SearchIndexer
from server.search.registry import SearchParameterRegistry
from tests.unit.search_support import indexer, registry

PATIENT: dict[str, Any] = {
    "resourceType": "Patient", "id": "p1",
    "meta": {"lastUpdated": "2024-01-02T03:04:05.123Z", "profile": ["http://p"],
             "tag": [{"system": "http://t", "code": "x"}]},
    "identifier": [{"system": "http://nhs", "value": "123",
                    "type": {"coding": [{"system": "http://ty", "code": "MR"}]}}],
    "active": True, "name": [{"family": "Smíth", "given": ["John", "Q"]}], "gender": "male",
    "birthDate": "1980-05", "telecom": [{"system": "phone", "value": "555"}],
    "address": [{"city": "Leeds", "line": ["1 Road"]}],
    "generalPractitioner": [{"reference": "Practitioner/9/_history/2"}],
    "deceasedDateTime": "2020-01-01T10:00:00Z",
}


def test_registry_lists_resource_level_and_only_supported() -> None:
    params = registry().for_type("Patient")
    for name in ("_id", "_lastUpdated", "_tag", "_profile", "_security", "_source", "name"):
        assert name in params
    assert "_text" not in params and "_content" not in params
    assert params["name"].expression == "Patient.name"
    assert params["family"].expression == "Patient.name.family"
    names = [p.name for p in registry().supported_for("Patient")]
    assert names == sorted(names)
    assert "_id" in registry().for_type("Resource")
    assert "name" not in registry().for_type("Resource")


def test_registry_add_custom_parameter() -> None:
    reg = SearchParameterRegistry(load_r4())
    reg.add({"resourceType": "SearchParameter", "code": "agency", "base": ["Patient"],
             "type": "token", "url": "https://cradle.example/sp/agency",
             "expression": "Patient.extension('https://cradle.example/agency').value"})
    assert reg.get("Patient", "agency") is not None
    index = SearchIndexer(reg).build_index({
        "resourceType": "Patient", "id": "a",
        "extension": [{"url": "https://cradle.example/agency", "valueCode": "police"}]})
    assert "agency||police" in index["k"]


def test_patient_keys() -> None:
    ix = indexer().build_index(PATIENT)
    keys = set(ix["k"])
    assert ix["k"] == sorted(keys)
    expected = {
        "_id|p1", "gender||male", "gender|!|male", "identifier|http://nhs|123",
        "identifier||123", "identifier:of-type|http://ty|MR|123", "name|smith", "name|john",
        "name=|Smíth", "family|smith", "given|q", "phone|phone|555", "address-city|leeds",
        "general-practitioner|Practitioner/9", "_tag|http://t|x", "_profile|http://p",
        "active||true", "?name", "?birthdate", "birthdate>1980-05-01T00:00:00.000000Z",
        "birthdate<1980-05-31T23:59:59.999999Z", "deceased||true",
    }
    assert expected <= keys
    assert {"p": "birthdate", "lo": "1980-05-01T00:00:00.000000Z",
            "hi": "1980-05-31T23:59:59.999999Z"} in ix["r"]
    assert ix["s"]["name"] == "john" and ix["s"]["_id"] == "p1"
    assert any(r["p"] == "_lastUpdated" and r["lo"] == "2024-01-02T03:04:05.123000Z"
               for r in ix["r"])
    assert any(r["p"] == "death-date" for r in ix["r"])


def test_observation_choice_types_and_quantity() -> None:
    ix = indexer().build_index({
        "resourceType": "Observation", "id": "o1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "1234-5",
                             "display": "Blood Pressure"}], "text": "BP"},
        "subject": {"reference": "Patient/p1"},
        "effectivePeriod": {"start": "2020-01-01", "end": "2020-01-02"},
        "valueQuantity": {"value": 5.4, "system": "http://unitsofmeasure.org", "code": "mg"},
        "component": [{"code": {"coding": [{"code": "c1"}]}, "valueQuantity": {"value": 7}}],
    })
    keys = set(ix["k"])
    assert {"code|http://loinc.org|1234-5", "code:text|blood pressure", "code:text|bp",
            "subject|Patient/p1", "patient|Patient/p1", "status||final",
            "component-code||c1"} <= keys
    assert {"p": "value-quantity", "lo": 5.4, "hi": 5.4, "sys": "http://unitsofmeasure.org",
            "code": "mg"} in ix["r"]
    assert {"p": "date", "lo": "2020-01-01T00:00:00.000000Z",
            "hi": "2020-01-02T23:59:59.999999Z"} in ix["r"]
    assert any(r["p"] == "component-value-quantity" and r["lo"] == 7 for r in ix["r"])


def test_encounter_and_condition() -> None:
    enc = indexer().build_index({
        "resourceType": "Encounter", "id": "e1", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/p1"},
        "period": {"start": "2021-03-04T10:00:00Z"},
        "participant": [{"individual": {"reference": "Practitioner/d1"}}],
    })
    assert {"class|http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB",
            "patient|Patient/p1", "practitioner|Practitioner/d1",
            "participant|Practitioner/d1"} <= set(enc["k"])
    assert {"p": "date", "lo": "2021-03-04T10:00:00.000000Z",
            "hi": "9999-12-31T23:59:59.999999Z"} in enc["r"]
    cond = indexer().build_index({
        "resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
        "onsetAge": {"value": 12, "system": "http://unitsofmeasure.org", "code": "a"},
        "recordedDate": "2022",
    })
    assert "code|http://snomed.info/sct|44054006" in cond["k"]
    assert any(r["p"] == "onset-age" and r["lo"] == 12 for r in cond["r"])
    assert any(r["p"] == "recorded-date" for r in cond["r"])


def test_reference_forms_and_contained() -> None:
    ix = indexer().build_index({
        "resourceType": "Observation", "id": "o2", "status": "final", "code": {"text": "x"},
        "subject": {"identifier": {"system": "http://nhs", "value": "9"}},
        "performer": [{"reference": "#c1"}, {"reference": "http://other/fhir/Practitioner/5"}],
    })
    keys = set(ix["k"])
    assert "subject:identifier|http://nhs|9" in keys
    assert "subject:identifier||9" in keys
    assert "performer|http://other/fhir/Practitioner/5" in keys
    assert not any(k.startswith("performer|#") for k in keys)


def test_deceased_is_compiled_and_agrees_with_fhirpath() -> None:
    from fhirpathpy import compile as fhirpath
    from fhirpathpy.models import models

    from server.search.fhirpath import compile_expression

    expression = registry().for_type("Patient")["deceased"].expression
    reference = fhirpath(expression, model=models["r4"])
    compiled = compile_expression(expression, "Patient", frozenset({"deceased"}))
    for extra in ({}, {"deceasedBoolean": False}, {"deceasedBoolean": True},
                  {"deceasedDateTime": "2020-01-01"}):
        patient = {"resourceType": "Patient", **extra}
        assert [v for v, _ in compiled(patient)] == reference(patient, {}), extra
        keys = indexer().build_index(patient)["k"]
        assert f"deceased||{str(reference(patient, {})[0]).lower()}" in keys
