"""Snapshot generation from differential-only profiles, against the real R4 definitions."""

from __future__ import annotations

from typing import Any

import pytest

from server.definitions.registry import Definitions, load_r4
from server.errors import Invalid
from server.profiles.snapshot import generate_snapshot

Json = dict[str, Any]
BASE = "http://hl7.org/fhir/StructureDefinition/"
NHS = "https://fhir.nhs.uk/Id/nhs-number"


def profile(name: str, type_: str, elements: list[Json], base: str | None = None) -> Json:
    return {"resourceType": "StructureDefinition", "url": f"https://cradle.example/fhir/"
            f"StructureDefinition/{name}", "name": name, "type": type_, "kind": "resource",
            "derivation": "constraint", "baseDefinition": base or BASE + type_,
            "differential": {"element": elements}}


def el(element_id: str, **values: Any) -> Json:
    path = ".".join(step.split(":")[0] for step in element_id.split("."))
    return {"id": element_id, "path": path, **values}


def by_id(sd: Json) -> dict[str, Json]:
    return {e["id"]: e for e in sd["snapshot"]["element"]}


CHILD = profile("Child", "Patient", [
    el("Patient.identifier", min=1, slicing={
        "discriminator": [{"type": "value", "path": "system"}], "rules": "open"}),
    el("Patient.identifier:nhsNumber", sliceName="nhsNumber", max="1"),
    el("Patient.identifier:nhsNumber.system", min=1, fixedUri=NHS),
    el("Patient.identifier:nhsNumber.value", min=1, constraint=[{
        "key": "nhs-1", "severity": "error", "human": "ten digits",
        "expression": "matches('^[0-9]{10}$')"}]),
    el("Patient.identifier:upn", sliceName="upn", max="1"),
    el("Patient.name", max="3"),
])


def test_trivial_profile_equals_base() -> None:
    sd = generate_snapshot(profile("Plain", "Patient", []), load_r4())
    base = load_r4().structure_definition("Patient")
    assert base is not None
    shape = [(e["id"], e["path"], e["min"], e["max"]) for e in base["snapshot"]["element"]]
    assert [(e["id"], e["path"], e["min"], e["max"]) for e in sd["snapshot"]["element"]] == shape
    assert "snapshot" not in profile("Plain", "Patient", [])  # the input is not modified


def test_identifier_slices_are_placed_and_expanded() -> None:
    sd = generate_snapshot(CHILD, load_r4())
    ids = [e["id"] for e in sd["snapshot"]["element"]]
    start = ids.index("Patient.identifier")
    identifier = ["id", "extension", "use", "type", "system", "value", "period", "assigner"]
    # upn constrains nothing below itself, so (as in published snapshots) it has no children.
    assert ids[start:start + 12] == [
        "Patient.identifier",
        "Patient.identifier:nhsNumber", *[f"Patient.identifier:nhsNumber.{n}" for n in identifier],
        "Patient.identifier:upn", "Patient.active",
    ]
    elements = by_id(sd)
    assert elements["Patient.identifier"]["min"] == 1
    assert elements["Patient.identifier"]["slicing"]["rules"] == "open"
    nhs = elements["Patient.identifier:nhsNumber"]
    assert (nhs["path"], nhs["sliceName"], nhs["min"], nhs["max"]) == (
        "Patient.identifier", "nhsNumber", 0, "1")
    assert "slicing" not in nhs
    system = elements["Patient.identifier:nhsNumber.system"]
    assert (system["path"], system["min"], system["max"], system["fixedUri"]) == (
        "Patient.identifier.system", 1, "1", NHS)
    value = elements["Patient.identifier:nhsNumber.value"]
    assert [c["key"] for c in value["constraint"]] == ["ele-1", "nhs-1"]
    assert elements["Patient.identifier:upn"]["max"] == "1"
    assert elements["Patient.name"]["max"] == "3"


def test_extension_with_renamed_choice_and_fixed_url() -> None:
    url = "https://cradle.example/fhir/StructureDefinition/ethnic-category"
    sd = generate_snapshot(profile("EthnicCategory", "Extension", [
        el("Extension", max="1"),
        el("Extension.extension", max="0"),
        el("Extension.url", fixedUri=url),
        el("Extension.valueCodeableConcept", min=1),
        el("Extension.valueCodeableConcept.coding", min=1),
    ]), load_r4())
    elements = by_id(sd)
    assert list(elements)[:5] == ["Extension", "Extension.id", "Extension.extension",
                                  "Extension.url", "Extension.value[x]"]
    value = elements["Extension.value[x]"]
    assert (value["path"], value["min"], [t["code"] for t in value["type"]]) == (
        "Extension.value[x]", 1, ["CodeableConcept"])
    assert elements["Extension.value[x].coding"]["min"] == 1
    assert elements["Extension.url"]["fixedUri"] == url
    assert elements["Extension"]["max"] == "1"


