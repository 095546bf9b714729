"""Concurrent writers never lose a write: each either lands as its own version or gets 409/412."""

from __future__ import annotations

import asyncio

import httpx

from tests.auth import SmartBackendAuth
from tests.builders import TEST_SYSTEM, patient


def test_concurrent_updates_lose_nothing(fhir_url: str, tag: str,
                                         admin_auth: SmartBackendAuth) -> None:
    created = httpx.post(f"{fhir_url}/Patient", json=patient(tag), auth=admin_auth).json()
    url = f"{fhir_url}/Patient/{created['id']}"

    async def update(client: httpx.AsyncClient, n: int) -> int:
        body = {**created, "name": [{"family": f"Writer{n}"}]}
        return (await client.put(url, json=body)).status_code

    async def race() -> list[int]:
        async with httpx.AsyncClient(timeout=60, headers=admin_auth.headers) as client:
            return await asyncio.gather(*(update(client, n) for n in range(12)))

    statuses = asyncio.run(race())
    assert set(statuses) <= {200, 409}, statuses
    history = httpx.get(f"{url}/_history", params={"_count": 100}, auth=admin_auth).json()
    assert history["total"] == 1 + statuses.count(200)
    versions = sorted(int(e["resource"]["meta"]["versionId"]) for e in history["entry"])
    assert versions == list(range(1, history["total"] + 1))


def test_concurrent_if_match_lets_exactly_one_win(fhir_url: str, tag: str,
                                                  admin_auth: SmartBackendAuth) -> None:
    created = httpx.post(f"{fhir_url}/Patient", json=patient(tag), auth=admin_auth).json()
    url = f"{fhir_url}/Patient/{created['id']}"

    async def race() -> list[int]:
        async with httpx.AsyncClient(timeout=60, headers=admin_auth.headers) as client:
            calls = [client.put(url, json={**created, "gender": "male"},
                                headers={"If-Match": 'W/"1"'}) for _ in range(8)]
            return [r.status_code for r in await asyncio.gather(*calls)]

    statuses = asyncio.run(race())
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 409, 412}
    assert httpx.get(url, auth=admin_auth).json()["meta"]["versionId"] == "2"


def test_concurrent_transactions_all_commit(fhir_url: str, tag: str,
                                            admin_auth: SmartBackendAuth) -> None:
    """Audited transactions share index keys (same agency, same moment): the server retries
    the database's transient conflicts instead of failing the client's Bundle."""
    def bundle(n: int) -> dict[str, object]:
        return {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": f"urn:uuid:{n:08d}-0000-4000-8000-{i:012d}", "resource": patient(tag),
             "request": {"method": "POST", "url": "Patient"}} for i in range(5)]}

    async def post_all() -> list[int]:
        async with httpx.AsyncClient(timeout=60, headers=admin_auth.headers) as client:
            replies = await asyncio.gather(*(client.post(fhir_url, json=bundle(n))
                                             for n in range(12)))
        return [r.status_code for r in replies]

    assert asyncio.run(post_all()) == [200] * 12
    found = httpx.get(f"{fhir_url}/Patient", params={"identifier": f"{TEST_SYSTEM}|{tag}",
                                                     "_summary": "count"}, auth=admin_auth)
    assert found.json()["total"] == 60
