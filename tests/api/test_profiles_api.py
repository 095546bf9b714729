"""Profiles over HTTP: served as resources, enforced on writes, and the terminology and
profile operations ($expand, $validate-code, $lookup, $translate, $snapshot, $validate)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from server.api.app import create_app
from server.config import Settings
from server.store.embedded import EmbeddedDatabase, free_port
from tests.auth import SmartBackendAuth
from tests.builders import patient
from tests.servers import running

EXAMPLES = Path(__file__).resolve().parents[2] / "profiles" / "examples"
BASE = "https://cradle.example/fhir"
CHILD = f"{BASE}/StructureDefinition/Child"


def example(profile: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads((EXAMPLES / profile / name).read_bytes())
    body.pop("id", None)
    return body


@pytest.fixture(scope="module")
def enforced(database: EmbeddedDatabase, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[httpx.Client]:
    """A second server (own database, same SecantusDB) with profile enforcement on, the
    default."""
    settings = Settings(mongo_uri=database.uri, database="cradle_enforced",
                        data_dir=tmp_path_factory.mktemp("enforced"),
                        port=free_port(), log_level="warning")
    assert settings.enforce_profiles
    with running(create_app(settings), settings.port) as url:
        auth = SmartBackendAuth.from_credentials_file(url, settings.admin_credentials_file)
        with httpx.Client(base_url=f"{url}/fhir", timeout=60, auth=auth) as client:
            yield client


def test_builtin_profiles_are_served_as_resources(enforced: httpx.Client) -> None:
    found = enforced.get("/StructureDefinition", params={"url": CHILD}).json()
    assert found["total"] == 1
    child = found["entry"][0]["resource"]
    assert child["status"] in ("draft", "active") and child["version"]
    assert child["snapshot"]["element"][0]["path"] == "Patient"
    assert enforced.get("/CodeSystem", params={"url": f"{BASE}/CodeSystem/dfe-cin-primary-need"}
                        ).json()["total"] == 1


def test_writes_must_conform_to_the_required_profile(enforced: httpx.Client) -> None:
    plain = enforced.post("/Patient", json=patient("enforced"))
    assert plain.status_code == 422
    expressions = [e for i in plain.json()["issue"] for e in i.get("expression", [])]
    assert expressions, plain.text
    child = enforced.post("/Patient", json=example("Child", "valid/unborn-child.json"))
    assert child.status_code == 201, child.text
    bad = example("Child", "invalid/" + next(
        p.name for p in (EXAMPLES / "Child/invalid").glob("*nhs*") if not
        p.name.endswith(".expect.json")))
    assert enforced.post("/Patient", json=bad).status_code == 422
    concern = enforced.post("/Flag", json=example("Concern", "valid/cp-plan-neglect-red.json"))
    assert concern.status_code == 201, concern.text


def test_expand_with_filter_and_paging(enforced: httpx.Client) -> None:
    url = f"{BASE}/ValueSet/dfe-cin-category-of-abuse"
    full = enforced.get("/ValueSet/$expand", params={"url": url}).json()
    codes = {c["code"] for c in full["expansion"]["contains"]}
    assert {"NEG", "PHY", "SAB", "EMO", "MUL"} <= codes
    neglect = enforced.get("/ValueSet/$expand", params={"url": url, "filter": "negl"}).json()
    assert [c["code"] for c in neglect["expansion"]["contains"]] == ["NEG"]
    page = enforced.get("/ValueSet/$expand", params={"url": url, "count": 2, "offset": 1}).json()
    assert len(page["expansion"]["contains"]) == 2
    assert enforced.get("/ValueSet/$expand", params={"url": f"{BASE}/ValueSet/nope"}
                        ).status_code == 404


def test_validate_code_and_lookup(enforced: httpx.Client) -> None:
    url = f"{BASE}/ValueSet/dfe-cin-primary-need"
    system = f"{BASE}/CodeSystem/dfe-cin-primary-need"

    def result(params: dict[str, str]) -> dict[str, Any]:
        body = enforced.get("/ValueSet/$validate-code", params=params).json()
        return {p["name"]: next(v for k, v in p.items() if k.startswith("value"))
                for p in body["parameter"]}

    assert result({"url": url, "code": "N1", "system": system})["result"] is True
    assert result({"url": url, "code": "N99", "system": system})["result"] is False
    looked = enforced.get("/CodeSystem/$lookup", params={"system": system, "code": "N0"}).json()
    parts = {p["name"]: p for p in looked["parameter"]}
    assert parts["display"]["valueString"]
    missing = enforced.get("/CodeSystem/$lookup", params={"system": system, "code": "ZZ"})
    assert missing.status_code == 404


def test_translate_forward_and_reverse(enforced: httpx.Client) -> None:
    url = f"{BASE}/ConceptMap/dfe-ethnicity-to-nhs"
    forward = enforced.get("/ConceptMap/$translate", params={
        "url": url, "code": "WBRI", "system": f"{BASE}/CodeSystem/dfe-ethnicity"}).json()
    result = {p["name"]: p for p in forward["parameter"]}
    assert result["result"]["valueBoolean"] is True
    match = next(p for p in forward["parameter"] if p["name"] == "match")
    concept = next(part for part in match["part"] if part["name"] == "concept")
    assert concept["valueCoding"]["code"] == "A"


def test_snapshot_operation(enforced: httpx.Client) -> None:
    differential = {
        "resourceType": "StructureDefinition", "url": f"{BASE}/StructureDefinition/Tiny",
        "name": "Tiny", "status": "draft", "kind": "resource", "abstract": False,
        "type": "Patient", "derivation": "constraint",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "differential": {"element": [{"id": "Patient.gender", "path": "Patient.gender",
                                      "min": 1}]},
    }
    response = enforced.post("/StructureDefinition/$snapshot", json={
        "resourceType": "Parameters", "parameter": [{"name": "definition",
                                                     "resource": differential}]})
    assert response.status_code == 200, response.text
    gender = next(e for e in response.json()["snapshot"]["element"]
                  if e["id"] == "Patient.gender")
    assert gender["min"] == 1
    loosened = copy.deepcopy(differential)
    loosened["differential"]["element"][0].update(min=0, max="*")
    bad = enforced.post("/StructureDefinition/$snapshot", json=loosened)
    assert bad.status_code == 400
    assert bad.json()["issue"][0]["expression"] == ["Patient.gender"]


def test_publishing_a_draft_profile_and_rechecking_stored_records(
        enforced: httpx.Client) -> None:
    child = enforced.get("/StructureDefinition", params={"url": CHILD}).json()["entry"][0]
    draft = copy.deepcopy(child["resource"])
    draft.pop("snapshot")
    draft.pop("meta", None)
    draft.update(id="Child-draft", version="9.0.0", status="draft")
    draft["differential"]["element"].append(
        {"id": "Patient.telecom", "path": "Patient.telecom", "min": 1})
    stored = enforced.post("/StructureDefinition", json=draft)
    assert stored.status_code == 201, stored.text
    assert stored.json()["snapshot"]["element"]
    # The active version still governs writes; the draft only answers when named.
    assert enforced.post("/Patient", json=example("Child", "valid/unborn-child.json")
                         ).status_code == 201
    report = enforced.get("/Patient/$validate", params={"profile": f"{CHILD}|9.0.0"}).json()
    summary = report["issue"][0]["diagnostics"]
    assert summary.startswith("Checked ") and " 0 fail" not in summary, summary
    current = enforced.get("/Patient/$validate", params={"profile": CHILD}).json()
    assert current["issue"][0]["diagnostics"].endswith(" 0 fail"), current


def test_profile_search_parameters(enforced: httpx.Client) -> None:
    concern = enforced.post("/Flag", json=example("Concern", "valid/cp-plan-neglect-red.json"))
    assert concern.status_code == 201, concern.text
    flag_id = concern.json()["id"]
    system = f"{BASE}/CodeSystem/dfe-cin-category-of-abuse"
    by_category = enforced.get("/Flag", params={"category": f"{system}|NEG"}).json()
    assert flag_id in {e["resource"]["id"] for e in by_category["entry"]}
    by_priority = enforced.get("/Flag", params={"priority": "Red"}).json()
    assert flag_id in {e["resource"]["id"] for e in by_priority["entry"]}
    assert enforced.get("/Flag", params={"priority": "Green"}).json()["total"] == 0
    cs = enforced.get("/metadata").json()
    flag = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Flag")
    assert {"category", "priority"} <= {p["name"] for p in flag["searchParam"]}


def test_a_new_search_parameter_indexes_what_is_stored(enforced: httpx.Client) -> None:
    concern = enforced.post("/Flag", json=example("Concern", "valid/cp-plan-neglect-red.json"))
    assert concern.status_code == 201, concern.text
    flag_id = concern.json()["id"]
    lapse = next(e["valueDateTime"] for e in concern.json()["extension"]
                 if e["url"].endswith("Extension-LapseDate"))
    parameter = {
        "resourceType": "SearchParameter", "url": f"{BASE}/SearchParameter/test-lapse",
        "name": "TestLapse", "status": "active", "description": "test", "code": "test-lapse",
        "base": ["Flag"], "type": "date",
        "expression": "Flag.extension.where(url='"
                      f"{BASE}/StructureDefinition/Extension-LapseDate').value"}
    assert enforced.post("/SearchParameter", json=parameter).status_code == 201
    found = enforced.get("/Flag", params={"test-lapse": lapse[:10]},
                         headers={"Prefer": "handling=strict"})
    assert found.status_code == 200, found.text
    assert flag_id in {e["resource"]["id"] for e in found.json()["entry"]}