def test_complex_extension_with_sub_extension_slices() -> None:
    sd = generate_snapshot(profile("Reason", "Extension", [
        el("Extension.extension:code", sliceName="code", min=1, max="1"),
        el("Extension.extension:code.url", fixedUri="code"),
        el("Extension.extension:code.value[x]", type=[{"code": "CodeableConcept"}]),
        el("Extension.extension:date", sliceName="date", max="1"),
        el("Extension.extension:date.valueDate", min=1),
        el("Extension.value[x]", max="0"),
    ]), load_r4())
    ids = [e["id"] for e in sd["snapshot"]["element"]]
    sub = ["id", "extension", "url", "value[x]"]
    assert ids == ["Extension", "Extension.id", "Extension.extension",
                   "Extension.extension:code", *[f"Extension.extension:code.{n}" for n in sub],
                   "Extension.extension:date", *[f"Extension.extension:date.{n}" for n in sub],
                   "Extension.url", "Extension.value[x]"]
    elements = by_id(sd)
    assert elements["Extension.extension:code"]["min"] == 1
    assert elements["Extension.extension:code.url"]["fixedUri"] == "code"
    assert elements["Extension.extension:code.url"]["path"] == "Extension.extension.url"
    date = elements["Extension.extension:date.value[x]"]
    assert (date["min"], [t["code"] for t in date["type"]]) == (1, ["date"])
    assert elements["Extension.value[x]"]["max"] == "0"


def test_profile_on_differential_only_profile() -> None:
    definitions = Definitions([*load_r4().resources, CHILD])
    local = profile("LocalChild", "Patient", [
        el("Patient.identifier:nhsNumber", min=1),
        el("Patient.identifier:nhsNumber.value", short="NHS number"),
        el("Patient.name", max="1"),
    ], base=CHILD["url"])
    elements = by_id(generate_snapshot(local, definitions))
    assert elements["Patient.identifier:nhsNumber"]["min"] == 1
    assert elements["Patient.identifier:nhsNumber.system"]["fixedUri"] == NHS
    assert elements["Patient.identifier:nhsNumber.value"]["short"] == "NHS number"
    assert elements["Patient.name"]["max"] == "1"


@pytest.mark.parametrize(("element", "message_id"), [
    (el("Patient.name", min=0, max="*"), None),
    (el("Patient.gender", max="*"), "profile-max-above-base"),
    (el("Patient.identifier", min=2, max="1"), "profile-min-above-max"),
    (el("Patient.birthDate", type=[{"code": "string"}]), "profile-type-not-in-base"),
    (el("Patient.gender", binding={"strength": "preferred", "valueSet": "x"}),
     "profile-binding-loosened"),
    (el("Patient.nickname", min=1), "profile-element-unknown"),
    (el("Patient.deceased[x].id", min=1), "profile-choice-ambiguous"),
])
def test_loosening_the_base_is_an_authoring_error(element: Json, message_id: str | None) -> None:
    sd = profile("Loose", "Patient", [element])
    if message_id is None:
        assert by_id(generate_snapshot(sd, load_r4()))["Patient.name"]["max"] == "*"
        return
    with pytest.raises(Invalid) as raised:
        generate_snapshot(sd, load_r4())
    assert [(i.message_id, i.expression) for i in raised.value.issues] == [
        (message_id, element["id"])]
    assert raised.value.issues[0].diagnostics.startswith("Loose: ")


def test_min_below_a_profile_min_and_unknown_base_are_reported() -> None:
    definitions = Definitions([*load_r4().resources, CHILD])
    lower = profile("Lower", "Patient", [el("Patient.identifier", min=0)], base=CHILD["url"])
    with pytest.raises(Invalid) as raised:
        generate_snapshot(lower, definitions)
    assert raised.value.issues[0].message_id == "profile-min-below-base"
    orphan = profile("Orphan", "Patient", [], base="https://nowhere.example/SD/x")
    with pytest.raises(Invalid) as raised:
        generate_snapshot(orphan, definitions)
    assert raised.value.issues[0].message_id == "profile-base-not-found"
