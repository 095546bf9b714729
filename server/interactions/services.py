"""The collaborators every interaction needs, wired once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from server.config import Settings
from server.definitions import Definitions
from server.interactions.conformance import Conformance
from server.search.index import SearchIndexer
from server.search.registry import SearchParameterRegistry
from server.store import ResourceStore
from server.validation import ResourceValidator


@dataclass(frozen=True)
class Services:
    """Everything the interactions use; tests build one with real parts against a test DB."""

    settings: Settings
    store: ResourceStore
    conformance: Conformance

    @property
    def definitions(self) -> Definitions:
        return self.conformance.definitions

    @property
    def validator(self) -> ResourceValidator:
        return self.conformance.validator

    @property
    def indexer(self) -> SearchIndexer:
        return self.conformance.indexer

    @property
    def search_parameters(self) -> SearchParameterRegistry:
        return self.conformance.search_parameters

    def required_profile(self, resource_type: str) -> str | None:
        """The profile every write of this type must conform to (None: base R4 only)."""
        if not self.settings.enforce_profiles:
            return None
        return self.conformance.required_profiles.get(resource_type)

    def supports_type(self, resource_type: str) -> bool:
        """True for every concrete R4 resource type."""
        return resource_type in self.definitions.resource_types
