"""History at instance, type and system level: Bundles, paging, _since."""

from __future__ import annotations

import time

import httpx

from tests.builders import patient


def test_instance_history_lists_every_version_newest_first(client: httpx.Client,
                                                           tag: str) -> None:
    body = client.post("/Patient", json=patient(tag)).json()
    url = f"/Patient/{body['id']}"
    client.put(url, json={**body, "gender": "male"})
    client.delete(url)
    history = client.get(f"{url}/_history").json()
    assert history["resourceType"] == "Bundle" and history["type"] == "history"
    assert history["total"] == 3
    methods = [e["request"]["method"] for e in history["entry"]]
    assert methods == ["DELETE", "PUT", "POST"]
    assert [e["response"]["etag"] for e in history["entry"]] == ['W/"3"', 'W/"2"', 'W/"1"']
    assert "resource" not in history["entry"][0]
    assert history["entry"][1]["resource"]["gender"] == "male"


def test_history_paging_and_since(client: httpx.Client, tag: str) -> None:
    body = client.post("/Patient", json=patient(tag)).json()
    url = f"/Patient/{body['id']}"
    for gender in ("male", "female", "other", "unknown"):
        client.put(url, json={**body, "gender": gender})
    page = client.get(f"{url}/_history", params={"_count": 2}).json()
    assert page["total"] == 5 and len(page["entry"]) == 2
    links = {link["relation"]: link["url"] for link in page["link"]}
    seen = [e["response"]["etag"] for e in page["entry"]]
    while "next" in links:
        page = client.get(links["next"]).json()
        seen += [e["response"]["etag"] for e in page["entry"]]
        links = {link["relation"]: link["url"] for link in page["link"]}
    assert seen == [f'W/"{n}"' for n in range(5, 0, -1)]
    fifth = client.get(f"{url}/_history/5").json()["meta"]["lastUpdated"]
    since = client.get(f"{url}/_history", params={"_since": fifth}).json()
    assert since["total"] == 1


def test_type_and_system_history(client: httpx.Client, tag: str) -> None:
    before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    org = client.post("/Organization", json={"resourceType": "Organization",
                                             "name": tag}).json()
    pat = client.post("/Patient", json=patient(tag)).json()
    orgs = client.get("/Organization/_history", params={"_since": before, "_count": 1000}).json()
    assert org["id"] in {e["resource"]["id"] for e in orgs["entry"]}
    assert all(e["resource"]["resourceType"] == "Organization" for e in orgs["entry"])
    everything = client.get("/_history", params={"_since": before, "_count": 1000}).json()
    ids = {e["resource"]["id"] for e in everything["entry"] if "resource" in e}
    assert {org["id"], pat["id"]} <= ids
    # Merged across types (and the audit trail), newest first, and paged consistently.
    stamps = [e["resource"]["meta"]["lastUpdated"] for e in everything["entry"]
              if "resource" in e]
    assert stamps == sorted(stamps, reverse=True)
    assert everything["total"] == len(everything["entry"])
    # (A history read is audited: the next read has newer AuditEvents on top.)
    again = client.get("/_history", params={"_since": before, "_count": 1000}).json()
    assert [e["fullUrl"] for e in again["entry"] if "AuditEvent" not in e["fullUrl"]] == [
        e["fullUrl"] for e in everything["entry"] if "AuditEvent" not in e["fullUrl"]]


def test_bad_since_is_400(client: httpx.Client) -> None:
    response = client.get("/Patient/_history", params={"_since": "yesterday"})
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["_since"]
