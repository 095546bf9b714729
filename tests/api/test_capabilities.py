"""The CapabilityStatement states what the server does, derived from its routes."""

from __future__ import annotations

import httpx

from server.interactions.capabilities import TYPE_INTERACTIONS


def test_metadata(client: httpx.Client) -> None:
    response = client.get("/metadata")
    assert response.status_code == 200
    cs = response.json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
    rest = cs["rest"][0]
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch", "history-system"}
    by_type = {r["type"]: r for r in rest["resource"]}
    assert len(by_type) >= 140 and "Patient" in by_type and "Flag" in by_type
    patient = by_type["Patient"]
    assert {i["code"] for i in patient["interaction"]} == set(TYPE_INTERACTIONS)
    params = {p["name"]: p["type"] for p in patient["searchParam"]}
    assert params["birthdate"] == "date" and params["identifier"] == "token"
    assert params["name"] == "string" and params["general-practitioner"] == "reference"


def test_every_stated_search_parameter_is_accepted(client: httpx.Client) -> None:
    cs = client.get("/metadata").json()
    for resource in cs["rest"][0]["resource"]:
        if resource["type"] not in ("Patient", "Observation", "Flag", "ServiceRequest"):
            continue
        for param in resource["searchParam"]:
            response = client.get(f"/{resource['type']}",
                                  params={f"{param['name']}:missing": "true"},
                                  headers={"Prefer": "handling=strict"})
            assert response.status_code == 200, (resource["type"], param["name"], response.text)
