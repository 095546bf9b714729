"""Classifying the differences between two versions of a profile, one rule at a time."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from server.definitions.registry import load_r4
from server.profiles.diff import Change, diff_profiles
from server.profiles.snapshot import generate_snapshot

Json = dict[str, Any]
VS = "http://hl7.org/fhir/ValueSet/"


@pytest.fixture(scope="module")
def old() -> Json:
    sd = {"resourceType": "StructureDefinition", "url": "https://cradle.example/fhir/"
          "StructureDefinition/Child", "name": "Child", "type": "Patient",
          "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
          "derivation": "constraint", "differential": {"element": [
              {"id": "Patient.name", "path": "Patient.name", "min": 1, "max": "3",
               "constraint": [{"key": "chd-1", "severity": "error", "human": "family",
                               "expression": "family.exists()"}]},
              {"id": "Patient.gender", "path": "Patient.gender", "mustSupport": True},
              {"id": "Patient.maritalStatus", "path": "Patient.maritalStatus",
               "binding": {"strength": "extensible", "valueSet": VS + "marital-status"}},
          ]}}
    return generate_snapshot(sd, load_r4())


def edit(sd: Json, element_id: str, change: Callable[[Json], None]) -> Json:
    new = copy.deepcopy(sd)
    for element in new["snapshot"]["element"]:
        if element["id"] == element_id:
            change(element)
    return new


def only(changes: list[Change]) -> tuple[str, str, str, str]:
    assert len(changes) == 1, changes
    c = changes[0]
    return c.element_id, c.kind, c.senders, c.receivers


def test_identical_profiles_have_no_changes(old: Json) -> None:
    assert diff_profiles(old, copy.deepcopy(old)) == []


@pytest.mark.parametrize(("element_id", "change", "kind", "senders", "receivers"), [
    ("Patient.name", lambda e: e.update(max="1"), "max-reduced", "breaking", "compatible"),
    ("Patient.name", lambda e: e.update(max="*"), "max-raised", "compatible", "breaking"),
    ("Patient.name", lambda e: e.update(min=2), "min-raised", "breaking", "compatible"),
    ("Patient.name", lambda e: e.update(min=0), "min-lowered", "compatible", "breaking"),
    ("Patient.deceased[x]", lambda e: e.update(type=[{"code": "boolean"}]), "type-removed",
     "breaking", "compatible"),
    ("Patient.birthDate", lambda e: e["type"].append({"code": "dateTime"}), "type-added",
     "compatible", "breaking"),
    ("Patient.maritalStatus", lambda e: e["binding"].update(strength="required"),
     "binding-tightened", "breaking", "compatible"),
    ("Patient.maritalStatus", lambda e: e["binding"].update(strength="preferred"),
     "binding-loosened", "compatible", "breaking"),
    ("Patient.maritalStatus", lambda e: e["binding"].update(valueSet=VS + "other"),
     "binding-valueset-changed", "breaking", "breaking"),
    ("Patient.maritalStatus", lambda e: e.pop("binding"), "binding-removed",
     "compatible", "breaking"),
    ("Patient.birthDate", lambda e: e.update(binding={"strength": "required", "valueSet": "x"}),
     "binding-added", "breaking", "compatible"),
    ("Patient.active", lambda e: e.update(fixedBoolean=True), "fixed-added",
     "breaking", "compatible"),
    ("Patient.maritalStatus", lambda e: e.update(patternCodeableConcept={"text": "x"}),
     "pattern-added", "breaking", "compatible"),
    ("Patient.name", lambda e: e["constraint"].append(
        {"key": "chd-2", "severity": "error", "human": "g", "expression": "given.exists()"}),
     "constraint-added", "breaking", "compatible"),
    ("Patient.name", lambda e: e["constraint"][-1].update(expression="given.exists()"),
     "constraint-changed", "breaking", "compatible"),
    ("Patient.name", lambda e: e["constraint"].pop(), "constraint-removed",
     "compatible", "breaking"),
    ("Patient.gender", lambda e: e.pop("mustSupport"), "must-support-removed",
     "compatible", "compatible"),
    ("Patient.active", lambda e: e.update(mustSupport=True), "must-support-added",
     "compatible", "breaking"),
    ("Patient.gender", lambda e: e.update(short="Sex"), "short-changed",
     "compatible", "compatible"),
    ("Patient.gender", lambda e: e.update(definition="Sex"), "definition-changed",
     "compatible", "compatible"),
])
def test_each_rule(old: Json, element_id: str, change: Callable[[Json], None], kind: str,
                   senders: str, receivers: str) -> None:
    assert only(diff_profiles(old, edit(old, element_id, change))) == (
        element_id, kind, senders, receivers)


def test_fixed_value_changed_and_removed(old: Json) -> None:
    fixed = edit(old, "Patient.active", lambda e: e.update(fixedBoolean=True))
    changed = edit(fixed, "Patient.active", lambda e: e.update(fixedBoolean=False))
    assert only(diff_profiles(fixed, changed))[1:] == ("fixed-changed", "breaking", "compatible")
    assert only(diff_profiles(fixed, old))[1:] == ("fixed-removed", "compatible", "breaking")


def test_elements_removed_and_added(old: Json) -> None:
    removed = copy.deepcopy(old)
    removed["snapshot"]["element"] = [e for e in old["snapshot"]["element"]
                                      if e["id"] != "Patient.photo"]
    assert only(diff_profiles(old, removed)) == (
        "Patient.photo", "element-removed", "breaking", "compatible")
    assert only(diff_profiles(removed, old)) == (
        "Patient.photo", "element-added-optional", "compatible", "breaking")
    required = edit(old, "Patient.photo", lambda e: e.update(min=1))
    assert only(diff_profiles(removed, required))[1:] == (
        "element-added-required", "breaking", "compatible")
