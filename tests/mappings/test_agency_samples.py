"""The agency sample records (mappings/AGENCY/samples): an inventory that covers the cases the
mappings must handle, native schemas the samples pass or fail as their index says, and local
code systems and ConceptMaps that are valid FHIR R4.

What each map does with the samples is tested per agency (`test_AGENCY_map.py`); the HL7 v2
samples are read with the engine's reader there.
"""

from __future__ import annotations

import csv
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import xmltodict

from server.errors import is_error
from server.profiles.loader import build_definitions
from server.validation import ResourceValidator

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
AGENCIES = ("social-care", "health", "education", "connexions", "police")
CASES = {"ordinary", "missing-optional", "unknown-local-code", "bad-nhs-number",
         "agency-date-format", "bad-date", "same-child-as-other-agency", "schema-reject",
         "content-reject"}
REQUIRED_CASES = {"ordinary", "missing-optional", "unknown-local-code", "bad-nhs-number",
                  "agency-date-format", "same-child-as-other-agency", "schema-reject"}
CAST = {c["key"] for c in json.loads((MAPPINGS / "cast.json").read_text())["children"]}
present = [a for a in AGENCIES if (MAPPINGS / a / "samples" / "index.json").exists()]


def index(agency: str) -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = json.loads(
        (MAPPINGS / agency / "samples" / "index.json").read_text())["samples"]
    return samples


def parsed(path: Path) -> list[Any]:
    """The records of a sample in the parsed shape its schema describes (None: no reader yet)."""
    if path.suffix == ".json":
        return [json.loads(path.read_text())]
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as file:
            return list(csv.DictReader(file))
    if path.suffix == ".xml":
        return [xmltodict.parse(path.read_bytes())]
    return []


def test_every_agency_has_its_samples() -> None:
    assert present == list(AGENCIES)


@pytest.mark.parametrize("agency", present)
def test_the_index_covers_every_sample_and_every_case(agency: str) -> None:
    entries = index(agency)
    files = sorted(p.name for p in (MAPPINGS / agency / "samples").iterdir()
                   if p.name != "index.json")
    assert sorted(e["file"] for e in entries) == files
    assert len(files) >= 12
    assert {e["case"] for e in entries} <= CASES
    assert {e["case"] for e in entries} >= REQUIRED_CASES
    assert all(set(e["children"]) <= CAST for e in entries)
    assert all(e["expected"] in ("accept", "reject") and e["why"] for e in entries)
    assert len({c for e in entries for c in e["children"]}) >= 5


@pytest.mark.parametrize("agency", present)
def test_samples_pass_or_fail_the_native_schema_as_indexed(agency: str) -> None:
    schema = json.loads((MAPPINGS / agency / "schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    checked = 0
    for entry in index(agency):
        records = parsed(MAPPINGS / agency / "samples" / entry["file"])
        if not records:
            continue  # HL7 v2: needs its reader
        failures = [e.message for r in records for e in validator.iter_errors(r)]
        if entry["case"] == "schema-reject":
            assert failures, entry["file"]
        else:
            assert not failures, (entry["file"], failures[:3])
        checked += 1
    assert checked >= 12 or agency == "health"


@cache
def validator() -> ResourceValidator:
    return ResourceValidator(build_definitions())


@pytest.mark.parametrize("agency", present)
def test_local_code_systems_and_concept_maps_are_valid_fhir(agency: str) -> None:
    files = sorted((MAPPINGS / agency / "codes").glob("*.json"))
    kinds = {json.loads(f.read_text())["resourceType"] for f in files}
    assert {"CodeSystem", "ConceptMap"} <= kinds
    for file in files:
        resource = json.loads(file.read_text())
        errors = [i.diagnostics for i in validator().validate(resource) if is_error(i)]
        assert not errors, (file.name, errors[:3])
        assert resource["url"].startswith("https://cradle.example/fhir/")
