"""Walking resources for references (for transaction `urn:uuid:` rewriting)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def rewrite_references(value: Any, mapping: Mapping[str, str]) -> Any:
    """Return `value` with every string equal to a key of `mapping` replaced by its value.

    Used to turn `urn:uuid:...` placeholders into `Type/id` references; matching whole strings
    covers `Reference.reference` and uri/canonical elements alike.
    """
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, list):
        return [rewrite_references(item, mapping) for item in value]
    if isinstance(value, dict):
        return {key: rewrite_references(item, mapping) for key, item in value.items()}
    return value


def split_reference(reference: str) -> tuple[str, str] | None:
    """Return (type, id) for a relative reference `Type/id` (ignoring `/_history/n`), else None."""
    parts = reference.split("/")
    if len(parts) >= 2 and parts[0][:1].isupper() and "://" not in reference:
        return parts[0], parts[1]
    return None
