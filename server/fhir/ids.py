"""Logical ids and version ids."""

from __future__ import annotations

import re
import uuid

ID_PATTERN = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def new_id() -> str:
    """Return a fresh server-assigned logical id (a UUID, valid FHIR `id` syntax)."""
    return str(uuid.uuid4())


def is_valid_id(value: str) -> bool:
    """True if `value` matches the FHIR `id` type."""
    return ID_PATTERN.fullmatch(value) is not None


def parse_etag(value: str) -> int | None:
    """Return the version in an ETag / If-Match value (`W/"3"`, `"3"`, `3`), or None."""
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    return int(text) if text.isdigit() else None


def etag(version_id: int) -> str:
    """Return the weak ETag for a version."""
    return f'W/"{version_id}"'
