"""The collaborators every interaction needs, wired once by the composition root, and who is
acting in the current request."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from server.config import Settings
from server.definitions import Definitions
from server.interactions.conformance import Conformance
from server.mapping.catalog import Agency
from server.search.index import SearchIndexer
from server.search.registry import SearchParameterRegistry
from server.security.compartment import PatientCompartment
from server.security.policy import AccessPolicy
from server.security.principal import SYSTEM, Principal
from server.security.records import AccessRecord
from server.security.tokens import TokenService
from server.store import ClientStore, ResourceStore
from server.validation import ResourceValidator


@dataclass
class Revocations:
    """Client ids revoked since start-up, refreshed from the database by the follower."""

    client_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Services:
    """Everything the interactions use; tests build one with real parts against a test DB.

    `caller` is who acts (the server itself unless a request says otherwise) and `record`
    gathers what the request did for its AuditEvent (None: not audited). The API layer makes a
    copy per request with `acting_as`.
    """

    settings: Settings
    store: ResourceStore
    conformance: Conformance
    clients: ClientStore
    tokens: TokenService
    policy: AccessPolicy
    compartment: PatientCompartment
    revocations: Revocations = field(default_factory=Revocations)
    caller: Principal = SYSTEM
    record: AccessRecord | None = None
    # Where written resources came from (`Type/id` -> Provenance policy and entity): set by
    # agency record submission so each native record's resources get their own Provenance.
    origin: dict[str, dict[str, Any]] | None = None
    agencies: dict[str, Agency] = field(default_factory=dict)  # the agency mappings by name

    def acting_as(self, caller: Principal, record: AccessRecord | None) -> Services:
        """Return these services for one request by `caller`, audited into `record`."""
        return replace(self, caller=caller, record=record)

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
