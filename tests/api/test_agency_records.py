"""Agency systems posting native records over HTTP (`/agencies/{agency}/records`) and reading
children back in their own format: accept, partial reject, idempotent resend, dry run, who may
post, the same child from two agencies, Provenance naming the map and the native input."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.config import Settings
from tests.api.agencies import Agency, agencies
from tests.auth import SmartBackendAuth
from tests.connexions_rows import extract

SAMPLES = Path(__file__).resolve().parents[2] / "mappings" / "connexions" / "samples"
CSV = {"Content-Type": "text/csv"}
AGENCY_TYPE = "https://cradle.example/fhir/CodeSystem/agency-type"
SCOPES = {"connexions": "system/*.cruds", "school": "system/*.cruds",
          "untyped": "system/*.cruds", "force": "system/*.cruds", "council": "system/*.cruds",
          "trust": "system/*.cruds"}
MAPPINGS = SAMPLES.parents[1]
Json = dict[str, Any]


@dataclass
class World:
    server: str
    admin: httpx.Client
    agency: dict[str, Agency]

    def post(self, who: str, body: bytes, headers: dict[str, str] = CSV,
             agency: str = "connexions", **params: str) -> httpx.Response:
        return self.agency[who].http.post(f"{self.server}/agencies/{agency}/records",
                                          content=body, headers=headers, params=params)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.fixture(scope="module")
def world(settings: Settings, server_url: str, fhir_url: str,
          admin_auth: SmartBackendAuth) -> Iterator[World]:
    suffix = uuid.uuid4().hex[:8]
    with agencies(settings, server_url, suffix, SCOPES) as made, \
            httpx.Client(base_url=fhir_url, auth=admin_auth, timeout=60) as admin:
        for name, kind in (("connexions", "connexions"), ("school", "education"),
                           ("force", "police"), ("council", "social-care"),
                           ("trust", "health")):
            org_id = made[name].org.removeprefix("Organization/")
            admin.put(f"/Organization/{org_id}", json={
                "resourceType": "Organization", "id": org_id, "name": f"{name} {suffix}",
                "meta": {"profile": ["https://cradle.example/fhir/StructureDefinition/Agency"]},
                "type": [{"coding": [{"system": AGENCY_TYPE, "code": kind}]}]},
            ).raise_for_status()
        yield World(server_url, admin, made)


def records(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Parameters"
    out = []
    for parameter in body["parameter"]:
        parts: dict[str, Any] = {}
        for part in parameter["part"]:
            value = part.get("resource") or part.get("valueReference", {}).get("reference") \
                or part.get("valueString") or part.get("valueCode")
            parts.setdefault(part["name"], []).append(value)
        out.append(parts)
    return out


def test_a_row_is_mapped_stored_and_carries_provenance(world: World) -> None:
    [record] = records(world.post("connexions", sample(
        "ccis-2503-kacper-nowak-apprenticeship.csv")))
    assert record["outcome"] == ["stored"]
    stored = record.get("created", []) + record.get("updated", [])
    patient = next(r for r in stored if r.startswith("Patient/"))
    observation = next(r for r in stored if r.startswith("Observation/"))
    body = world.admin.get(f"/{observation}").json()
    assert body["subject"]["reference"] == patient
    provenance = world.admin.get("/Provenance", params={"target": observation}).json()
    [entry] = provenance["entry"]
    assert entry["resource"]["policy"] == ["https://cradle.example/fhir/mappings/connexions|1.0.1"]
    what = entry["resource"]["entity"][0]["what"]
    assert what["identifier"]["system"] == "https://cradle.example/fhir/Id/native-record-sha256"
    assert len(what["identifier"]["value"]) == 64
    assert "line 2" in what["display"]


def test_resending_updates_and_never_duplicates(world: World) -> None:
    body = sample("ccis-2503-tyler-brennan-neet-seeking.csv")
    first = records(world.post("connexions", body))[0]
    again = records(world.post("connexions", body))[0]
    assert not again.get("created")
    assert sorted(again["updated"]) == sorted(first.get("created", []) + first.get("updated", []))
    found = world.admin.get("/Patient", params={
        "identifier": "https://cradle.example/fhir/Id/ccis-id|2010000040039"}).json()
    assert found["total"] == 1


def test_a_bad_row_is_rejected_and_its_neighbours_stored(world: World) -> None:
    good = sample("ccis-2503-reuben-missing-optional.csv").decode().splitlines()
    bad = sample("ccis-2503-bad-nhs-number.csv").decode().splitlines()
    body = "\r\n".join([good[0], good[1], bad[1]]).encode()
    first, second = records(world.post("connexions", body))
    assert first["outcome"] == ["stored"]
    assert second["outcome"] == ["rejected"]
    issues = second["issues"][0]["issue"]
    error = next(i for i in issues if i["severity"] == "error")
    assert error["location"] == ["line 3, column 7 (NHSNumber)"]
    assert error["expression"][0].startswith("Patient.identifier")


def test_all_rejected_is_422_with_native_places(world: World) -> None:
    response = world.post("connexions", sample("ccis-2503-iso-dob-schema-reject.csv"))
    assert response.status_code == 422
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert any(i.get("location") == ["line 2, column 10 (DOB)"] for i in outcome["issue"])


def test_dry_run_stores_nothing(world: World) -> None:
    body = sample("ccis-2504-unknown-activity-code.csv").replace(b"2010000040091",
                                                                 b"2010000049999")
    [record] = records(world.post("connexions", body, **{"dry-run": "true"}))
    assert record["outcome"] == ["would-store"]
    assert {r["resourceType"] for r in record["resource"]} >= {"Patient", "Observation"}
    assert any("575" in i["diagnostics"] for i in record["issues"][0]["issue"])
    found = world.admin.get("/Patient", params={
        "identifier": "https://cradle.example/fhir/Id/ccis-id|2010000049999"}).json()
    assert found["total"] == 0


def test_only_that_agencys_clients_may_post(world: World) -> None:
    body = sample("ccis-2503-kacper-nowak-apprenticeship.csv")
    for who in ("school", "untyped"):
        response = world.post(who, body)
        assert response.status_code == 403, response.text
        assert response.json()["resourceType"] == "OperationOutcome"
    response = world.admin.post(f"{world.server}/agencies/connexions/records", content=body,
                                headers=CSV)
    assert response.status_code == 403


def test_bad_content_gets_an_operation_outcome(world: World) -> None:
    response = world.post("connexions", b"x", headers={"Content-Type": "application/json"})
    assert response.status_code == 415
    response = world.post("connexions", b'a,"b\n1,2')
    assert response.status_code in (400, 422)
    assert response.json()["resourceType"] == "OperationOutcome"
    response = world.post("connexions", b"", agency="no-such-agency")
    assert response.status_code == 404


def test_the_same_child_from_another_agency_is_not_duplicated(world: World) -> None:
    school = world.agency["school"].http
    created = school.post("/Patient", json={
        "resourceType": "Patient",
        "meta": {"profile": ["https://cradle.example/fhir/StructureDefinition/Child"]},
        "identifier": [{"system": "https://cradle.example/fhir/Id/upn",
                        "value": "V201101411003"},
                       {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "7111868293"}],
        "name": [{"family": "Hussain", "given": ["Zara"]}], "birthDate": "2011-07-23"},
        headers={"Content-Type": "application/fhir+json"})
    assert created.status_code == 201, created.text
    child = f"Patient/{created.json()['id']}"
    [record] = records(world.post("connexions", sample(
        "ccis-2503-zahra-husain-same-child.csv")))
    stored = record.get("created", []) + record.get("updated", [])
    assert not [r for r in stored if r.startswith("Patient/")]
    observation = next(r for r in stored if r.startswith("Observation/"))
    assert world.admin.get(f"/{observation}").json()["subject"]["reference"] == child


def test_a_child_is_read_back_in_the_agencys_format(world: World) -> None:
    [record] = records(world.post("connexions", sample(
        "ccis-2503-kacper-nowak-apprenticeship.csv")))
    patient = next(r for r in record.get("created", []) + record.get("updated", [])
                   if r.startswith("Patient/"))
    http = world.agency["connexions"].http
    response = http.get(f"{world.server}/agencies/connexions/children/{patient.split('/')[1]}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    header, row = response.text.splitlines()[:2]
    assert header.startswith("YoungPersonsID,")
    assert "Nowak" in row and "310" in row
    response = http.get(f"{world.server}/agencies/connexions/children", params={
        "identifier": "https://cradle.example/fhir/Id/ccis-id|2010000040091"})
    assert response.status_code == 200, response.text
    assert "Nowak" in response.text
    other = world.agency["school"].http.get(
        f"{world.server}/agencies/connexions/children/{patient.split('/')[1]}")
    assert other.status_code == 403


@pytest.mark.parametrize(("who", "agency", "file", "media"), [
    ("force", "police", "p-01-okafor-ppn-domestic-abuse-high.xml", "application/xml"),
    ("council", "social-care", "sc-01-okafor-cp-plan.json", "application/json"),
    ("school", "education", "census-spr25-mill-lane-amelia-okafor.xml", "application/xml"),
])
def test_each_agency_posts_and_reads_back_natively(world: World, who: str, agency: str,
                                                   file: str, media: str) -> None:
    body = (MAPPINGS / agency / "samples" / file).read_bytes()
    found = records(world.post(who, body, headers={"Content-Type": media}, agency=agency))
    assert all(r["outcome"] == ["stored"] for r in found), found
    stored = [ref for r in found for ref in r.get("created", []) + r.get("updated", [])]
    children = [ref for ref in stored if ref.startswith("Patient/")]
    child = children[0] if children else next(
        world.admin.get(f"/{ref}").json()["subject"]["reference"] for ref in stored
        if ref.startswith(("Flag/", "ServiceRequest/")))
    response = world.agency[who].http.get(
        f"{world.server}/agencies/{agency}/children/{child.split('/')[1]}")
    assert response.status_code == 200, response.text
    assert world.agency[who].http.get(  # another agency's format is not this client's
        f"{world.server}/agencies/connexions/children/{child.split('/')[1]}").status_code == 403


def test_a_large_extract_is_stored_a_chunk_at_a_time(world: World) -> None:
    lines = extract(450, 500_000)  # three chunks of 200, 200, 50 rows
    bad = lines[250].split(",")
    bad[6] = "1234567890"  # fails Modulus 11: only this row is rejected
    lines[250] = ",".join(bad)
    found = records(world.post("connexions", "\r\n".join(lines).encode()))
    assert len(found) == 450
    assert [r["location"][0] for r in found[:2]] == ["line 2", "line 3"]
    rejected = [r for r in found if r["outcome"] == ["rejected"]]
    assert [r["location"] for r in rejected] == [["line 251"]]
    total = world.admin.get("/Patient", params={
        "identifier": ",".join(f"https://cradle.example/fhir/Id/ccis-id|20190{n:08d}"
                               for n in (500_000, 500_200, 500_449)), "_summary": "count"})
    assert total.json()["total"] == 3


def test_content_that_breaks_part_way_keeps_what_came_before(world: World) -> None:
    lines = extract(250, 600_000)
    body = "\r\n".join(lines).encode() + b'\r\n"unterminated,quote\r\n'
    found = records(world.post("connexions", body))
    assert sum(r["outcome"] == ["stored"] for r in found) == 250
    assert found[-1]["outcome"] == ["rejected"]
    assert "cannot be read" in found[-1]["issues"][0]["issue"][0]["diagnostics"]


def test_an_hl7_batch_file_is_one_record_per_message(world: World) -> None:
    health = SAMPLES.parents[1] / "health" / "samples"
    messages = [(health / name).read_bytes().strip()
                for name in ("adt-a28-amelia-okafor.hl7", "adt-a31-kacper-nowak-zsegments.hl7")]
    batch = b"\r".join([b"FHS|^~\\&|PAS|R9Z", b"BHS|^~\\&|PAS|R9Z", *messages,
                        b"BTS|2", b"FTS|1"]) + b"\r"
    found = records(world.post("trust", batch, headers={"Content-Type": "application/hl7-v2"},
                               agency="health", **{"dry-run": "true"}))
    assert [r["outcome"] for r in found] == [["would-store"], ["would-store"]]
    assert [r["key"] for r in found] == [["7149709400"], ["1510590692"]]


def test_agency_concept_maps_are_served_by_translate(world: World) -> None:
    concept_map = "https://cradle.example/fhir/ConceptMap/connexions-gender-to-fhir-gender"
    forward = world.admin.get("/ConceptMap/$translate", params={
        "url": concept_map, "system": "https://cradle.example/fhir/CodeSystem/connexions-gender",
        "code": "W"}).json()
    parts = {p["name"]: p for p in forward["parameter"]}
    assert parts["result"]["valueBoolean"] is True
    match = next(p for p in forward["parameter"] if p["name"] == "match")
    concept = next(x for x in match["part"] if x["name"] == "concept")["valueCoding"]
    assert concept["code"] == "unknown"
    back = world.admin.get("/ConceptMap/$translate", params={
        "url": concept_map, "system": "http://hl7.org/fhir/administrative-gender",
        "code": "female", "reverse": "true"}).json()
    codes = [x["valueCoding"]["code"] for p in back["parameter"] if p["name"] == "match"
             for x in p["part"] if x["name"] == "concept"]
    assert codes == ["F"]
    unmapped = world.admin.get("/ConceptMap/$translate", params={
        "url": concept_map, "system": "https://cradle.example/fhir/CodeSystem/connexions-gender",
        "code": "Q"}).json()
    assert next(p for p in unmapped["parameter"] if p["name"] == "result")["valueBoolean"] \
        is False
