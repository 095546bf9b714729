"""Build the search index document (`ix`) stored with every current resource version.

Shape (plain JSON/BSON-safe values):
  `k`: sorted unique strings: type-specific keys (see `server.search.types.*`), `?p` presence
       keys for every parameter with a value (`:missing`), `_id|<id>`;
  `r`: range entries `{"p", "lo", "hi", ...}` for date/number/quantity parameters;
  `s`: `{param: sort value}` (the lowest value of each parameter);
  `d`: the driver keys, the only ones the database indexes (`server.search.lookup`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from server.search.fhirpath import Found, Getter, compile_expression
from server.search.lookup import drivers
from server.search.registry import SearchParameterRegistry
from server.search.types import Sink, date, quantity, reference, string, token

Indexer = Callable[[str, list[Found], Sink], None]


def _index_id(name: str, found: list[Found], sink: Sink) -> None:
    # `_id` is the most common lookup: one plain key `_id|<id>` per resource.
    for value, _hint in found:
        if isinstance(value, str):
            sink.keys.add(f"_id|{value}")
            sink.sort["_id"] = value

INDEXERS: dict[str, Indexer] = {
    "token": token.index,
    "string": string.index,
    "date": date.index,
    "reference": reference.index,
    "uri": reference.index_uri,
    "number": quantity.index,
    "quantity": quantity.index,
}


def choice_names(registry: SearchParameterRegistry) -> frozenset[str]:
    """Return every element name that is a choice (`value[x]`) somewhere in the definitions."""
    names: set[str] = set()
    for sd in registry.definitions.structure_definitions.values():
        for element in (sd.get("snapshot") or {}).get("element", ()):
            path = element.get("path", "")
            if path.endswith("[x]"):
                names.add(path.rsplit(".", 1)[-1][:-3])
    return frozenset(names)


class SearchIndexer:
    """Builds index documents; compiled parameter getters are cached per resource type."""

    def __init__(self, registry: SearchParameterRegistry) -> None:
        self.registry = registry
        self._choices = choice_names(registry)
        self._plans: dict[str, list[tuple[str, Indexer, Getter]]] = {}

    def invalidate(self) -> None:
        """Forget compiled plans (call after `registry.add`)."""
        self._plans.clear()

    def _plan(self, resource_type: str) -> list[tuple[str, Indexer, Getter]]:
        plan = self._plans.get(resource_type)
        if plan is None:
            plan = [
                (p.name, _index_id if p.name == "_id" else INDEXERS[p.type],
                 compile_expression(p.expression, resource_type, self._choices))
                for p in self.registry.for_type(resource_type).values()
            ]
            self._plans[resource_type] = plan
        return plan

    def build_index(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Return the index document of `resource` (which must have `resourceType`)."""
        sink = Sink()
        for name, indexer, getter in self._plan(resource["resourceType"]):
            found = getter(resource)
            if found:
                sink.keys.add("?" + name)
                indexer(name, found, sink)
        rename = self.registry.driver_names(resource["resourceType"])
        return {"k": sorted(sink.keys), "r": sink.ranges, "s": sink.sort,
                "d": drivers(sink.keys, rename)}
