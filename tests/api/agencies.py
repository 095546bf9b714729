"""Agencies for the access-control tests: registered clients with their own tokens, and the
small helpers those tests share (resource builders, bundle ids, audit-trail look-ups).

Each agency is a real registered client (private_key_jwt, ES384 keys for speed) acting for
its own `Organization/<id>`; ids carry a per-module suffix so other test modules' data never
interferes. Each agency also calls from its own loopback address (127.0.0.N), as separate
agency systems would: the token endpoint's rate limit is per address, and this module's
clients must not use up the budget the rest of the session shares on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from server.config import Settings
from server.security.tokens import (
    CLIENT_ASSERTION_TYPE,
    client_assertion,
    generate_private_jwk,
    public_jwk,
)
from server.store import ClientStore, RegisteredClient, ResourceStore
from tests.auth import SmartBackendAuth

Json = dict[str, Any]
FULL = "system/*.cruds cradle/break-glass"
NO_BREAK_GLASS = "system/*.cruds"
CLIENT_SYSTEM = "https://cradle.example/fhir/Id/client"
RULE = "https://cradle.example/fhir/access-rule/"
TAG_SYSTEM = "https://cradle.example/fhir/Id/access-test"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
INTERACTION = "http://hl7.org/fhir/restful-interaction"
CRADLE_SUBTYPE = "https://cradle.example/fhir/CodeSystem/audit-event-subtype"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


@dataclass
class Agency:
    """One registered client acting for one agency, with an HTTP client on the FHIR base."""

    name: str
    client_id: str
    org: str  # Organization/<id>
    http: httpx.Client
    address: str | None = None  # the loopback address it calls from

    def get(self, path: str, break_glass: str | None = None, **params: Any) -> httpx.Response:
        headers = {"X-Break-Glass-Reason": break_glass} if break_glass else {}
        return self.http.get(path, params=params, headers=headers)


class AgencyAuth(SmartBackendAuth):
    """`SmartBackendAuth` whose token requests leave from the agency's own address."""

    def __init__(self, token_url: str, client_id: str, private_jwk: Json, scope: str,
                 address: str) -> None:
        super().__init__(token_url, client_id, private_jwk, scope)
        self.address = address

    @property
    def token(self) -> str:
        if self._token is None or time.time() > self._expires - 30:
            with httpx.Client(transport=httpx.HTTPTransport(local_address=self.address),
                              timeout=30) as http:
                response = http.post(self.token_url, data={
                    "grant_type": "client_credentials", "scope": self.scope,
                    "client_assertion_type": CLIENT_ASSERTION_TYPE,
                    "client_assertion": client_assertion(self.client_id, self.private_jwk,
                                                         self.token_url)})
            response.raise_for_status()
            body = response.json()
            self._token, self._expires = body["access_token"], time.time() + body["expires_in"]
        return self._token


def register(settings: Settings, clients: dict[str, tuple[str, str]]) -> dict[str, Json]:
    """Register clients (client_id → (agency, scopes)); return their private keys."""
    keys = {cid: generate_private_jwk("ES384") for cid in clients}

    async def add() -> None:
        assert settings.mongo_uri is not None
        store = ResourceStore.connect(settings.mongo_uri, settings.database)
        try:
            registry = ClientStore(store.db)
            for cid, (agency, scopes) in clients.items():
                await registry.add(RegisteredClient(
                    client_id=cid, name=f"access test {cid}", agency=agency, scopes=scopes,
                    jwks=[public_jwk(keys[cid])]))
        finally:
            await store.close()

    asyncio.run(add())
    return keys


@contextmanager
def agencies(settings: Settings, server_url: str, suffix: str,
             scopes: dict[str, str]) -> Iterator[dict[str, Agency]]:
    """Register one client per name (name → scopes) and yield them as `Agency`s."""
    clients = {f"{name}-{suffix}": (f"Organization/{name}-{suffix}", scope)
               for name, scope in scopes.items()}
    keys = register(settings, clients)
    made: dict[str, Agency] = {}
    try:
        for number, (name, scope) in enumerate(scopes.items(), start=10):
            cid, address = f"{name}-{suffix}", f"127.0.0.{number}"
            auth = AgencyAuth(f"{server_url}/auth/token", cid, keys[cid], scope, address)
            made[name] = Agency(name, cid, clients[cid][0], httpx.Client(
                base_url=f"{server_url}/fhir", auth=auth, timeout=30, headers=FHIR_JSON,
                transport=httpx.HTTPTransport(local_address=address)), address)
        yield made
    finally:
        for agency in made.values():
            agency.http.close()


# --- resources ------------------------------------------------------------------------------

