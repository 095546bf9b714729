"""`$validate` at type and instance level, and re-checking stored records against a profile."""

from __future__ import annotations

import httpx

from tests.builders import patient


def issues(body: dict[str, object]) -> list[dict[str, object]]:
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"]  # type: ignore[return-value]


def test_type_level_validate_returns_issues_without_storing(client: httpx.Client,
                                                            tag: str) -> None:
    ok = client.post("/Patient/$validate", json=patient(tag))
    assert ok.status_code == 200
    assert [i["severity"] for i in issues(ok.json())] == ["information"]
    bad = client.post("/Patient/$validate", json=patient(tag, gender="robot"))
    assert bad.status_code == 200
    found = issues(bad.json())
    assert found[0]["severity"] == "error" and found[0]["expression"] == ["Patient.gender"]
    assert client.get("/Patient", params={"identifier": tag}).json()["total"] == 0


def test_parameters_body(client: httpx.Client, tag: str) -> None:
    body = {"resourceType": "Parameters",
            "parameter": [{"name": "resource", "resource": patient(tag, active="no")}]}
    found = issues(client.post("/Patient/$validate", json=body).json())
    assert found[0]["expression"] == ["Patient.active"]


def test_instance_level_validates_the_stored_resource(client: httpx.Client, tag: str) -> None:
    pid = client.post("/Patient", json=patient(tag)).json()["id"]
    response = client.get(f"/Patient/{pid}/$validate")
    assert response.status_code == 200
    assert issues(response.json())[0]["severity"] == "information"
    assert client.get("/Patient/nope/$validate").status_code == 404


def test_recheck_stored_records_against_a_profile(client: httpx.Client, tag: str) -> None:
    client.post("/Patient", json=patient(tag))
    response = client.get("/Patient/$validate",
                          params={"profile": "http://hl7.org/fhir/StructureDefinition/Patient"})
    summary = issues(response.json())[0]
    assert summary["severity"] == "information"
    assert "0 fail" in summary["diagnostics"]


def test_unknown_operation_is_404(client: httpx.Client) -> None:
    response = client.post("/Patient/$nonsense", json={"resourceType": "Parameters"})
    assert response.status_code == 404
    assert issues(response.json())[0]["code"] == "not-found"


def test_operations_are_in_the_capability_statement(client: httpx.Client) -> None:
    cs = client.get("/metadata").json()
    patient_entry = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Patient")
    assert {"name": "validate",
            "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"} \
        in patient_entry["operation"]
