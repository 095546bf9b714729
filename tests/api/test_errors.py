"""Every error is an OperationOutcome with the right status; nothing bad is stored."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI

from tests.builders import patient


def outcome(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"]
    return body


def test_unknown_type_is_404(client: httpx.Client) -> None:
    outcome(client.get("/Nonsense/1"), 404)
    outcome(client.post("/Nonsense", json={"resourceType": "Nonsense"}), 404)


def test_unknown_url_is_404(client: httpx.Client) -> None:
    outcome(client.get("/Patient/1/2/3/4/5"), 404)


def test_unsupported_method_is_405(client: httpx.Client) -> None:
    outcome(client.post("/Patient/123", json=patient("x")), 405)


def test_wrong_content_type_is_415(client: httpx.Client, tag: str) -> None:
    response = client.post("/Patient", content=b"<Patient/>",
                           headers={"Content-Type": "application/xml"})
    outcome(response, 415)


def test_malformed_json_is_400(client: httpx.Client) -> None:
    outcome(client.post("/Patient", content=b'{"resourceType": "Patient",'), 400)
    outcome(client.post("/Patient", content=b"[1, 2]"), 400)


def test_body_over_the_limit_is_413(client: httpx.Client, tag: str) -> None:
    big = patient(tag, text={"status": "generated",
                             "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">"
                                    + "x" * 300_000 + "</div>"})
    outcome(client.post("/Patient", json=big), 413)


def test_type_mismatch_is_400(client: httpx.Client) -> None:
    body = outcome(client.post("/Patient", json={"resourceType": "Observation"}), 400)
    assert body["issue"][0]["diagnostics"]


def test_invalid_resources_are_rejected_with_expressions(client: httpx.Client, tag: str) -> None:
    cases = [
        (patient(tag, gender="yes"), "Patient.gender"),
        (patient(tag, active="yes"), "Patient.active"),
        (patient(tag, birthDate="2015-02-30"), "Patient.birthDate"),
        (patient(tag, favouriteColour="blue"), "Patient.favouriteColour"),
        (patient(tag, name={"family": "Smith"}), "Patient.name"),
        ({"resourceType": "Observation", "code": {"text": "x"}}, "Observation.status"),
    ]
    for body, expression in cases:
        response = client.post(f"/{body['resourceType']}", json=body)
        result = outcome(response, 422)
        expressions = [e for issue in result["issue"] for e in issue.get("expression", [])]
        assert expression in expressions, (expression, result)
    found = client.get("/Patient", params={"identifier": tag}).json()
    assert found["total"] == 0


def test_server_errors_are_operation_outcomes_without_traces(client: httpx.Client) -> None:
    response = client.get("/Patient", params={"birthdate": "not-a-date"})
    body = outcome(response, 400)
    assert "Traceback" not in response.text and body


def test_unexpected_failures_are_500_outcomes_and_logged(
        client: httpx.Client, app: FastAPI, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(app.state.services.store, "read", broken)
    with caplog.at_level(logging.ERROR, logger="cradle.api"):
        response = client.get("/Patient/anything")
    body = outcome(response, 500)
    assert "disk on fire" not in response.text and "Traceback" not in response.text
    assert body["issue"][0]["code"] == "exception"
    assert "disk on fire" in caplog.text


def test_health(server_url: str) -> None:
    assert httpx.get(f"{server_url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server_url}/readyz").status_code == 200
    assert httpx.get(f"{server_url}/docs").status_code == 200