def tagged(tag: str) -> list[Json]:
    return [{"system": TAG_SYSTEM, "value": tag}]


def child(tag: str, family: str) -> Json:
    return {"resourceType": "Patient", "identifier": tagged(tag),
            "name": [{"family": family, "given": ["Robin"]}], "birthDate": "2016-05-01"}


def flag(tag: str, patient: str, code: str = "concern") -> Json:
    return {"resourceType": "Flag", "identifier": tagged(tag), "status": "active",
            "code": {"coding": [{"system": TAG_SYSTEM, "code": code}], "text": code},
            "subject": {"reference": patient}}


def referral(tag: str, patient: str, *performers: str) -> Json:
    return {"resourceType": "ServiceRequest", "identifier": tagged(tag), "status": "active",
            "intent": "order", "subject": {"reference": patient},
            "code": {"text": "child protection referral"},
            "performer": [{"reference": p} for p in performers]}


def organization(tag: str, name: str) -> Json:
    return {"resourceType": "Organization", "identifier": tagged(tag), "name": name,
            "active": True}


def observation(tag: str, patient: str) -> Json:
    return {"resourceType": "Observation", "identifier": tagged(tag), "status": "final",
            "code": {"text": "home visit note"}, "subject": {"reference": patient},
            "valueString": "seen at home"}


def agreement(tag: str, parties: list[str], types: list[str], status: str = "active",
              start: str | None = None, end: str | None = None,
              patient: str | None = None) -> Json:
    """A sharing agreement (Consent) between agencies covering some resource types."""
    today = date.today()
    period = {"start": start or (today - timedelta(days=30)).isoformat(),
              "end": end or (today + timedelta(days=365)).isoformat()}
    consent: Json = {
        "resourceType": "Consent", "identifier": tagged(tag), "status": status,
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                   "code": "OPTIN"}]},
        "organization": [{"reference": p} for p in parties],
        "provision": {"type": "permit", "period": period,
                      "class": [{"system": RESOURCE_TYPES, "code": t} for t in types]},
    }
    if patient:
        consent["patient"] = {"reference": patient}
    return consent


# --- responses ------------------------------------------------------------------------------

def created(response: httpx.Response) -> Json:
    assert response.status_code == 201, response.text
    body: Json = response.json()
    return body


def ids(bundle: Json, mode: str = "match") -> set[str]:
    """`Type/id` of the bundle's entries in a search mode (match or include)."""
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in bundle.get("entry", ()) if e.get("search", {}).get("mode") == mode}


def searched(response: httpx.Response) -> Json:
    assert response.status_code == 200, response.text
    body: Json = response.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset"
    warnings = [e for e in body.get("entry", ()) if e.get("search", {}).get("mode") == "outcome"]
    assert not warnings, warnings  # every parameter was understood
    return body


def assert_forbidden(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert [i["code"] for i in outcome["issue"]] == ["forbidden"]


def ref(resource: Json) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def versioned(resource: Json) -> str:
    return f"{ref(resource)}/_history/{resource['meta']['versionId']}"


# --- the audit trail ------------------------------------------------------------------------

def now_instant() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def audit_events(admin: httpx.Client, agency: Agency, since: str,
                 interaction: str | None = None, **params: Any) -> list[Json]:
    """The agency's AuditEvents recorded since `since`, newest first (optionally of one
    restful interaction), found the way an auditor does: by client identifier."""
    query = {"agent:identifier": f"{CLIENT_SYSTEM}|{agency.client_id}", "date": f"ge{since}",
             "_count": 200, **params}
    if interaction:
        query["subtype"] = f"{INTERACTION}|{interaction}"
    bundle = searched(admin.get("/AuditEvent", params=query))
    return [e["resource"] for e in bundle.get("entry", ())]


def only_event(admin: httpx.Client, agency: Agency, since: str, interaction: str,
               **params: Any) -> Json:
    events = audit_events(admin, agency, since, interaction, **params)
    assert len(events) == 1, [(e.get("subtype"), e.get("entity")) for e in events]
    return events[0]


def policies(event: Json) -> list[str]:
    return list(event["agent"][0].get("policy", []))


def entities(event: Json, role: str | None = None) -> set[str]:
    return {e["what"]["reference"] for e in event.get("entity", ())
            if "what" in e and (role is None or e["role"]["code"] == role)}


def subtypes(event: Json) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in event["subtype"]}


def query_of(event: Json) -> str | None:
    for entity in event.get("entity", ()):
        if "query" in entity:
            return base64.b64decode(entity["query"]).decode()
    return None


def purpose(event: Json) -> str:
    return str(event["purposeOfEvent"][0]["coding"][0]["code"])
