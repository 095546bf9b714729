"""The operation registry: what exists, where it may be invoked, and who handles it.

The API routes `$name` calls through `find`, and the CapabilityStatement lists `OPERATIONS`, so
what is stated and what is served come from this one table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from server.errors import NotFound
from server.interactions.services import Services
from server.operations.parameters import OperationInput

Level = Literal["system", "type", "instance"]
Json = dict[str, Any]
Handler = Callable[[Services, OperationInput], Awaitable[Json]]


@dataclass(frozen=True)
class Operation:
    """One `$operation`: `resource_types` None means every type."""

    name: str
    definition: str
    levels: frozenset[Level]
    resource_types: frozenset[str] | None
    handler: Handler
    affects_state: bool = False

    def applies_to(self, resource_type: str) -> bool:
        return self.resource_types is None or resource_type in self.resource_types


OPERATIONS: list[Operation] = []


def operation(name: str, definition: str, levels: set[Level],
              resource_types: set[str] | None = None) -> Callable[[Handler], Handler]:
    """Register the decorated handler as `$name`."""

    def register(handler: Handler) -> Handler:
        OPERATIONS.append(Operation(name, definition, frozenset(levels),
                                    frozenset(resource_types) if resource_types else None,
                                    handler))
        return handler

    return register


def find(name: str, level: Level, resource_type: str | None) -> Operation:
    """Return the operation `$name` at this level and type; raise `NotFound` otherwise."""
    for op in OPERATIONS:
        if op.name == name and level in op.levels and (
                resource_type is None or op.applies_to(resource_type)):
            return op
    where = f"{resource_type} ({level} level)" if resource_type else f"the {level} level"
    raise NotFound(f"The operation ${name} is not supported on {where}",
                   expression=f"${name}")


def load_all() -> list[Operation]:
    """Import every operation module (each registers itself) and return the registry."""
    from server.operations import snapshot, terminology, validate  # noqa: F401  (they register)

    return OPERATIONS
