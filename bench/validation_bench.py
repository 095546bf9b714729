"""Benchmark: validations per second (structure, invariants, profiles) for the 2.7 KB
`bench/patient.json` against base Patient, the profiled Child (when
`profiles/StructureDefinition/Child.json` and the snapshot generator exist), a 2.4 KB
generated Patient and a 100-entry Bundle.

Run from the repository root: `.venv/bin/python bench/validation_bench.py`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.definitions.registry import Definitions, load_r4
from server.errors import is_error
from server.validation import ResourceValidator

ROOT = Path(__file__).resolve().parents[1]


def typical_patient(n: int = 0) -> dict[str, Any]:
    """Return a realistic Patient of about 2.4 KB of JSON."""
    ext_url = "http://hl7.org/fhir/StructureDefinition/"
    return {
        "resourceType": "Patient", "id": f"pat-{n}",
        "meta": {"versionId": "3", "lastUpdated": "2024-03-01T10:15:00.000Z",
                 "profile": ["http://example.org/fhir/StructureDefinition/child"]},
        "text": {"status": "generated",
                 "div": '<div xmlns="http://www.w3.org/1999/xhtml">Peter James Chalmers</div>'},
        "extension": [
            {"url": ext_url + "patient-birthPlace",
             "valueAddress": {"city": "Leeds", "country": "GB"}},
            {"url": ext_url + "patient-mothersMaidenName", "valueString": "Smith"},
        ],
        "identifier": [
            {"use": "official", "system": "https://fhir.nhs.uk/Id/nhs-number",
             "value": "9000000009",
             "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                  "code": "MR", "display": "Medical record number"}]},
             "period": {"start": "2001-05-06"}},
            {"use": "secondary", "system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345",
             "assigner": {"display": "Acme Healthcare"}},
        ],
        "active": True,
        "name": [
            {"use": "official", "family": "Chalmers", "given": ["Peter", "James"],
             "_given": [None, {"extension": [{"url": "http://example.org/x",
                                              "valueString": "y"}]}]},
            {"use": "usual", "given": ["Jim"]},
            {"use": "maiden", "family": "Windsor", "given": ["Peter", "James"],
             "period": {"end": "2002"}},
        ],
        "telecom": [
            {"use": "home"},
            {"system": "phone", "value": "(03) 5555 6473", "use": "work", "rank": 1},
            {"system": "phone", "value": "(03) 3410 5613", "use": "mobile", "rank": 2},
            {"system": "email", "value": "peter@example.org", "use": "home"},
        ],
        "gender": "male", "birthDate": "1974-12-25",
        "_birthDate": {"extension": [{"url": ext_url + "patient-birthTime",
                                      "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
        "deceasedBoolean": False,
        "address": [{"use": "home", "type": "both", "text": "534 Erewhon St PeasantVille",
                     "line": ["534 Erewhon St"], "city": "PleasantVille",
                     "district": "Rainbow", "state": "Vic", "postalCode": "3999",
                     "period": {"start": "1974-12-25"}}],
        "maritalStatus": {"coding": [{"system":
                                      "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                                      "code": "M"}]},
        "contact": [{
            "relationship": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"}]}],
            "name": {"family": "du Marché", "given": ["Bénédicte"]},
            "telecom": [{"system": "phone", "value": "+33 (237) 998327"}],
            "address": {"use": "home", "line": ["534 Erewhon St"], "city": "PleasantVille",
                        "postalCode": "3999"},
            "gender": "female", "period": {"start": "2012"},
        }],
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47",
                                                    "code": "en-GB"}]}, "preferred": True}],
        "generalPractitioner": [{"reference": "Practitioner/gp-1"}],
        "managingOrganization": {"reference": "Organization/1", "display": "Acme"},
    }


def transaction(entries: int) -> dict[str, Any]:
    """Return a transaction Bundle of `entries` Patient POSTs."""
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:61ebe359-bfdc-4613-8bf2-{i:012x}",
         "resource": typical_patient(i), "request": {"method": "POST", "url": "Patient"}}
        for i in range(entries)]}


def rate(validator: ResourceValidator, resource: dict[str, Any], profile: str | None = None,
         seconds: float = 2.0) -> float:
    """Return validations per second over roughly `seconds` of repeated runs."""
    errors = [i for i in validator.validate(resource, profile) if is_error(i)]
    for issue in errors:  # reported, not fatal: the timing is still meaningful
        print(f"  note: {issue.message_id} at {issue.expression}: {issue.diagnostics}")
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(20):
            validator.validate(resource, profile)
        count += 20
    return count / elapsed


def child_validator() -> tuple[ResourceValidator, str] | None:
    """Return a validator knowing the Child profile, and its URL, if both pieces exist."""
    path = ROOT / "profiles" / "StructureDefinition" / "Child.json"
    try:
        from server.profiles.snapshot import generate_snapshot  # type: ignore[import-not-found]
    except ImportError:
        return None
    if not path.exists():
        return None
    base = load_r4()
    sd = generate_snapshot(json.loads(path.read_text()), base)
    return ResourceValidator(Definitions([*base.by_url.values(), sd])), sd["url"]


def main() -> None:
    validator = ResourceValidator(load_r4())
    bench_patient = json.loads((ROOT / "bench" / "patient.json").read_text())
    runs = [("Patient (bench/patient.json)", validator, bench_patient, None),
            ("Patient (generated)", validator, typical_patient(), None),
            ("Bundle(100 transaction entries)", validator, transaction(100), None)]
    child = child_validator()
    if child is not None:
        runs.insert(1, ("Child profile (bench/patient.json)", child[0], bench_patient, child[1]))
    else:
        print("Child profile: skipped (no server/profiles/snapshot.py or Child.json yet)")
    for name, validator_, resource, profile in runs:
        size = len(json.dumps(resource).encode())
        per_sec = rate(validator_, resource, profile)
        print(f"{name:32s} {size / 1024:7.1f} KB  {per_sec:10.0f} validations/s  "
              f"{1e6 / per_sec:9.1f} µs each")


if __name__ == "__main__":
    main()
