"""Stateless workers: a conformance resource stored through one server takes effect in another
server on the same database within a couple of seconds (no restart)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from server.api.app import create_app
from server.config import Settings
from server.store.embedded import free_port


@pytest.fixture(scope="module")
def second_worker(settings: Settings, server_url: str) -> Iterator[str]:
    """Another app process-equivalent on the same database as the session server."""
    other = dataclasses.replace(settings, port=free_port())
    server = uvicorn.Server(uvicorn.Config(create_app(other), host="127.0.0.1",
                                           port=other.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{other.port}/fhir"
    server.should_exit = True
    thread.join(timeout=10)


def test_a_value_set_stored_via_one_worker_expands_on_another(
        client: httpx.Client, second_worker: str, tag: str) -> None:
    url = f"https://cradle.example/fhir/ValueSet/test-{tag}"
    value_set = {"resourceType": "ValueSet", "url": url, "status": "active",
                 "compose": {"include": [{"system": "http://example.org/cs",
                                          "concept": [{"code": "a"}, {"code": "b"}]}]}}
    assert client.post("/ValueSet", json=value_set).status_code == 201
    deadline = time.monotonic() + 10
    while True:
        response = httpx.get(f"{second_worker}/ValueSet/$expand", params={"url": url})
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert response.status_code == 200, response.text
    assert {c["code"] for c in response.json()["expansion"]["contains"]} == {"a", "b"}
