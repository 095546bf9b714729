"""String parameters: starts-with, case- and accent-insensitive; `:exact`; `:contains`.

Keys: `p|normalised value` (one per string, e.g. each given name) and `p=|raw value` (`:exact`).
HumanName and Address values contribute each of their string parts.
"""

from __future__ import annotations

from typing import Any

from server.errors import Invalid
from server.search.criteria import Criterion, HasKey, KeyPrefix
from server.search.fhirpath import Found
from server.search.normalise import normalise
from server.search.registry import SearchParam
from server.search.types import Sink, UnknownModifier, cut

PARTS = ("text", "family", "given", "prefix", "suffix", "line", "city", "district", "state",
         "postalCode", "country")


def strings_of(value: Any) -> list[str]:
    """Return the searchable strings of a value (a string, HumanName, Address, ...)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, dict):
        return []
    out: list[str] = []
    for part in PARTS:
        item = value.get(part)
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, list):
            out.extend(x for x in item if isinstance(x, str))
    if not out:  # another complex type: its direct string elements
        out = [v for k, v in value.items() if isinstance(v, str) and k != "id"]
    return out


def index(name: str, found: list[Found], sink: Sink) -> None:
    """Add normalised and exact keys for every string found."""
    for value, _hint in found:
        for text in strings_of(value):
            norm = cut(normalise(text))
            sink.keys.add(f"{name}|{norm}")
            sink.keys.add(f"{name}=|{cut(text)}")
            sink.sort_min(name, norm)


def criterion(param: SearchParam, modifier: str | None, value: str) -> Criterion:
    """Parse one string value (modifiers: none, `exact`, `contains`)."""
    name = param.name
    if modifier is None:
        if not normalise(value):
            raise Invalid(f"{name}: empty string value", expression=name)
        return KeyPrefix(f"{name}|{cut(normalise(value))}", drivable=True)
    if modifier == "exact":
        return HasKey((f"{name}=|{cut(value)}",))
    if modifier == "contains":
        return KeyPrefix(f"{name}|", cut(normalise(value)))
    raise UnknownModifier(modifier)
