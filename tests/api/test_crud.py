"""create / read / vread / update / delete over HTTP, with versions and headers."""

from __future__ import annotations

import httpx

from tests.builders import patient


def create(client: httpx.Client, body: dict[str, object], **headers: str) -> httpx.Response:
    response = client.post(f"/{body['resourceType']}", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response


def test_create_assigns_id_version_and_headers(client: httpx.Client, tag: str) -> None:
    response = create(client, {**patient(tag), "id": "client-chosen"})
    body = response.json()
    assert body["id"] != "client-chosen"
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith("Z")
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Location"].endswith(f"/fhir/Patient/{body['id']}/_history/1")
    assert "Last-Modified" in response.headers
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    assert body["name"] == [{"family": "Smith", "given": ["Amelia"]}]


def test_read_returns_what_was_stored(client: httpx.Client, tag: str) -> None:
    created = create(client, patient(tag)).json()
    read = client.get(f"/Patient/{created['id']}")
    assert read.status_code == 200
    assert read.json() == created
    assert read.headers["ETag"] == 'W/"1"'


def test_update_makes_a_new_version_and_vread_keeps_the_old(client: httpx.Client,
                                                            tag: str) -> None:
    created = create(client, patient(tag)).json()
    changed = {**created, "gender": "male"}
    updated = client.put(f"/Patient/{created['id']}", json=changed)
    assert updated.status_code == 200, updated.text
    assert updated.json()["meta"]["versionId"] == "2"
    assert updated.headers["ETag"] == 'W/"2"'
    old = client.get(f"/Patient/{created['id']}/_history/1")
    assert old.status_code == 200 and old.json()["gender"] == "female"
    assert client.get(f"/Patient/{created['id']}").json()["gender"] == "male"
    assert client.get(f"/Patient/{created['id']}/_history/3").status_code == 404


def test_update_as_create_uses_the_client_id(client: httpx.Client, tag: str) -> None:
    response = client.put(f"/Patient/pt-{tag}", json={**patient(tag), "id": f"pt-{tag}"})
    assert response.status_code == 201, response.text
    assert response.json()["id"] == f"pt-{tag}"
    assert client.get(f"/Patient/pt-{tag}").status_code == 200


def test_update_needs_matching_id(client: httpx.Client, tag: str) -> None:
    missing = client.put(f"/Patient/pt-{tag}", json=patient(tag))
    assert missing.status_code == 400
    assert missing.json()["issue"][0]["expression"] == ["Patient.id"]
    other = client.put(f"/Patient/pt-{tag}", json={**patient(tag), "id": "other"})
    assert other.status_code == 400


def test_delete_is_a_versioned_tombstone(client: httpx.Client, tag: str) -> None:
    created = create(client, patient(tag)).json()
    pid = created["id"]
    deleted = client.delete(f"/Patient/{pid}")
    assert deleted.status_code == 204
    gone = client.get(f"/Patient/{pid}")
    assert gone.status_code == 410
    assert gone.json()["resourceType"] == "OperationOutcome"
    assert client.get(f"/Patient/{pid}/_history/1").status_code == 200
    assert client.get(f"/Patient/{pid}/_history/2").status_code == 410
    again = client.delete(f"/Patient/{pid}")
    assert again.status_code == 200
    revived = client.put(f"/Patient/{pid}", json=created)
    assert revived.status_code == 201
    assert revived.json()["meta"]["versionId"] == "3"


def test_delete_unknown_is_404(client: httpx.Client, tag: str) -> None:
    assert client.delete(f"/Patient/never-{tag}").status_code == 404


def test_if_match_optimistic_locking(client: httpx.Client, tag: str) -> None:
    created = create(client, patient(tag)).json()
    url = f"/Patient/{created['id']}"
    ok = client.put(url, json=created, headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 200
    stale = client.put(url, json=created, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    assert client.get(url).json()["meta"]["versionId"] == "2"


def test_prefer_return(client: httpx.Client, tag: str) -> None:
    minimal = client.post("/Patient", json=patient(tag), headers={"Prefer": "return=minimal"})
    assert minimal.status_code == 201 and minimal.content == b""
    assert minimal.headers["Location"]
    outcome = client.post("/Patient", json=patient(tag),
                          headers={"Prefer": "return=OperationOutcome"})
    assert outcome.status_code == 201
    assert outcome.json()["resourceType"] == "OperationOutcome"
    full = client.post("/Patient", json=patient(tag),
                       headers={"Prefer": "return=representation"})
    assert full.json()["resourceType"] == "Patient"


def test_json_patch(client: httpx.Client, tag: str) -> None:
    created = create(client, patient(tag)).json()
    url = f"/Patient/{created['id']}"
    ops = [{"op": "replace", "path": "/gender", "value": "other"},
           {"op": "add", "path": "/active", "value": True}]
    patched = client.patch(url, json=ops, headers={"Content-Type": "application/json-patch+json"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["gender"] == "other" and patched.json()["active"] is True
    assert patched.json()["meta"]["versionId"] == "2"
    bad = client.patch(url, json=[{"op": "replace", "path": "/gender", "value": "nope"}],
                       headers={"Content-Type": "application/json-patch+json"})
    assert bad.status_code == 422
    assert bad.json()["issue"][0]["expression"] == ["Patient.gender"]
    stale = client.patch(url, json=ops, headers={"Content-Type": "application/json-patch+json",
                                                 "If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert client.get(url).json()["meta"]["versionId"] == "2"


def test_any_resource_type(client: httpx.Client, tag: str) -> None:
    org = create(client, {"resourceType": "Organization", "name": f"School {tag}"}).json()
    flag = create(client, {
        "resourceType": "Flag", "status": "active",
        "code": {"text": "Concern"}, "subject": {"reference": f"Organization/{org['id']}"},
    }).json()
    assert client.get(f"/Flag/{flag['id']}").json()["code"] == {"text": "Concern"}
