"""Deterministic, collision-safe resource ids.

The same native record always yields the same ids (so a resend updates, never duplicates),
and two different (agency, native key, resource, occurrence) tuples never share one: the id
is a hash of the tuple's JSON (whose quoting keeps `a|b` + `c` apart from `a` + `b|c`),
prefixed for people reading it.
"""

from __future__ import annotations

import hashlib
import json


def resource_id(agency: str, key: str, name: str, occurrence: str = "") -> str:
    """Return `AGENCY-NAME-HASH` (at most 64 characters, FHIR id characters only)."""
    digest = hashlib.sha256(json.dumps([agency, key, name, occurrence]).encode()).hexdigest()
    prefix = "".join(c if c.isalnum() or c in "-." else "-" for c in f"{agency}-{name}")
    return f"{prefix[:35]}-{digest[:24]}"


def content_hash(value: object) -> str:
    """Return the SHA-256 (hex) of `value`'s canonical JSON: the native input's fingerprint."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
