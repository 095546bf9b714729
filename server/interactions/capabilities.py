"""The CapabilityStatement, generated from what the code registers (so it cannot drift)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server import FHIR_VERSION, __version__
from server.fhir.instant import format_instant, now
from server.interactions.services import Services

Json = dict[str, Any]

# FHIR's type- and instance-level interaction codes; the API says which of them it routes.
TYPE_INTERACTIONS = (
    "read", "vread", "update", "patch", "delete", "history-instance", "history-type",
    "create", "search-type",
)
FORMATS = ("application/fhir+json", "application/json", "json")
PATCH_FORMATS = ("application/json-patch+json",)


@dataclass(frozen=True)
class OperationSummary:
    """What the CapabilityStatement says of one `$operation` (None types: every type)."""

    name: str
    definition: str
    resource_types: frozenset[str] | None
    system: bool
    typed: bool


CLIENT_WRITES = frozenset({"create", "update", "patch", "delete"})


def capability_statement(services: Services, base_url: str, type_interactions: list[str],
                         system_interactions: list[str],
                         operations: list[OperationSummary]) -> Json:
    """Return the CapabilityStatement for `base_url`: the interactions and operations the API
    routes, and the search parameters the registry indexes."""
    resources = [_resource(services, t, type_interactions, operations)
                 for t in sorted(services.definitions.resource_types)]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": format_instant(now()),
        "kind": "instance",
        "software": {"name": "Cradle", "version": __version__},
        "implementation": {"description": "Cradle FHIR server", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": list(FORMATS),
        "patchFormat": list(PATCH_FORMATS),
        "rest": [{
            "mode": "server",
            **_security(services, base_url),
            "resource": resources,
            "interaction": [{"code": code} for code in system_interactions],
            "operation": [{"name": op.name, "definition": op.definition}
                          for op in operations if op.system],
        }],
    }


def _security(services: Services, base_url: str) -> Json:
    if not services.settings.auth:
        return {}
    public = services.settings.public_url
    token_url = (public or base_url.rstrip("/").removesuffix("/fhir")).rstrip("/") + \
        "/auth/token"
    return {"security": {
        "cors": bool(services.settings.cors_origins),
        "service": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
            "code": "SMART-on-FHIR"}]}],
        "extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [{"url": "token", "valueUri": token_url}]}],
        "description": "OAuth 2.0 client credentials (SMART Backend Services, private_key_jwt) "
                       "with SMART v2 system scopes; need-to-know access by involvement and "
                       "sharing agreement; every access audited (AuditEvent)."}}


def _resource(services: Services, resource_type: str, interactions: list[str],
              operations: list[OperationSummary]) -> Json:
    params = services.search_parameters.supported_for(resource_type)
    if resource_type in services.policy.server_written:  # append-only: read and search
        interactions = [i for i in interactions if i not in CLIENT_WRITES]
    ops = [{"name": op.name, "definition": op.definition} for op in operations
           if op.typed and (op.resource_types is None or resource_type in op.resource_types)]
    return {
        "type": resource_type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
        "interaction": [{"code": code} for code in interactions],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "not-supported",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "searchInclude": sorted(f"{resource_type}:{p.name}" for p in params
                                if p.type == "reference"),
        "searchParam": [
            {"name": p.name, "definition": p.url, "type": p.type}
            for p in sorted(params, key=lambda p: p.name)
        ],
        "operation": ops,
    }
