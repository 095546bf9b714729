"""Batch and transaction Bundles: atomicity, urn:uuid rewriting, conditionals, order."""

from __future__ import annotations

import uuid

import httpx

from tests.builders import TEST_SYSTEM, observation, patient


def transaction(*entries: dict[str, object], kind: str = "transaction") -> dict[str, object]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(resource: dict[str, object], full_url: str | None = None,
         **request: str) -> dict[str, object]:
    entry: dict[str, object] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def test_transaction_rewrites_urn_uuid_references(client: httpx.Client, tag: str) -> None:
    urn = f"urn:uuid:{uuid.uuid4()}"
    bundle = transaction(post(observation(tag, urn)), post(patient(tag), urn))
    response = client.post("", json=bundle)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    obs_location = result["entry"][0]["response"]["location"]
    pat_location = result["entry"][1]["response"]["location"]
    obs = client.get("/" + obs_location.split("/_history")[0]).json()
    assert obs["subject"]["reference"] == pat_location.split("/_history")[0]


def test_transaction_is_all_or_nothing(client: httpx.Client, tag: str) -> None:
    bad = patient(tag, gender="not-a-gender")
    response = client.post("", json=transaction(post(patient(tag)), post(bad)))
    assert response.status_code == 422
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["Bundle.entry[1].resource.gender"]
    assert client.get("/Patient", params={"identifier": tag}).json()["total"] == 0


def test_transaction_rolls_back_database_writes(client: httpx.Client, tag: str) -> None:
    existing = client.post("/Patient", json=patient(tag)).json()
    stale = {"resource": {**existing, "gender": "male"},
             "request": {"method": "PUT", "url": f"Patient/{existing['id']}",
                         "ifMatch": 'W/"7"'}}
    response = client.post("", json=transaction(post(patient(tag)), stale))
    assert response.status_code == 412
    assert client.get("/Patient", params={"identifier": tag}).json()["total"] == 1
    assert client.get(f"/Patient/{existing['id']}").json()["gender"] == "female"


def test_transaction_conditional_create_and_order(client: httpx.Client, tag: str) -> None:
    existing = client.post("/Patient", json=patient(tag)).json()
    doomed = client.post("/Patient", json=patient(f"{tag}-2")).json()
    urn = f"urn:uuid:{uuid.uuid4()}"
    bundle = transaction(
        {"request": {"method": "GET", "url": f"Patient?identifier={tag}"}},
        post(observation(tag, urn)),
        post(patient(tag), urn, ifNoneExist=f"identifier={TEST_SYSTEM}|{tag}"),
        {"request": {"method": "DELETE", "url": f"Patient/{doomed['id']}"}},
    )
    result = client.post("", json=bundle).json()
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == ["200 OK", "201 Created", "200 OK", "204 No Content"]
    obs_ref = result["entry"][1]["response"]["location"].split("/_history")[0]
    assert client.get(f"/{obs_ref}").json()["subject"]["reference"] == f"Patient/{existing['id']}"
    assert client.get(f"/Patient/{doomed['id']}").status_code == 410
    assert result["entry"][0]["resource"]["total"] == 1


def test_batch_entries_succeed_or_fail_alone(client: httpx.Client, tag: str) -> None:
    bundle = transaction(post(patient(tag)), post(patient(tag, gender="bad")),
                         {"request": {"method": "GET", "url": "Patient/does-not-exist"}},
                         kind="batch")
    result = client.post("", json=bundle).json()
    assert result["type"] == "batch-response"
    statuses = [e["response"]["status"].split()[0] for e in result["entry"]]
    assert statuses == ["201", "422", "404"]
    assert result["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert client.get("/Patient", params={"identifier": tag}).json()["total"] == 1


def test_not_a_batch_is_400(client: httpx.Client) -> None:
    response = client.post("", json={"resourceType": "Bundle", "type": "collection"})
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Bundle.type"]


def test_duplicate_targets_are_rejected(client: httpx.Client, tag: str) -> None:
    body = {**patient(tag), "id": f"dup-{tag}"}
    entry = {"resource": body, "request": {"method": "PUT", "url": f"Patient/dup-{tag}"}}
    response = client.post("", json=transaction(entry, entry))
    assert response.status_code == 400
    assert client.get(f"/Patient/dup-{tag}").status_code == 404
