"""Conditional create, update and delete."""

from __future__ import annotations

import httpx

from tests.builders import TEST_SYSTEM, patient


def test_conditional_create_returns_the_existing_match(client: httpx.Client, tag: str) -> None:
    condition = {"If-None-Exist": f"identifier={TEST_SYSTEM}|{tag}"}
    first = client.post("/Patient", json=patient(tag), headers=condition)
    assert first.status_code == 201
    second = client.post("/Patient", json=patient(tag), headers=condition)
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    found = client.get("/Patient", params={"identifier": f"{TEST_SYSTEM}|{tag}"}).json()
    assert found["total"] == 1


def test_conditional_create_with_several_matches_is_412(client: httpx.Client, tag: str) -> None:
    for _ in range(2):
        client.post("/Patient", json=patient(tag))
    response = client.post("/Patient", json=patient(tag),
                           headers={"If-None-Exist": f"identifier={TEST_SYSTEM}|{tag}"})
    assert response.status_code == 412


def test_conditional_update_creates_then_updates(client: httpx.Client, tag: str) -> None:
    url = f"/Patient?identifier={TEST_SYSTEM}|{tag}"
    created = client.put(url, json=patient(tag))
    assert created.status_code == 201, created.text
    updated = client.put(url, json=patient(tag, gender="male"))
    assert updated.status_code == 200
    assert updated.json()["id"] == created.json()["id"]
    assert updated.json()["meta"]["versionId"] == "2"


def test_conditional_delete(client: httpx.Client, tag: str) -> None:
    pid = client.post("/Patient", json=patient(tag)).json()["id"]
    response = client.delete(f"/Patient?identifier={TEST_SYSTEM}|{tag}")
    assert response.status_code == 204
    assert client.get(f"/Patient/{pid}").status_code == 410


def test_conditional_with_unknown_parameter_is_rejected(client: httpx.Client, tag: str) -> None:
    response = client.post("/Patient", json=patient(tag), headers={"If-None-Exist": "nonsense=1"})
    assert response.status_code == 400
