"""Per-parameter-type indexing and value parsing.

Each module offers `index(name, found, sink)` (add keys/ranges/sort values for the values a
parameter's expression found) and `criterion(param, modifier, value)` (parse one search value,
raising `Invalid` when malformed and `UnknownModifier` for a modifier the type does not support).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.errors import Invalid

# Index keys are truncated so a long markdown value cannot exceed index key size limits.
MAX_KEY_VALUE = 256
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


class UnknownModifier(Exception):
    """The modifier is not supported for this parameter type."""


@dataclass(slots=True)
class Sink:
    """The index document under construction."""

    keys: set[str] = field(default_factory=set)
    ranges: list[dict[str, Any]] = field(default_factory=list)
    sort: dict[str, Any] = field(default_factory=dict)

    def sort_min(self, name: str, value: Any) -> None:
        """Keep the smallest sort value of a parameter (ascending sort uses the lowest)."""
        current = self.sort.get(name)
        if current is None or value < current:
            self.sort[name] = value


def split_prefix(name: str, value: str) -> tuple[str, str]:
    """Return (prefix, rest) of a date/number/quantity value; `eq` when there is none.

    Raises `Invalid` when the value starts with letters that are not a known prefix.
    """
    head = value[:2]
    if head in PREFIXES:
        return head, value[2:]
    if head[:1].isalpha():
        raise Invalid(f"{name}: unknown prefix in '{value}' (expected one of "
                      f"{', '.join(PREFIXES)})", expression=name)
    return "eq", value


def cut(value: str) -> str:
    """Return `value` truncated to the indexed length."""
    return value[:MAX_KEY_VALUE]
