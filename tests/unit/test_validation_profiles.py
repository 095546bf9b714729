"""Profile validation: fixed/pattern, slicing, extensions by URL, targetProfile, invariants
and meta.profile, against small profiles whose snapshots are built here from base R4."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.definitions.registry import Definitions, load_r4
from server.errors import Issue
from server.validation import ResourceValidator

Json = dict[str, Any]
BASE = load_r4()
URL = "https://cradle.example/fhir/StructureDefinition/test-child"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
MAIDEN = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName"
NATIONALITY = "http://hl7.org/fhir/StructureDefinition/patient-nationality"


def _base(type_name: str) -> list[Json]:
    sd = BASE.structure_definition(type_name)
    assert sd is not None
    return copy.deepcopy(sd["snapshot"]["element"])


def _slice(path: str, name: str, type_name: str, **changes: Any) -> list[Json]:
    """Return a slice element of `path` plus its children copied from `type_name`."""
    elements = _base(type_name)
    head = {**elements[0], "id": f"{path}:{name}", "path": path, "sliceName": name,
            "type": [{"code": type_name}], "base": {"path": path, "min": 0, "max": "*"},
            **changes}
    out = [head]
    for e in elements[1:]:
        rest = e["id"][len(type_name):]
        out.append({**e, "id": f"{path}:{name}{rest}", "path": path + e["path"][len(type_name):]})
    return out


def _set(elements: list[Json], element_id: str, **changes: Any) -> None:
    next(e for e in elements if e["id"] == element_id).update(changes)


def _insert_after(elements: list[Json], element_id: str, new: list[Json]) -> None:
    index = next(i for i, e in enumerate(elements) if e["id"] == element_id)
    elements[index + 1:index + 1] = new


def child_profile() -> Json:
    """A Patient profile with one rule of each kind under test."""
    sd = copy.deepcopy(BASE.structure_definition("Patient"))
    assert sd is not None
    sd.update(url=URL, derivation="constraint", name="TestChild", differential=None)
    els = sd["snapshot"]["element"]
    _set(els, "Patient.identifier", slicing={
        "discriminator": [{"type": "value", "path": "system"}], "rules": "open"})
    nhs = _slice("Patient.identifier", "nhsNumber", "Identifier", min=1, max="1", constraint=[
        {"key": "nhs-number-check", "severity": "error", "human": "NHS number is 10 digits",
         "expression": "value.matches('^[0-9]{10}$')"}])
    _set(nhs, "Patient.identifier:nhsNumber.system", fixedUri=NHS, min=1)
    _set(nhs, "Patient.identifier:nhsNumber.use", fixedCode="official")
    _set(nhs, "Patient.identifier:nhsNumber.value", min=1)
    _insert_after(els, "Patient.identifier", nhs)
    _set(els, "Patient.extension", slicing={
        "discriminator": [{"type": "value", "path": "url"}], "rules": "open"})
    _insert_after(els, "Patient.extension", [{
        **_base("Extension")[0], "id": "Patient.extension:maiden", "path": "Patient.extension",
        "sliceName": "maiden", "min": 0, "max": "1",
        "type": [{"code": "Extension", "profile": [MAIDEN]}]}])
    _set(els, "Patient.telecom", slicing={
        "discriminator": [{"type": "pattern", "path": "$this"}], "rules": "closed"})
    _insert_after(els, "Patient.telecom", [
        {**_base("ContactPoint")[0], "id": f"Patient.telecom:{kind}", "path": "Patient.telecom",
         "sliceName": kind, "min": 0, "max": "*", "type": [{"code": "ContactPoint"}],
         "patternContactPoint": {"system": kind}} for kind in ("phone", "email")])
    _set(els, "Patient.name", slicing={
        "discriminator": [{"type": "value", "path": "use"}], "rules": "openAtEnd"})
    official = _slice("Patient.name", "official", "HumanName", min=0, max="1")
    _set(official, "Patient.name:official.use", fixedCode="official")
    _insert_after(els, "Patient.name", official)
    _set(els, "Patient.address", slicing={
        "discriminator": [{"type": "exists", "path": "postalCode"}], "rules": "open"})
    postal = _slice("Patient.address", "postal", "Address", min=0, max="1")
    _set(postal, "Patient.address:postal.postalCode", min=1)
    _insert_after(els, "Patient.address", postal)
    _set(els, "Patient.maritalStatus", patternCodeableConcept={"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"}]})
    _set(els, "Patient.gender", fixedCode="female")
    _set(els, "Patient.generalPractitioner", type=[{"code": "Reference", "targetProfile": [
        "http://hl7.org/fhir/StructureDefinition/Practitioner"]}])
    return sd


VALIDATOR = ResourceValidator(Definitions([*BASE.by_url.values(), child_profile()]))


def child() -> Json:
    return {
        "resourceType": "Patient", "meta": {"profile": [URL]},
        "identifier": [{"system": "urn:oid:1.2.3", "value": "x1"},
                       {"use": "official", "system": NHS, "value": "9000000009"}],
        "extension": [{"url": MAIDEN, "valueString": "Smith"},
                      {"url": NATIONALITY, "extension": [{"url": "code", "valueCodeableConcept":
                                                          {"text": "British"}}]}],
        "telecom": [{"system": "phone", "value": "0113 496 0000"},
                    {"system": "email", "value": "a@example.org"}],
        "name": [{"use": "official", "family": "Smith"}, {"use": "usual", "given": ["Amy"]}],
        "address": [{"city": "Leeds", "postalCode": "LS1 1AA"}, {"city": "York"}],
        "maritalStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "U"}]},
        "gender": "female",
        "generalPractitioner": [{"reference": "Practitioner/gp"}],
    }


def found(resource: Json, profile: str | None = None) -> list[tuple[str | None, str | None]]:
    return [(i.message_id, i.expression) for i in VALIDATOR.validate(resource, profile)]


def one(resource: Json, severity: str = "error") -> Issue:
    issues = [i for i in VALIDATOR.validate(resource) if i.severity == severity]
    assert len(issues) == 1, issues
    return issues[0]


def test_valid_profiled_resource_has_no_issues() -> None:
    assert found(child()) == []
    assert found(child(), URL) == []


@pytest.mark.parametrize(("mutate", "message_id", "expression"), [
    (lambda p: p.update(gender="male"), "fixed-value-mismatch", "Patient.gender"),
    (lambda p: p["maritalStatus"]["coding"][0].update(system="http://x.org"),
     "pattern-mismatch", "Patient.maritalStatus"),
    (lambda p: p["identifier"][1].update(use="usual"), "fixed-value-mismatch",
     "Patient.identifier[1].use"),
    (lambda p: p["identifier"].pop(), "slice-cardinality", "Patient.identifier"),
    (lambda p: p.pop("identifier"), "slice-cardinality", "Patient.identifier"),
    (lambda p: p["identifier"][1].pop("value"), "cardinality-min", "Patient.identifier[1].value"),
    (lambda p: p["identifier"][1].update(value="12"), "invariant-nhs-number-check",
     "Patient.identifier[1]"),
    (lambda p: p["telecom"].append({"system": "fax", "value": "1"}), "no-matching-slice",
     "Patient.telecom[2]"),
    (lambda p: p["name"].reverse(), "slice-open-at-end", "Patient.name[0]"),
    (lambda p: p["address"][1].update(postalCode="YO1"), "slice-cardinality", "Patient.address"),
    (lambda p: p["generalPractitioner"][0].update(reference="Organization/o"),
     "reference-target-type", "Patient.generalPractitioner[0].reference"),
    (lambda p: p.update(modifierExtension=[{"url": "http://x.org/m", "valueBoolean": True}]),
     "unknown-extension", "Patient.modifierExtension[0]"),
    (lambda p: p.update(contact=[{"name": {"family": "X"}, "telecom": [{"value": "1"}]}]),
     "invariant-cpt-2", "Patient.contact[0].telecom[0]"),
])
def test_each_rule_reports_exactly_its_issue(mutate: Any, message_id: str,
                                             expression: str) -> None:
    p = child()
    mutate(p)
    issue = one(p)
    assert (issue.message_id, issue.expression) == (message_id, expression), issue


def test_no_matching_slice_lists_every_candidate() -> None:
    p = child()
    p["telecom"].append({"system": "fax", "value": "1"})
    assert "phone (" in one(p).diagnostics and "email (" in one(p).diagnostics


def test_unknown_extension_is_a_warning() -> None:
    p = child()
    p["extension"].append({"url": "http://x.org/ext", "valueString": "y"})
    assert (one(p, "warning").message_id, one(p, "warning").expression) == (
        "unknown-extension", "Patient.extension[2]")
    assert [i for i in VALIDATOR.validate(p) if i.severity == "error"] == []


def test_meta_profile_is_enforced_and_unknown_is_a_warning() -> None:
    p = child()
    p["gender"] = "male"
    assert found(p) == [("fixed-value-mismatch", "Patient.gender")]
    p["meta"]["profile"] = ["http://x.org/unknown"]
    assert found(p) == [("unknown-profile", "Patient.meta.profile[0]")]
    assert found(p, URL) == [("unknown-profile", "Patient.meta.profile[0]"),
                             ("fixed-value-mismatch", "Patient.gender")]


def test_base_target_profile_and_invariant_without_profile() -> None:
    p = {"resourceType": "Patient", "managingOrganization": {"reference": "Patient/1"},
         "contact": [{"gender": "male"}]}
    assert found(p) == [("reference-target-type", "Patient.managingOrganization.reference"),
                        ("invariant-pat-1", "Patient.contact[0]")]


def test_extension_value_type_comes_from_its_definition() -> None:
    p = child()
    p["extension"][0] = {"url": MAIDEN, "valueInteger": 1}
    assert found(p) == [("unknown-element", "Patient.extension[0].valueInteger"),
                        ("cardinality-min", "Patient.extension[0].value")]


def test_real_extension_definition_with_sub_extension_slicing() -> None:
    """patient-nationality (R4 extension-definitions) slices Extension.extension by url."""
    p = child()
    p["extension"][1]["extension"] = [{"url": "code", "valueString": "GB"}]
    assert found(p) == [("unknown-element", "Patient.extension[1].extension[0].valueString"),
                        ("cardinality-min", "Patient.extension[1].extension[0].value")]
    p["extension"][1]["extension"] = [{"url": "code", "valueCodeableConcept": {"text": "a"}},
                                      {"url": "code", "valueCodeableConcept": {"text": "b"}}]
    assert found(p) == [("slice-cardinality", "Patient.extension[1].extension")]


@settings(max_examples=40, deadline=None)
@given(use=st.sampled_from(["usual", "temp", "secondary", "old"]),
       others=st.lists(st.sampled_from(["urn:oid:1.2", "urn:oid:3.4", "http://x.org/id"]),
                       max_size=3), position=st.integers(min_value=0, max_value=3))
def test_mutating_a_sliced_fixed_value_gives_exactly_that_issue(
        use: str, others: list[str], position: int) -> None:
    p = child()
    nhs = {"use": "official", "system": NHS, "value": "9000000009"}
    identifiers = [{"system": s, "value": "v"} for s in others]
    at = min(position, len(identifiers))
    identifiers.insert(at, nhs)
    p["identifier"] = identifiers
    assert found(p) == []
    nhs["use"] = use
    assert found(p) == [("fixed-value-mismatch", f"Patient.identifier[{at}].use")]
