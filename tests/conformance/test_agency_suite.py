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
from tests.connexions_rows import extract

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
        # Young people no other test stores: a child already held would be matched, not made.
        good = tmp_path / "export-2503.csv"
        good.write_text("\r\n".join(extract(2, 700_000 + int(suffix, 16) % 1000 * 10)) + "\r\n")
        bad = tmp_path / "export-with-bad-nhs.csv"
        bad.write_bytes((SAMPLES / "ccis-2503-bad-nhs-number.csv").read_bytes())
        suite = agency_suite("connexions", [good, bad])
        run = asyncio.run(run_suites(fhir_url, [suite], token, profile_validator()))
    outcomes = {r.test.id: (r.outcome, r.message) for r in run.results}
    assert outcomes["agency-connexions-maps-export-2503"][0] == "pass"
    assert outcomes["agency-connexions-round-trip-export-2503"][0] == "pass", \
        outcomes["agency-connexions-round-trip-export-2503"]
    # Known gap, reported rather than hidden: the extract columns the common model does not
    # carry (LACode, ACADYR, MonthNo) are missing from the rendering, so it fails the schema.
    status, why = outcomes["agency-connexions-rendering-maps-export-2503"]
    assert status == "fail" and "LACode" in why
    failed, message = outcomes["agency-connexions-maps-export-with-bad-nhs"]
    assert failed == "fail" and "422" in message and "column 7 (NHSNumber)" in message
    assert not run.passed
