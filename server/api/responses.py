"""Writing FHIR responses: resources with their version headers, Bundles, Prefer handling."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response

from server.api.outcomes import FHIR_JSON, outcome_response
from server.api.requests import Prefer
from server.errors import Issue
from server.fhir import json
from server.fhir.ids import etag
from server.fhir.instant import http_date
from server.store import StoredResource


def version_headers(stored: StoredResource, base_url: str | None = None) -> dict[str, str]:
    """ETag and Last-Modified for a version, plus Location when `base_url` is given."""
    headers = {"ETag": etag(stored.version_id), "Last-Modified": http_date(stored.last_updated)}
    if base_url is not None:
        headers["Location"] = f"{base_url}/{stored.reference}/_history/{stored.version_id}"
    return headers


def resource_response(stored: StoredResource, status: int = 200) -> Response:
    """Return the stored JSON exactly as stored, with its version headers."""
    return Response(stored.body, status_code=status, media_type=FHIR_JSON,
                    headers=version_headers(stored))


def write_response(stored: StoredResource, status: int, base_url: str, prefer: Prefer,
                   warnings: list[Issue]) -> Response:
    """Answer a create/update per `Prefer: return=` (representation by default)."""
    headers = version_headers(stored, base_url)
    if prefer.return_ == "minimal":
        return Response(status_code=status, headers=headers)
    if prefer.return_ == "OperationOutcome":
        done = Issue("information", "informational",
                     f"{stored.reference} stored as version {stored.version_id}")
        return outcome_response(status, [*warnings, done], headers)
    return Response(stored.body, status_code=status, media_type=FHIR_JSON, headers=headers)


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None,
                  media_type: str = FHIR_JSON) -> Response:
    """Return any FHIR JSON value (Bundle, CapabilityStatement...), or plain JSON."""
    return Response(json.dumps(value), status_code=status, media_type=media_type,
                    headers=headers)
