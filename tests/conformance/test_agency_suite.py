"""The `agency:AGENCY` suite against our own server, as a Connexions vendor would run it:
their export maps cleanly and round-trips; a broken export fails exactly the mapping test."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

from server.config import Settings
from server.conformance.profiles import profile_validator
from server.conformance.runner import run_suites
from server.conformance.suites import agency_suite
from tests.api.agencies import agencies
from tests.auth import SmartBackendAuth

SAMPLES = Path(__file__).resolve().parents[2] / "mappings" / "connexions" / "samples"
AGENCY_TYPE = "https://cradle.example/fhir/CodeSystem/agency-type"


def test_a_vendor_export_maps_and_round_trips(settings: Settings, server_url: str,
                                              fhir_url: str, admin_auth: SmartBackendAuth,
                                              tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    with agencies(settings, server_url, suffix, {"vendor": "system/*.cruds"}) as made:
        org = made["vendor"].org.removeprefix("Organization/")
        httpx.put(f"{fhir_url}/Organization/{org}", auth=admin_auth, json={
            "resourceType": "Organization", "id": org, "name": f"vendor {suffix}",
            "type": [{"coding": [{"system": AGENCY_TYPE, "code": "connexions"}]}]},
            headers={"Content-Type": "application/fhir+json"}).raise_for_status()
        token = made["vendor"].http.auth.token  # type: ignore[attr-defined]
        good = SAMPLES / "ccis-2503-kacper-nowak-apprenticeship.csv"
        bad = tmp_path / "export-with-bad-nhs.csv"
        bad.write_bytes((SAMPLES / "ccis-2503-bad-nhs-number.csv").read_bytes())
        suite = agency_suite("connexions", [good, bad])
        run = asyncio.run(run_suites(fhir_url, [suite], token, profile_validator()))
    outcomes = {r.test.id: (r.outcome, r.message) for r in run.results}
    assert outcomes["agency-connexions-maps-ccis-2503-kacper-nowak-apprenticeship"][0] == "pass"
    assert outcomes["agency-connexions-round-trip-ccis-2503-kacper-nowak-apprenticeship"][0] \
        == "pass"
    # Known gap, reported rather than hidden: the extract columns the common model does not
    # carry (LACode, ACADYR, MonthNo) are missing from the rendering, so it fails the schema.
    status, why = outcomes["agency-connexions-rendering-maps-ccis-2503-kacper-nowak-apprenticeship"]
    assert status == "fail" and "LACode" in why
    failed, message = outcomes["agency-connexions-maps-export-with-bad-nhs"]
    assert failed == "fail" and "422" in message and "column 7 (NHSNumber)" in message
    assert not run.passed
