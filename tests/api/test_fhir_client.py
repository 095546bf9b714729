"""A standard FHIR client library (fhirpy) can create, read, update, search and page."""

from __future__ import annotations

from fhirpy import SyncFHIRClient

from tests.auth import SmartBackendAuth
from tests.builders import TEST_SYSTEM, patient


def test_fhirpy_round_trip(fhir_url: str, tag: str, admin_auth: SmartBackendAuth) -> None:
    fhir = SyncFHIRClient(fhir_url, authorization=admin_auth.headers["Authorization"])
    created = []
    for n in range(5):
        resource = fhir.resource("Patient", **{k: v for k, v in patient(tag).items()
                                              if k != "resourceType"})
        resource["birthDate"] = f"201{n}-05-05"
        resource.save()
        created.append(resource.id)
    first = fhir.reference("Patient", created[0]).to_resource()
    assert first["birthDate"] == "2010-05-05"
    first["gender"] = "male"
    first.save()
    assert fhir.reference("Patient", created[0]).to_resource()["meta"]["versionId"] == "2"
    search = fhir.resources("Patient").search(identifier=f"{TEST_SYSTEM}|{tag}")
    assert search.count() == 5
    paged = [p.id for p in search.sort("birthdate").limit(2).fetch_all()]
    assert paged == created
    assert [p.id for p in search.search(gender="male").fetch()] == [created[0]]
