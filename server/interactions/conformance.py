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

    def register(self, *resources: Json) -> bool:
        """Add or replace conformance resources and recompile what depends on them.

        Returns True if any was a conformance resource (others are ignored).
        """
        taken = [r for r in resources
                 if r.get("resourceType") in CONFORMANCE_TYPES and r.get("url")
                 and not self._known(r)]
        for resource in taken:
            self.definitions.add(resource)
            if resource["resourceType"] == "SearchParameter":
                self.search_parameters.add(resource)
        if taken:
            self.indexer.invalidate()
            self.terminology.invalidate()
            self.validator = ResourceValidator(self.definitions)
        return bool(taken)

    def _known(self, resource: Json) -> bool:
        """True if exactly this resource (meta aside) is registered already."""
        key = f"{resource['url']}|{resource['version']}" if resource.get("version") \
            else resource["url"]
        known = self.definitions.by_url.get(key)
        return known is not None and _content(known) == _content(resource)


def _content(resource: Json) -> Json:
    return {k: v for k, v in resource.items() if k not in ("meta", "id")}
