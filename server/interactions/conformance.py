"""The live conformance layer: the definitions in force and everything compiled from them.

The R4 base, the built-in profiles and any conformance resource a client stores (a new
StructureDefinition, ValueSet, CodeSystem, SearchParameter, ConceptMap) all land here;
registering one recompiles what depended on the old set, so the next request uses it.
"""

from __future__ import annotations

from typing import Any

from server.definitions import Definitions
from server.profiles.snapshot import generate_snapshot
from server.search.index import SearchIndexer
from server.search.registry import SearchParameterRegistry
from server.terminology import Terminology
from server.validation import ResourceValidator

Json = dict[str, Any]
CONFORMANCE_TYPES = frozenset({"StructureDefinition", "ValueSet", "CodeSystem", "ConceptMap",
                               "SearchParameter"})


class Conformance:
    """Definitions plus the validator, terminology and search machinery compiled from them.

    `required_profiles` maps a resource type to the profile its writes must conform to.
    """

    def __init__(self, definitions: Definitions,
                 required_profiles: dict[str, str] | None = None) -> None:
        self.definitions = definitions
        self.required_profiles = required_profiles or {}
        self.search_parameters = SearchParameterRegistry(definitions)
        self.indexer = SearchIndexer(self.search_parameters)
        self.terminology = Terminology(definitions)
        self.validator = ResourceValidator(definitions)

    def prepare(self, resource: Json) -> Json:
        """Return a conformance resource as it should be stored: a StructureDefinition gets a
        snapshot generated from its differential. Raises `Invalid` for authoring errors."""
        if resource.get("resourceType") == "StructureDefinition" and "snapshot" not in resource \
                and resource.get("differential"):
            return generate_snapshot(resource, self.definitions)
        return resource

    def register(self, resource: Json) -> None:
        """Add or replace a conformance resource and recompile what depends on it."""
        if resource.get("resourceType") not in CONFORMANCE_TYPES or not resource.get("url"):
            return
        self.definitions.add(resource)
        if resource["resourceType"] == "SearchParameter":
            self.search_parameters.add(resource)
            self.indexer.invalidate()
        self.terminology.invalidate()
        self.validator = ResourceValidator(self.definitions)
