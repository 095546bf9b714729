"""One CodeSystem, indexed for terminology work: concepts by code, hierarchy, filters.

The hierarchy is the union of concept nesting and the standard `parent`, `child` and
`subsumedBy` properties (the v3 code systems use `child` for their poly-hierarchy).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from server.errors import NotSupported

Json = dict[str, Any]
_PARENT_PROPS = ("parent", "subsumedBy")


@dataclass(frozen=True, slots=True)
class Concept:
    """One concept of a CodeSystem, as written in the resource."""

    code: str
    display: str | None
    definition: str | None
    abstract: bool
    designations: tuple[Json, ...]
    properties: tuple[Json, ...]


def property_text(prop: Json) -> str | None:
    """Return a concept property's value as text (booleans as `true`/`false`), or None."""
    for key, value in prop.items():
        if key.startswith("value"):
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, dict):
                return str(value.get("code")) if "code" in value else None
            return str(value)
    return None


def _is_abstract(concept: Json) -> bool:
    return any(
        p.get("code") in ("notSelectable", "abstract") and p.get("valueBoolean") is True
        for p in concept.get("property", [])
    )


class CodeSystemIndex:
    """The concepts of one CodeSystem resource, in document order, with their hierarchy."""

    def __init__(self, resource: Json) -> None:
        self.resource = resource
        self.url: str = resource.get("url", "")
        self.version: str | None = resource.get("version")
        self.name: str = resource.get("name") or resource.get("title") or self.url
        self.complete = resource.get("content") == "complete"
        self.case_sensitive = resource.get("caseSensitive", True) is not False
        self.concepts: dict[str, Concept] = {}
        self.parents: dict[str, list[str]] = {}
        self.children: dict[str, list[str]] = {}
        self._folded: dict[str, str] = {}
        self._walk(resource.get("concept", []), None)

    def _walk(self, concepts: Iterable[Json], parent: str | None) -> None:
        for raw in concepts:
            code = raw.get("code")
            if not isinstance(code, str):
                continue
            self.concepts.setdefault(code, Concept(
                code, raw.get("display"), raw.get("definition"), _is_abstract(raw),
                tuple(raw.get("designation", [])), tuple(raw.get("property", []))))
            self._folded.setdefault(code.lower(), code)
            if parent is not None:
                self._link(parent, code)
            for prop in raw.get("property", []):
                value = property_text(prop)
                if value is None:
                    continue
                if prop.get("code") == "child":
                    self._link(code, value)
                elif prop.get("code") in _PARENT_PROPS:
                    self._link(value, code)
            self._walk(raw.get("concept", []), code)

    def _link(self, parent: str, child: str) -> None:
        kids = self.children.setdefault(parent, [])
        if parent != child and child not in kids:
            kids.append(child)
            self.parents.setdefault(child, []).append(parent)

    def find(self, code: str) -> Concept | None:
        """Return the concept with `code` (case-folded if the system is case-insensitive)."""
        concept = self.concepts.get(code)
        if concept is None and not self.case_sensitive:
            folded = self._folded.get(code.lower())
            concept = self.concepts.get(folded) if folded else None
        return concept

    def descendants(self, code: str) -> list[str]:
        """Return every code below `code` in the hierarchy (not `code` itself)."""
        return self._closure(code, self.children)

    def ancestors(self, code: str) -> list[str]:
        """Return every code above `code` in the hierarchy (not `code` itself)."""
        return self._closure(code, self.parents)

    @staticmethod
    def _closure(code: str, edges: dict[str, list[str]]) -> list[str]:
        seen: dict[str, None] = {}
        stack = list(reversed(edges.get(code, [])))
        while stack:
            item = stack.pop()
            if item not in seen and item != code:
                seen[item] = None
                stack.extend(reversed(edges.get(item, [])))
        return list(seen)

    def values(self, concept: Concept, prop: str) -> list[str]:
        """Return the values of property `prop` of `concept` as text (code, display too)."""
        if prop in ("code", "concept"):
            return [concept.code]
        if prop == "display":
            return [concept.display] if concept.display else []
        if prop == "parent":
            return list(self.parents.get(concept.code, []))
        if prop == "child":
            return list(self.children.get(concept.code, []))
        out = [property_text(p) for p in concept.properties if p.get("code") == prop]
        return [v for v in out if v is not None]

    def select(self, filters: Iterable[Json]) -> list[Concept]:
        """Return the concepts matching every filter (ANDed), in document order.

        Raises NotSupported for a filter operator that is not implemented.
        """
        codes: set[str] | None = None
        for flt in filters:
            matched = self._filter(str(flt.get("property", "")), str(flt.get("op", "")),
                                   str(flt.get("value", "")))
            codes = matched if codes is None else codes & matched
        keep = set(self.concepts) if codes is None else codes
        return [c for code, c in self.concepts.items() if code in keep]

    def _filter(self, prop: str, op: str, value: str) -> set[str]:
        if op in ("is-a", "descendent-of", "is-not-a", "generalizes"):
            root = self.find(value)
            if root is None:
                return set() if op != "is-not-a" else set(self.concepts)
            below = set(self.descendants(root.code))
            if op == "is-a":
                return below | {root.code}
            if op == "descendent-of":
                return below
            if op == "generalizes":
                return set(self.ancestors(root.code)) | {root.code}
            return set(self.concepts) - below - {root.code}
        test = _value_test(op, value)
        return {c.code for c in self.concepts.values() if test(self.values(c, prop))}


def _value_test(op: str, value: str) -> Callable[[list[str]], bool]:
    if op == "=":
        return lambda values: value in values
    if op in ("in", "not-in"):
        wanted = {v.strip() for v in value.split(",")}
        if op == "in":
            return lambda values: bool(wanted.intersection(values))
        return lambda values: not wanted.intersection(values)
    if op == "regex":
        pattern = re.compile(value)
        return lambda values: any(pattern.fullmatch(v) for v in values)
    if op == "exists":
        present = value == "true"
        return lambda values: bool(values) == present
    raise NotSupported(f"ValueSet filter operator {op!r} is not supported")
