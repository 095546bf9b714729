"""Unit tests for the snapshot-driven structural validator (no database)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from server.definitions.registry import Definitions, load_r4
from server.errors import Issue, is_error
from server.validation import ResourceValidator

Json = dict[str, Any]


@pytest.fixture(scope="module")
def validator() -> ResourceValidator:
    return ResourceValidator(load_r4())


def patient() -> Json:
    return {
        "resourceType": "Patient",
        "id": "example",
        "meta": {"versionId": "1", "lastUpdated": "2023-01-01T12:00:00.123+01:00"},
        "text": {"status": "generated",
                 "div": '<div xmlns="http://www.w3.org/1999/xhtml">Peter</div>'},
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                       "valueAddress": {"city": "Leeds", "country": "GB"}}],
        "identifier": [{
            "use": "usual",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                 "code": "MR"}]},
            "system": "urn:oid:1.2.36.146.595.217.0.1",
            "value": "12345",
            "period": {"start": "2001-05-06"},
            "assigner": {"display": "Acme Healthcare"},
        }],
        "active": True,
        "name": [
            {"use": "official", "family": "Chalmers", "given": ["Peter", "James"],
             "_given": [None, {"extension": [{"url": "http://example.org/x",
                                              "valueString": "y"}]}]},
            {"use": "usual", "given": ["Jim"]},
        ],
        "telecom": [{"system": "phone", "value": "(03) 5555 6473", "use": "work", "rank": 1}],
        "gender": "male",
        "birthDate": "1974-12-25",
        "_birthDate": {"extension": [{
            "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
            "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
        "deceasedBoolean": False,
        "address": [{"use": "home", "type": "both", "line": ["534 Erewhon St"],
                     "city": "PleasantVille", "postalCode": "3999"}],
        "contact": [{
            "relationship": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"}]}],
            "name": {"family": "du Marché", "given": ["Bénédicte"]},
            "gender": "female",
        }],
        "managingOrganization": {"reference": "#org1"},
        "contained": [{"resourceType": "Organization", "id": "org1", "name": "Acme"}],
    }


def observation() -> Json:
    return {
        "resourceType": "Observation",
        "id": "bp",
        "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}],
                 "text": "Body weight"},
        "subject": {"reference": "Patient/example"},
        "effectiveDateTime": "2016-03-28",
        "valueQuantity": {"value": 67.5, "unit": "kg", "system": "http://unitsofmeasure.org",
                          "code": "kg"},
        "component": [{"code": {"text": "x"}, "valueInteger": 3}],
    }


def bundle() -> Json:
    entries = [
        {"fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a", "resource": patient(),
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": observation(), "request": {"method": "PUT", "url": "Observation/bp"}},
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def errors(issues: list[Issue]) -> list[Issue]:
    return [i for i in issues if is_error(i)]


def only(issues: list[Issue]) -> Issue:
    errs = errors(issues)
    assert len(errs) == 1, errs
    return errs[0]


def check(validator: ResourceValidator, resource: Json, message_id: str,
          expression: str | None) -> Issue:
    issue = only(validator.validate(resource))
    assert (issue.message_id, issue.expression) == (message_id, expression), issue
    return issue


# --- valid resources ---------------------------------------------------------------


@pytest.mark.parametrize("make", [patient, observation, bundle])
def test_valid_resources_have_no_errors(validator: ResourceValidator, make: Any) -> None:
    assert errors(validator.validate(make())) == []


def test_questionnaire_content_reference_recurses(validator: ResourceValidator) -> None:
    q: Json = {"resourceType": "Questionnaire", "status": "draft", "item": [
        {"linkId": "1", "type": "group", "item": [
            {"linkId": "1.1", "type": "string", "item": [
                {"linkId": "1.1.1", "type": "boolean"}]}]}]}
    assert errors(validator.validate(q)) == []
    q["item"][0]["item"][0]["item"][0]["bogus"] = 1
    check(validator, q, "unknown-element", "Questionnaire.item[0].item[0].item[0].bogus")
    del q["item"][0]["item"][0]["item"][0]["bogus"]
    del q["item"][0]["item"][0]["item"][0]["linkId"]
    check(validator, q, "cardinality-min", "Questionnaire.item[0].item[0].item[0].linkId")


def test_parameters_resource_is_validated_by_its_type(validator: ResourceValidator) -> None:
    params: Json = {"resourceType": "Parameters", "parameter": [
        {"name": "p", "resource": patient()}, {"name": "n", "valueInteger": 2}]}
    assert errors(validator.validate(params)) == []
    params["parameter"][0]["resource"]["gender"] = "x"
    check(validator, params, "code-not-in-valueset", "Parameters.parameter[0].resource.gender")


def test_explicit_base_profile(validator: ResourceValidator) -> None:
    url = "http://hl7.org/fhir/StructureDefinition/Patient"
    assert errors(validator.validate(patient(), url)) == []
    issue = only(validator.validate(observation(), url))
    assert issue.message_id == "profile-type-mismatch"
    issue = only(validator.validate(patient(), "http://example.org/nope"))
    assert issue.message_id == "unknown-profile"


# --- resourceType ---------------------------------------------------------------------


def test_missing_resource_type(validator: ResourceValidator) -> None:
    issue = check(validator, {"id": "x"}, "missing-resource-type", None)
    assert issue.code == "structure"


def test_unknown_resource_type(validator: ResourceValidator) -> None:
    for bad in ("Patinet", "Resource", "DomainResource", "HumanName", 3):
        issue = only(validator.validate({"resourceType": bad}))
        assert (issue.code, issue.message_id) == ("invalid", "unknown-resource-type")


def test_nested_resource_without_type(validator: ResourceValidator) -> None:
    b = bundle()
    del b["entry"][1]["resource"]["resourceType"]
    check(validator, b, "missing-resource-type", "Bundle.entry[1].resource")
    b["entry"][1]["resource"]["resourceType"] = "Nope"
    check(validator, b, "unknown-resource-type", "Bundle.entry[1].resource.resourceType")


# --- unknown elements -------------------------------------------------------------------


@pytest.mark.parametrize(("mutate", "expression"), [
    (lambda p: p.update(foo=1), "Patient.foo"),
    (lambda p: p.update(fhir_comments=["x"]), "Patient.fhir_comments"),
    (lambda p: p["name"][1].update(nickname="Jimbo"), "Patient.name[1].nickname"),
    (lambda p: p["contact"][0]["name"].update(x=1), "Patient.contact[0].name.x"),
    (lambda p: p.update(deceasedString="yes"), "Patient.deceasedString"),
    (lambda p: p.update(valueString="yes"), "Patient.valueString"),
    (lambda p: p.update(_name=[{"id": "a"}]), "Patient._name"),
    (lambda p: p.update(_foo={"id": "a"}), "Patient._foo"),
    (lambda p: p["_birthDate"].update(value="1974"), "Patient.birthDate.value"),
    (lambda p: p["contained"][0].update(gender="male"), "Patient.contained[0].gender"),
    (lambda p: p["meta"].update(resourceType="Meta"), "Patient.meta.resourceType"),
    (lambda p: p["extension"][0].update(valueFoo=1), "Patient.extension[0].valueFoo"),
])
def test_unknown_elements(validator: ResourceValidator, mutate: Any, expression: str) -> None:
    p = patient()
    mutate(p)
    issue = check(validator, p, "unknown-element", expression)
    assert issue.code == "structure"


def test_unknown_element_in_bundle_entry(validator: ResourceValidator) -> None:
    b = bundle()
    b["entry"][0]["resource"]["name"][0]["suffixes"] = ["x"]
    check(validator, b, "unknown-element", "Bundle.entry[0].resource.name[0].suffixes")


# --- cardinality ------------------------------------------------------------------------


def test_missing_required_element(validator: ResourceValidator) -> None:
    obs = observation()
    del obs["status"]
    issue = check(validator, obs, "cardinality-min", "Observation.status")
    assert issue.code == "required"
    obs = observation()
    del obs["component"][0]["code"]
    check(validator, obs, "cardinality-min", "Observation.component[0].code")
    p = patient()
    del p["extension"][0]["url"]
    check(validator, p, "cardinality-min", "Patient.extension[0].url")


def test_required_primitive_satisfied_by_extension_only(validator: ResourceValidator) -> None:
    obs = observation()
    del obs["status"]
    obs["_status"] = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/"
                                     "data-absent-reason", "valueCode": "unknown"}]}
    assert errors(validator.validate(obs)) == []


def test_single_element_given_as_array(validator: ResourceValidator) -> None:
    p = patient()
    p["gender"] = ["male"]
    check(validator, p, "cardinality-max", "Patient.gender")
    p = patient()
    p["birthDate"] = ["1974-12-25", "1975-01-01"]
    check(validator, p, "cardinality-max", "Patient.birthDate")


def test_two_choice_alternatives(validator: ResourceValidator) -> None:
    p = patient()
    p["deceasedDateTime"] = "2020-01-01"
    check(validator, p, "cardinality-max", "Patient.deceased.ofType(dateTime)")


def test_repeating_element_not_array(validator: ResourceValidator) -> None:
    p = patient()
    p["name"] = {"family": "x"}
    check(validator, p, "expected-array", "Patient.name")
    p = patient()
    p["name"][0]["given"] = "Peter"
    del p["name"][0]["_given"]
    check(validator, p, "expected-array", "Patient.name[0].given")


@pytest.mark.parametrize(("mutate", "expression"), [
    (lambda p: p.update(name=[]), "Patient.name"),
    (lambda p: p.update(meta={}), "Patient.meta"),
    (lambda p: p["name"].append({}), "Patient.name[2]"),
    (lambda p: p.update(gender=""), "Patient.gender"),
    (lambda p: p["name"][1].update(given=[""]), "Patient.name[1].given[0]"),
    (lambda p: p.update(_birthDate={}), "Patient.birthDate"),
])
def test_empty_elements(validator: ResourceValidator, mutate: Any, expression: str) -> None:
    p = patient()
    mutate(p)
    check(validator, p, "empty-element", expression)


@pytest.mark.parametrize(("mutate", "expression"), [
    (lambda p: p.update(gender=None), "Patient.gender"),
    (lambda p: p.update(meta=None), "Patient.meta"),
    (lambda p: p["name"].append(None), "Patient.name[2]"),
    (lambda p: p["name"][1].update(given=[None]), "Patient.name[1].given[0]"),
])
def test_nulls(validator: ResourceValidator, mutate: Any, expression: str) -> None:
    p = patient()
    mutate(p)
    check(validator, p, "null-value", expression)


def test_primitive_array_alignment(validator: ResourceValidator) -> None:
    p = patient()
    # null given is fine when its extension carries the content
    p["name"][0]["given"] = [None, "James"]
    p["name"][0]["_given"] = [{"extension": [{"url": "http://e.org/a", "valueCode": "x"}]},
                              None]
    assert errors(validator.validate(p)) == []
    p["name"][0]["_given"] = [None]
    issue = check(validator, p, "primitive-extension-mismatch", "Patient.name[0].given")
    assert issue.code == "structure"


def test_extension_only_primitive_array(validator: ResourceValidator) -> None:
    p = patient()
    del p["name"][1]["given"]
    p["name"][1]["_given"] = [{"extension": [{"url": "http://e.org/a", "valueCode": "x"}]}]
    assert errors(validator.validate(p)) == []
    p["name"][1]["_given"] = [{"extension": [{"url": "http://e.org/a", "valueCode": ""}]}]
    check(validator, p, "empty-element", "Patient.name[1].given[0].extension[0].value.ofType(code)")


def test_primitive_extension_contents_validated(validator: ResourceValidator) -> None:
    p = patient()
    p["_birthDate"]["extension"][0]["valueDateTime"] = "1974-13-25"
    check(validator, p, "invalid-primitive",
          "Patient.birthDate.extension[0].value.ofType(dateTime)")
    p = patient()
    p["name"][0]["_given"][1]["extension"][0]["bad"] = 1
    check(validator, p, "unknown-element", "Patient.name[0].given[1].extension[0].bad")
    p = patient()
    p["_birthDate"] = "x"
    check(validator, p, "wrong-type", "Patient.birthDate")


# --- types --------------------------------------------------------------------------------


def test_complex_type_given_primitive(validator: ResourceValidator) -> None:
    p = patient()
    p["managingOrganization"] = "Organization/1"
    check(validator, p, "wrong-type", "Patient.managingOrganization")


def test_contained_and_bundle_resources(validator: ResourceValidator) -> None:
    p = patient()
    p["contained"][0]["active"] = "yes"
    check(validator, p, "wrong-type", "Patient.contained[0].active")
    b = bundle()
    b["entry"][1]["resource"]["valueQuantity"]["value"] = "67.5"
    check(validator, b, "wrong-type",
          "Bundle.entry[1].resource.value.ofType(Quantity).value")
    b = bundle()
    b["entry"][0]["request"]["method"] = "FETCH"
    check(validator, b, "code-not-in-valueset", "Bundle.entry[0].request.method")


@pytest.mark.parametrize(("path", "value", "message_id"), [
    (("active",), "true", "wrong-type"),
    (("active",), "yes", "wrong-type"),
    (("active",), 1, "wrong-type"),
    (("telecom", 0, "rank"), 0, "invalid-primitive"),
    (("telecom", 0, "rank"), "1", "wrong-type"),
    (("telecom", 0, "rank"), 1.5, "wrong-type"),
    (("telecom", 0, "rank"), True, "wrong-type"),
    (("telecom", 0, "rank"), 2**31, "invalid-primitive"),
    (("multipleBirthInteger",), -(2**31) - 1, "invalid-primitive"),
    (("multipleBirthInteger",), 2.0, "wrong-type"),
    (("birthDate",), "2023-02-30", "invalid-primitive"),
    (("birthDate",), "2023-02-29", "invalid-primitive"),
    (("birthDate",), "1900-02-29", "invalid-primitive"),
    (("birthDate",), "2023-1-01", "invalid-primitive"),
    (("birthDate",), "2023-01-01T10:00:00Z", "invalid-primitive"),
    (("birthDate",), 2023, "wrong-type"),
    (("meta", "lastUpdated"), "2023-01-01", "invalid-primitive"),
    (("meta", "lastUpdated"), "2023-01-01T25:00:00Z", "invalid-primitive"),
    (("deceasedDateTime",), "2023-01-01T10:00:00", "invalid-primitive"),
    (("id",), "has space", "invalid-primitive"),
    (("id",), "x" * 65, "invalid-primitive"),
    (("gender",), " male", "invalid-primitive"),
    (("implicitRules",), "has space", "invalid-primitive"),
    (("identifier", 0, "system"), "urn:x y", "invalid-primitive"),
    (("identifier", 0, "period", "end"), "2020-00", "invalid-primitive"),
    (("name", 0, "family"), "   ", "invalid-primitive"),
    (("name", 0, "family"), 12, "wrong-type"),
    (("meta", "source"), "has space", "invalid-primitive"),
    (("meta", "versionId"), "1/2", "invalid-primitive"),
    (("text", "div"), "plain text", "invalid-primitive"),
    (("photo",), [{"contentType": "image/png", "data": "not base64!"}], "invalid-primitive"),
    (("communication",), [{"language": {"text": "en"}, "preferred": "no"}], "wrong-type"),
])
def test_primitive_formats(validator: ResourceValidator, path: tuple[Any, ...], value: Any,
                           message_id: str) -> None:
    p = patient()
    if path[0] == "deceasedDateTime":
        del p["deceasedBoolean"]
    if path[0] == "birthDate":
        del p["_birthDate"]
    target: Any = p
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    issue = only(validator.validate(p))
    assert issue.message_id == message_id, issue
    assert issue.code == ("structure" if message_id == "wrong-type" else "value")
    assert issue.expression is not None and issue.expression.startswith("Patient.")


def test_primitive_expressions(validator: ResourceValidator) -> None:
    p = patient()
    p["name"][0]["given"][1] = 5
    check(validator, p, "wrong-type", "Patient.name[0].given[1]")
    p = patient()
    p["photo"] = [{"contentType": "image/png", "data": "not base64!"}]
    check(validator, p, "invalid-primitive", "Patient.photo[0].data")


@pytest.mark.parametrize(("type_name", "element", "value"), [
    ("Observation", "valueTime", "10:30:00"),
    ("Observation", "valueDateTime", "2020"),
    ("Observation", "valueDateTime", "2020-02-29T23:59:60.5+14:00"),
    ("Observation", "valuePeriod", {"start": "2020-01"}),
    ("Observation", "valueBoolean", False),
    ("Observation", "valueInteger", 0),
])
def test_valid_primitive_values(validator: ResourceValidator, type_name: str, element: str,
                                value: Any) -> None:
    obs = observation()
    del obs["valueQuantity"]
    obs[element] = value
    assert errors(validator.validate(obs)) == []


def test_valid_special_formats(validator: ResourceValidator) -> None:
    doc: Json = {"resourceType": "DocumentReference", "status": "current", "content": [
        {"attachment": {"contentType": "text/plain", "data": "aGVsbG8=",
                        "url": "http://x.org/a", "size": 0,
                        "creation": "2020-01-01T00:00:00Z"}}],
        "masterIdentifier": {"system": "urn:ietf:rfc:3986",
                             "value": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"}}
    assert errors(validator.validate(doc)) == []
    doc["content"][0]["attachment"]["size"] = -1
    check(validator, doc, "invalid-primitive", "DocumentReference.content[0].attachment.size")


# --- bindings ----------------------------------------------------------------------------


def test_code_binding(validator: ResourceValidator) -> None:
    p = patient()
    p["gender"] = "unknown-value"
    issue = check(validator, p, "code-not-in-valueset", "Patient.gender")
    assert issue.code == "code-invalid"
    p = patient()
    p["contact"][0]["gender"] = "M"
    check(validator, p, "code-not-in-valueset", "Patient.contact[0].gender")
    obs = observation()
    obs["status"] = "done"
    check(validator, obs, "code-not-in-valueset", "Observation.status")


def test_codeable_concept_binding(validator: ResourceValidator) -> None:
    system = "http://terminology.hl7.org/CodeSystem/condition-clinical"
    cond: Json = {"resourceType": "Condition", "subject": {"reference": "Patient/1"},
                  "clinicalStatus": {"coding": [{"system": system, "code": "active"}]}}
    assert errors(validator.validate(cond)) == []
    # one coding from the value set is enough
    cond["clinicalStatus"]["coding"].insert(0, {"system": "http://x.org", "code": "a"})
    assert errors(validator.validate(cond)) == []
    cond["clinicalStatus"]["coding"][1]["code"] = "bogus"
    check(validator, cond, "code-not-in-valueset", "Condition.clinicalStatus.coding[1].code")
    cond["clinicalStatus"] = {"coding": [{"system": "http://x.org", "code": "a"}]}
    check(validator, cond, "code-not-in-valueset", "Condition.clinicalStatus")
    cond["clinicalStatus"] = {"text": "active"}
    assert errors(validator.validate(cond)) == []


def test_unexpandable_value_set_is_skipped(validator: ResourceValidator) -> None:
    # Attachment.contentType is bound (required) to MIME types, which we cannot expand.
    p = patient()
    p["photo"] = [{"contentType": "image/x-anything", "data": "aGVsbG8="}]
    assert errors(validator.validate(p)) == []


def test_extensible_binding_ignored(validator: ResourceValidator) -> None:
    p = patient()
    p["maritalStatus"] = {"coding": [{"system": "http://x.org", "code": "zz"}]}
    assert errors(validator.validate(p)) == []


def test_issues_are_all_reported(validator: ResourceValidator) -> None:
    p = copy.deepcopy(patient())
    p.update(foo=1, gender="x", active="y")
    ids = sorted(i.message_id or "" for i in errors(validator.validate(p)))
    assert ids == ["code-not-in-valueset", "unknown-element", "wrong-type"]


def test_invariant_hook_is_called() -> None:
    seen: list[str] = []

    def hook(resource: Json, url: str) -> list[Issue]:
        seen.append(url)
        return [Issue("warning", "invariant", "hooked", "Patient", "test-hook")]

    issues = ResourceValidator(load_r4(), [hook]).validate(patient())
    hooked = [i.message_id for i in issues if i.message_id != "unknown-extension"]
    assert seen == ["Patient"] and hooked == ["test-hook"]


def test_custom_profile_snapshot_is_honoured() -> None:
    base = load_r4()
    sd = copy.deepcopy(base.structure_definition("Patient"))
    assert sd is not None
    url = "http://example.org/fhir/StructureDefinition/strict-patient"
    sd.update(url=url, derivation="constraint")
    for element in sd["snapshot"]["element"]:
        if element["path"] == "Patient.gender":
            element["min"] = 1
        if element["path"] == "Patient.name":
            element["max"] = "1"  # still a JSON array: the base max decides the shape
        if element["path"] == "Patient.photo":
            element["max"] = "0"
    defs = Definitions([*base.structure_definitions.values(), *base.value_sets.values(),
                        *base.code_systems.values(), sd])
    strict = ResourceValidator(defs)
    p = patient()
    del p["name"][1]
    assert errors(strict.validate(p, url)) == []
    del p["gender"]
    issue = only(strict.validate(p, url))
    assert (issue.message_id, issue.expression) == ("cardinality-min", "Patient.gender")
    p = patient()
    issue = only(strict.validate(p, url))
    assert (issue.message_id, issue.expression) == ("cardinality-max", "Patient.name")
    del p["name"][1]
    p["photo"] = [{"url": "http://x.org/a.png"}]
    issue = only(strict.validate(p, url))
    assert (issue.message_id, issue.expression) == ("cardinality-max", "Patient.photo")
