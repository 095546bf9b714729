"""The collaborators every interaction needs, wired once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from server.config import Settings
from server.definitions import Definitions
from server.errors import Issue
from server.search.registry import SearchParameterRegistry
from server.store import ResourceStore


class Validator(Protocol):
    def validate(self, resource: dict[str, Any], profile: str | None = None) -> list[Issue]:
        """Return every issue found in `resource` (empty when valid)."""
        ...


class Indexer(Protocol):
    def build_index(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Return the search index document stored beside the resource."""
        ...


@dataclass(frozen=True)
class Services:
    """Everything the interactions use; tests build one with real parts against a test DB."""

    settings: Settings
    definitions: Definitions
    store: ResourceStore
    validator: Validator
    indexer: Indexer
    search_parameters: SearchParameterRegistry

    def supports_type(self, resource_type: str) -> bool:
        """True for every concrete R4 resource type."""
        return resource_type in self.definitions.resource_types
