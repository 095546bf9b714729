"""The live conformance layer: the definitions in force and everything compiled from them.

The R4 base, the built-in profiles and any conformance resource a client stores (a new
StructureDefinition, ValueSet, CodeSystem, SearchParameter...) all land here; registering one
rebuilds what was compiled from the old set, so the next request validates against it.
"""

from __future__ import annotations

from typing import Any

from server.definitions import Definitions
from server.search.index import SearchIndexer
from server.search.registry import SearchParameterRegistry
from server.validation import ResourceValidator

Json = dict[str, Any]
CONFORMANCE_TYPES = frozenset({"StructureDefinition", "ValueSet", "CodeSystem", "ConceptMap",
                               "SearchParameter"})


class Conformance:
    """Definitions plus the validator and search machinery compiled from them."""

    def __init__(self, definitions: Definitions) -> None:
        self.definitions = definitions
        self.search_parameters = SearchParameterRegistry(definitions)
        self.indexer = SearchIndexer(self.search_parameters)
        self.validator = ResourceValidator(definitions)

    def register(self, resource: Json) -> None:
        """Add or replace a conformance resource and recompile what depends on it."""
        if resource.get("resourceType") not in CONFORMANCE_TYPES or not resource.get("url"):
            return
        self.definitions.add(resource)
        if resource["resourceType"] == "SearchParameter":
            self.search_parameters.add(resource)
            self.indexer.invalidate()
        self.validator = ResourceValidator(self.definitions)
