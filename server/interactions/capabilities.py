"""The CapabilityStatement, generated from what the code registers (so it cannot drift)."""

from __future__ import annotations

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


def capability_statement(services: Services, base_url: str, type_interactions: list[str],
                         system_interactions: list[str]) -> Json:
    """Return the CapabilityStatement for `base_url`, stating the interactions the API routes."""
    resources = [_resource(services, t, type_interactions)
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
            "resource": resources,
            "interaction": [{"code": code} for code in system_interactions],
        }],
    }


def _resource(services: Services, resource_type: str, interactions: list[str]) -> Json:
    params = services.search_parameters.supported_for(resource_type)
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
    }
