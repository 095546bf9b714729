"""The validator against a real published IG: HL7 UK Core (R4) Patient and its extensions.

The StructureDefinitions and examples in tests/data/ukcore/ were converted from the UK Core
repository's FHIR XML by tests/support/fhir_xml.py (see tests/data/ukcore/README.md).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from server.definitions import Definitions, load_r4
from server.profiles.snapshot import generate_snapshot
from server.validation import ResourceValidator
from tests.support.fhir_xml import xml_to_json

DATA = Path(__file__).resolve().parents[1] / "data" / "ukcore"
UKCORE_PATIENT = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"
UK_SD = "https://fhir.hl7.org.uk/StructureDefinition/"
EXAMPLES = ["UKCore-Patient-BabyPatient-Example", "UKCore-Patient-RichardSmith-Example"]


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    return data


@cache
def _definitions() -> Definitions:
    defs = load_r4().copy()
    sds = [_load(p.stem) for p in sorted(DATA.glob("*.json"))]
    sds = [sd for sd in sds if sd["resourceType"] == "StructureDefinition"]
    # Extensions first: the profile's snapshot reaches into them.
    for sd in sorted(sds, key=lambda sd: sd["type"] != "Extension"):
        defs.add(sd if "snapshot" in sd else generate_snapshot(sd, defs))
    return defs


@cache
def _validator() -> ResourceValidator:
    return ResourceValidator(_definitions())


def _errors(resource: dict[str, Any]) -> list[tuple[str | None, str | None]]:
    issues = _validator().validate(resource, UKCORE_PATIENT)
    return [(i.message_id, i.expression) for i in issues if i.severity in ("error", "fatal")]


def _baby() -> dict[str, Any]:
    return copy.deepcopy(_load("UKCore-Patient-BabyPatient-Example"))


def test_vendored_json_matches_its_xml_source() -> None:
    for source in sorted((DATA / "source").glob("*.xml")):
        assert xml_to_json(source.read_bytes()) == _load(source.stem), source.name


def test_ukcore_patient_snapshot_carries_the_nhs_number_slice() -> None:
    sd = _definitions().structure_definition(UKCORE_PATIENT)
    assert sd is not None
    by_id = {e["id"]: e for e in sd["snapshot"]["element"]}
    assert by_id["Patient.identifier:nhsNumber"]["max"] == "1"
    assert by_id["Patient.identifier:nhsNumber.system"]["fixedUri"] == \
        "https://fhir.nhs.uk/Id/nhs-number"
    assert by_id["Patient.identifier:nhsNumber.value"]["min"] == 1


@pytest.mark.parametrize("name", EXAMPLES)
def test_published_examples_have_no_errors(name: str) -> None:
    assert _errors(_load(name)) == []


def test_unknown_element_is_reported() -> None:
    patient = _baby()
    patient["nhsNumber"] = "9912003890"
    assert ("unknown-element", "Patient.nhsNumber") in _errors(patient)


def test_verification_status_with_wrong_value_type_fails() -> None:
    patient = _baby()
    status = patient["identifier"][0]["extension"][0]
    patient["identifier"][0]["extension"][0] = {"url": status["url"], "valueString": "01"}
    errors = _errors(patient)
    assert ("unknown-element", "Patient.identifier[0].extension[0].valueString") in errors
    assert ("cardinality-min", "Patient.identifier[0].extension[0].value") in errors


def test_birth_sex_needs_a_codeable_concept() -> None:
    patient = _baby()
    patient["extension"].append({"url": UK_SD + "Extension-UKCore-BirthSex",
                                 "valueCoding": {"code": "M"}})
    errors = _errors(patient)
    assert ("unknown-element", "Patient.extension[1].valueCoding") in errors
    assert ("cardinality-min", "Patient.extension[1].value") in errors


def test_nhs_number_identifier_needs_a_value() -> None:
    patient = _baby()
    del patient["identifier"][0]["value"]
    assert ("cardinality-min", "Patient.identifier[0].value") in _errors(patient)


def test_at_most_one_nhs_number() -> None:
    patient = _baby()
    patient["identifier"].append(copy.deepcopy(patient["identifier"][0]))
    assert ("slice-cardinality", "Patient.identifier") in _errors(patient)


def test_at_most_one_ethnic_category() -> None:
    patient = _baby()
    patient["extension"].append(copy.deepcopy(patient["extension"][0]))
    assert any(mid == "slice-cardinality" for mid, _ in _errors(patient))
