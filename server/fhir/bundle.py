"""Building Bundles and their entries from stored versions."""

from __future__ import annotations

from typing import Any

from server.fhir import json
from server.fhir.ids import etag
from server.fhir.instant import format_instant, now

Json = dict[str, Any]


def bundle(kind: str, entries: list[Json], *, total: int | None = None,
           links: dict[str, str] | None = None) -> Json:
    """Return a Bundle of type `kind` with the given entries, total and links."""
    out: Json = {"resourceType": "Bundle", "type": kind, "timestamp": format_instant(now())}
    if total is not None:
        out["total"] = total
    if links:
        out["link"] = [{"relation": rel, "url": url} for rel, url in links.items()]
    out["entry"] = entries
    return out


def response_entry(status: str, *, resource: Json | None = None, location: str | None = None,
                   version_id: int | None = None, last_modified: str | None = None,
                   outcome: Json | None = None, full_url: str | None = None) -> Json:
    """Return a batch/transaction-response or history entry with `response` filled in."""
    response: Json = {"status": status}
    if location:
        response["location"] = location
    if version_id is not None:
        response["etag"] = etag(version_id)
    if last_modified:
        response["lastModified"] = last_modified
    if outcome is not None:
        response["outcome"] = outcome
    entry: Json = {}
    if full_url:
        entry["fullUrl"] = full_url
    if resource is not None:
        entry["resource"] = resource
    entry["response"] = response
    return entry


def body_of(stored_body: bytes | None) -> Json | None:
    """Return the stored JSON as a dict (None for a tombstone)."""
    return json.loads(stored_body) if stored_body is not None else None
