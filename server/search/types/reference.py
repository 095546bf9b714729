"""Reference and uri parameters.

Reference keys: `p|Type/id` (relative, `_history` dropped), `p|<absolute url or canonical>`,
`p:identifier|system|value` and `p:identifier||value` (Reference.identifier).
Uri keys: `p|<uri>` (`:below` is a prefix lookup; `:above` looks up every parent path).
"""

from __future__ import annotations

from typing import Any

from server.errors import Invalid
from server.search.criteria import Criterion, HasKey, KeyPrefix
from server.search.fhirpath import Found
from server.search.registry import SearchParam
from server.search.types import Sink, UnknownModifier, cut


def reference_key(reference: str) -> str | None:
    """Return the indexed form of a reference string (`Type/id` for relative ones)."""
    if not reference or reference.startswith("#"):
        return None  # contained resources are not separately searchable
    parts = reference.split("/")
    if "://" not in reference and not reference.startswith("urn:") and len(parts) >= 2:
        return f"{parts[0]}/{parts[1]}"
    return reference


def index(name: str, found: list[Found], sink: Sink) -> None:
    """Add reference keys (relative, absolute, canonical, logical identifier)."""
    for value, _hint in found:
        if isinstance(value, str):  # canonical / uri elements used as references
            _add(name, value, sink)
            if "|" in value:
                _add(name, value.split("|")[0], sink)
            continue
        if not isinstance(value, dict):
            continue
        ref = value.get("reference")
        if isinstance(ref, str):
            _add(name, ref, sink)
        ident: Any = value.get("identifier")
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            sink.keys.add(f"{name}:identifier||{cut(ident['value'])}")
            if ident.get("system"):
                sink.keys.add(f"{name}:identifier|{ident['system']}|{cut(ident['value'])}")


def _add(name: str, reference: str, sink: Sink) -> None:
    key = reference_key(reference)
    if key is not None:
        sink.keys.add(f"{name}|{cut(key)}")
        sink.sort_min(name, key)


def criterion(param: SearchParam, modifier: str | None, value: str) -> Criterion:
    """Parse one reference value (modifiers: none, `identifier`, a target type name)."""
    name = param.name
    if not value:
        raise Invalid(f"{name}: empty reference value", expression=name)
    if modifier == "identifier":
        system, _, code = value.rpartition("|")
        return HasKey((f"{name}:identifier|{system}|{cut(code)}",))
    if modifier is not None:
        if modifier not in param.targets:
            raise UnknownModifier(modifier)
        if "/" in value:
            raise Invalid(f"{name}:{modifier}: expected an id, got '{value}'", expression=name)
        return HasKey((f"{name}|{modifier}/{value}",))
    key = reference_key(value)
    if key is None:
        raise Invalid(f"{name}: '{value}' is not a searchable reference", expression=name)
    if "/" in key or ":" in key:
        return HasKey((f"{name}|{cut(key)}",))
    # A bare id: any of the parameter's target types.
    if not param.targets:
        return HasKey((f"{name}|{key}",))
    return HasKey(tuple(f"{name}|{target}/{key}" for target in param.targets))


def index_uri(name: str, found: list[Found], sink: Sink) -> None:
    """Add `p|uri` keys for uri/url/canonical values."""
    for value, _hint in found:
        if isinstance(value, str) and value:
            sink.keys.add(f"{name}|{cut(value)}")
            sink.sort_min(name, value)


def uri_criterion(param: SearchParam, modifier: str | None, value: str) -> Criterion:
    """Parse one uri value (modifiers: none, `below`, `above`)."""
    name = param.name
    if modifier is None:
        return HasKey((f"{name}|{cut(value)}",))
    if modifier == "below":
        return KeyPrefix(f"{name}|{value}")
    if modifier == "above":
        parts = value.split("/")
        parents = ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]
        return HasKey(tuple(f"{name}|{cut(p)}" for p in parents if p and not p.endswith(":")))
    raise UnknownModifier(modifier)
