"""FHIR JSON in and out (orjson: parsing once, serialising once)."""

from __future__ import annotations

from typing import Any

import orjson

from server.errors import Invalid

Json = dict[str, Any]


def parse_resource(raw: bytes, expected_type: str | None = None) -> Json:
    """Parse a request body into a resource dict.

    Raises `Invalid` if the body is not JSON, not an object, has no `resourceType`, or (when
    `expected_type` is given) is of another type.
    """
    if not raw.strip():
        raise Invalid("The request body is empty; a FHIR resource was expected")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Invalid(f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise Invalid("The request body must be a JSON object (a FHIR resource)")
    kind = value.get("resourceType")
    if not isinstance(kind, str):
        raise Invalid("The resource has no resourceType", expression="resourceType")
    if expected_type is not None and kind != expected_type:
        raise Invalid(
            f"The resource is a {kind}, but the URL is for {expected_type}",
            expression=kind,
        )
    return value


def dumps(value: Any) -> bytes:
    """Serialise a JSON value (dict, list...) to bytes."""
    return orjson.dumps(value)


def loads(raw: bytes) -> Any:
    """Parse JSON bytes that are known to be valid (e.g. stored resources)."""
    return orjson.loads(raw)
