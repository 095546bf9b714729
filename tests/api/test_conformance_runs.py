"""`POST /conformance/runs`: the server runs the kit against an allowed target, stores the
TestReport, and vendors list their past runs with `GET /fhir/TestReport`."""

from __future__ import annotations

import httpx

from tests.auth import SmartBackendAuth

FHIR = {"Content-Type": "application/fhir+json"}


def test_a_run_is_stored_as_a_test_report_and_listed(server_url: str, fhir_url: str,
                                                     admin_auth: SmartBackendAuth) -> None:
    response = httpx.post(f"{server_url}/conformance/runs", auth=admin_auth, timeout=120,
                          headers=FHIR, json={"target": fhir_url, "suites": ["api"],
                                              "token": admin_auth.token})
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["resourceType"] == "TestReport"
    # The session server does not enforce the Child profile on Patients that do not claim it
    # (its tests exchange plain R4): the kit finds exactly that.
    failing = {t["name"] for t in report["test"] if t["action"][0]["assert"]["result"] != "pass"}
    assert failing == {"api-unprofiled-child-rejected"}
    assert report["result"] == "fail"
    assert {"type": "server", "uri": fhir_url} in report["participant"]
    listed = httpx.get(f"{fhir_url}/TestReport", auth=admin_auth, params={
        "participant": fhir_url, "result": "fail"}).json()
    assert report["id"] in {e["resource"]["id"] for e in listed.get("entry", [])}


def test_only_configured_targets_may_be_tested(server_url: str,
                                               admin_auth: SmartBackendAuth) -> None:
    response = httpx.post(f"{server_url}/conformance/runs", auth=admin_auth, headers=FHIR,
                          json={"target": "http://169.254.169.254/latest", "suites": ["api"]})
    assert response.status_code == 403
    assert response.json()["resourceType"] == "OperationOutcome"


def test_a_bad_request_is_refused_with_an_outcome(server_url: str,
                                                  admin_auth: SmartBackendAuth) -> None:
    for body in ({"suites": ["api"]}, {"target": "http://127.0.0.1/", "suites": ["nope"]}):
        response = httpx.post(f"{server_url}/conformance/runs", auth=admin_auth,
                              headers=FHIR, json=body)
        assert response.status_code == 400, response.text
        assert response.json()["issue"][0]["expression"]
    response = httpx.post(f"{server_url}/conformance/runs", headers=FHIR, json={})
    assert response.status_code == 401
