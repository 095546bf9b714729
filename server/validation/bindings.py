"""Local ValueSet expansion for required-binding checks.

Only what can be expanded exactly from the loaded definitions is expanded: includes of
whole CodeSystems whose content is complete, explicit concept lists, and nested
`valueSet` references (with `exclude` subtracted). A ValueSet using filters, or naming a
CodeSystem we do not hold (SNOMED CT, UCUM, BCP-47, MIME types...), yields None so the
caller skips the check instead of raising false errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.definitions.registry import Definitions


@dataclass(frozen=True, slots=True)
class Expansion:
    """The codes of one ValueSet, grouped by code system."""

    by_system: dict[str, frozenset[str]]
    all_codes: frozenset[str]

    def contains(self, system: str | None, code: str) -> bool:
        """Return True if `code` (in `system`, or in any system when None) is in the set."""
        if system is None:
            return code in self.all_codes
        codes = self.by_system.get(system)
        return codes is not None and code in codes

    def has_system(self, system: str) -> bool:
        """Return True if the value set draws any codes from `system`."""
        return system in self.by_system


class _Unexpandable(Exception):
    """Raised internally when part of a ValueSet cannot be expanded locally."""


def _strip_version(url: str) -> str:
    return url.split("|", 1)[0]


class ValueSetExpander:
    """Expands ValueSets against a `Definitions` registry, caching every result."""

    def __init__(self, definitions: Definitions) -> None:
        self._defs = definitions
        self._cache: dict[str, Expansion | None] = {}
        self._cs_cache: dict[str, frozenset[str]] = {}

    def expand(self, url: str) -> Expansion | None:
        """Return the expansion of the ValueSet at `url`, or None if not expandable here."""
        url = _strip_version(url)
        if url in self._cache:
            return self._cache[url]
        # Cache failures too: an unexpandable set is skipped on every later call.
        self._cache[url] = None
        try:
            groups = self._expand_groups(url, frozenset())
        except _Unexpandable:
            return None
        by_system = {system: frozenset(codes) for system, codes in groups.items()}
        all_codes = frozenset(c for codes in by_system.values() for c in codes)
        result = Expansion(by_system, all_codes)
        self._cache[url] = result
        return result

    def _expand_groups(self, url: str, seen: frozenset[str]) -> dict[str, set[str]]:
        if url in seen:
            raise _Unexpandable(url)
        vs = self._defs.value_set(url)
        if vs is None:
            raise _Unexpandable(url)
        seen = seen | {url}
        compose = vs.get("compose")
        if not compose:
            return self._from_expansion(vs)
        result: dict[str, set[str]] = {}
        for include in compose.get("include", []):
            for system, codes in self._include(include, seen).items():
                result.setdefault(system, set()).update(codes)
        for exclude in compose.get("exclude", []):
            for system, codes in self._include(exclude, seen).items():
                if system in result:
                    result[system] -= codes
        return result

    def _from_expansion(self, vs: dict[str, Any]) -> dict[str, set[str]]:
        expansion = vs.get("expansion")
        if not expansion or "contains" not in expansion:
            raise _Unexpandable(vs.get("url"))
        result: dict[str, set[str]] = {}
        stack = list(expansion["contains"])
        while stack:
            item = stack.pop()
            if "system" in item and "code" in item:
                result.setdefault(item["system"], set()).add(item["code"])
            stack.extend(item.get("contains", []))
        return result

    def _include(self, include: dict[str, Any], seen: frozenset[str]) -> dict[str, set[str]]:
        if include.get("filter"):
            raise _Unexpandable("filter")
        system = include.get("system")
        selected: dict[str, set[str]] | None = None
        if system:
            if "concept" in include:
                codes = {c["code"] for c in include["concept"]}
            else:
                codes = set(self._code_system_codes(system))
            selected = {system: codes}
        for vs_url in include.get("valueSet", []):
            nested = self._expand_groups(_strip_version(vs_url), seen)
            # Multiple valueSet entries (and a system) are intersected, per the spec.
            if selected is None:
                selected = nested
            else:
                selected = {
                    s: selected[s] & nested[s] for s in selected.keys() & nested.keys()
                }
        return selected or {}

    def _code_system_codes(self, url: str) -> frozenset[str]:
        if url in self._cs_cache:
            return self._cs_cache[url]
        cs = self._defs.code_system(url)
        if cs is None or cs.get("content") != "complete":
            raise _Unexpandable(url)
        codes: set[str] = set()
        stack = list(cs.get("concept", []))
        while stack:
            concept = stack.pop()
            codes.add(concept["code"])
            stack.extend(concept.get("concept", []))
        result = frozenset(codes)
        self._cs_cache[url] = result
        return result
