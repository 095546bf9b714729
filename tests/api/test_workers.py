"""Stateless workers: a conformance resource stored through one server takes effect in another
server on the same database within a couple of seconds (no restart)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import httpx
import pytest

from server.api.app import create_app
from server.config import Settings
from server.store.embedded import free_port
from tests.auth import SmartBackendAuth
from tests.servers import running


@pytest.fixture(scope="module")
def second_worker(settings: Settings, server_url: str) -> Iterator[str]:
    """Another app process-equivalent on the same database as the session server."""
    other = dataclasses.replace(settings, port=free_port())
    with running(create_app(other), other.port) as url:
        yield f"{url}/fhir"


def test_a_value_set_stored_via_one_worker_expands_on_another(
        client: httpx.Client, second_worker: str, tag: str,
        admin_auth: SmartBackendAuth) -> None:
    url = f"https://cradle.example/fhir/ValueSet/test-{tag}"
    value_set = {"resourceType": "ValueSet", "url": url, "status": "active",
                 "compose": {"include": [{"system": "http://example.org/cs",
                                          "concept": [{"code": "a"}, {"code": "b"}]}]}}
    assert client.post("/ValueSet", json=value_set).status_code == 201
    deadline = time.monotonic() + 10
    while True:
        response = httpx.get(f"{second_worker}/ValueSet/$expand", params={"url": url},
                             auth=admin_auth)
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert response.status_code == 200, response.text
    assert {c["code"] for c in response.json()["expansion"]["contains"]} == {"a", "b"}
