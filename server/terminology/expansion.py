"""ValueSet expansion from the loaded definitions, with a cache keyed by url|version.

Expanded exactly and locally: explicit concept lists (any system), whole CodeSystems whose
`content` is `complete` (nested hierarchies included, abstract concepts marked), filters on
such CodeSystems, `valueSet` imports (intersected with each other and with `system`) and
`exclude`. Anything else (SNOMED CT, LOINC, UCUM... without local concepts) raises
`NotSupported` naming the system. The cache must be cleared with `invalidate()` after
CodeSystems or ValueSets are added to the registry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from server.definitions.registry import Definitions
from server.errors import FhirError, Invalid, NotFound, NotSupported
from server.terminology.codesystems import CodeSystemIndex, Concept

Json = dict[str, Any]
Key = tuple[str, str]  # (system, code)


@dataclass(frozen=True, slots=True)
class Entry:
    """One code of an expansion."""

    system: str
    code: str
    display: str | None = None
    version: str | None = None
    abstract: bool = False


@dataclass(frozen=True)
class Expansion:
    """The codes of one ValueSet, in expansion order, indexed by system and code."""

    entries: tuple[Entry, ...]
    by_system: dict[str, frozenset[str]] = field(init=False)
    all_codes: frozenset[str] = field(init=False)
    index: dict[Key, Entry] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        groups: dict[str, set[str]] = {}
        for entry in self.entries:
            groups.setdefault(entry.system, set()).add(entry.code)
        object.__setattr__(self, "by_system", {s: frozenset(c) for s, c in groups.items()})
        object.__setattr__(self, "all_codes", frozenset(e.code for e in self.entries))
        object.__setattr__(self, "index", {(e.system, e.code): e for e in self.entries})

    def contains(self, system: str | None, code: str) -> bool:
        """Return True if `code` (in `system`, or in any system when None) is in the set."""
        if system is None:
            return code in self.all_codes
        return (system, code) in self.index

    def has_system(self, system: str) -> bool:
        """Return True if the value set draws any codes from `system`."""
        return system in self.by_system

    def find(self, system: str | None, code: str) -> Entry | None:
        """Return the entry for `code` (first one in any system when `system` is None)."""
        if system is not None:
            return self.index.get((system, code))
        return next((e for e in self.entries if e.code == code), None)


def _unique(entries: Iterable[Entry]) -> list[Entry]:
    seen: dict[Key, Entry] = {}
    for entry in entries:
        seen.setdefault((entry.system, entry.code), entry)
    return list(seen.values())


class Terminology:
    """Expands ValueSets and indexes CodeSystems held by a `Definitions` registry."""

    def __init__(self, definitions: Definitions) -> None:
        self.definitions = definitions
        self._expansions: dict[Key, tuple[Json, Expansion | FhirError]] = {}
        self._systems: dict[Key, tuple[Json, CodeSystemIndex]] = {}

    def invalidate(self) -> None:
        """Forget every cached expansion and CodeSystem index."""
        self._expansions.clear()
        self._systems.clear()

    def value_set(self, url: str) -> Json:
        """Return the ValueSet at `url` (`url|version` allowed); raises NotFound."""
        vs = self.definitions.value_set(url)
        if vs is None:
            raise NotFound(f"ValueSet {url} is not known")
        return vs

    def code_system(self, url: str, version: str | None = None) -> CodeSystemIndex | None:
        """Return the index of CodeSystem `url`, or None if unknown.

        `version` is preferred when held; otherwise the version held is used (the R4
        publication pins versions it does not ship, e.g. task-code 3.6.0).
        """
        cs = self.definitions.code_system(f"{url}|{version}") if version else None
        cs = cs or self.definitions.code_system(url)
        if cs is None:
            return None
        key = (cs.get("url", url), cs.get("version") or "")
        cached = self._systems.get(key)
        if cached is None or cached[0] is not cs:
            cached = (cs, CodeSystemIndex(cs))
            self._systems[key] = cached
        return cached[1]

    def concept(self, url: str, code: str, version: str | None = None,
                purpose: str = "looked up") -> tuple[CodeSystemIndex, Concept | None]:
        """Return the held CodeSystem `url` and its concept `code` (None if a complete system
        does not define it). Raises `NotSupported` when the system is not held, or is
        incomplete and lacks the code (so no answer can be given)."""
        cs = self.code_system(url, version)
        if cs is None:
            raise NotSupported(f"CodeSystem {url} is not available on this server")
        found = cs.find(code)
        if found is None and not cs.complete:
            raise NotSupported(f"CodeSystem {url} is not complete on this server; "
                               f"code {code!r} cannot be {purpose}")
        return cs, found

    def expansion(self, value_set: Json | str) -> Expansion:
        """Return the expansion of a ValueSet resource or canonical URL.

        Raises NotFound for an unknown ValueSet URL, NotSupported when the set cannot be
        expanded from local definitions, Invalid for a resource that is not a ValueSet.
        """
        return self._expansion(value_set, frozenset())

    def _expansion(self, value_set: Json | str, seen: frozenset[str]) -> Expansion:
        vs = self.value_set(value_set) if isinstance(value_set, str) else value_set
        if vs.get("resourceType") != "ValueSet":
            raise Invalid("Expected a ValueSet resource")
        url = vs.get("url")
        if url in seen:
            raise NotSupported(f"ValueSet {url} imports itself (directly or indirectly)")
        # Only registered resources are cached; an ad-hoc resource is expanded every time.
        cacheable = isinstance(url, str) and self.definitions.value_set(url) is vs
        key = (url or "", vs.get("version") or "")
        cached = self._expansions.get(key) if cacheable else None
        if cached is None or cached[0] is not vs:
            try:
                result: Expansion | FhirError = self._compute(vs, seen | {url or ""})
            except (NotSupported, NotFound) as exc:
                result = exc  # remembered: an unexpandable set is not retried per call
            cached = (vs, result)
            if cacheable:
                self._expansions[key] = cached
        if isinstance(cached[1], FhirError):
            raise cached[1]
        return cached[1]

    def _compute(self, vs: Json, seen: frozenset[str]) -> Expansion:
        compose = vs.get("compose")
        if not compose:
            return Expansion(tuple(_from_expansion(vs)))
        entries = _unique(e for inc in compose.get("include", [])
                          for e in self._include(inc, seen))
        excluded = {(e.system, e.code) for exc in compose.get("exclude", [])
                    for e in self._include(exc, seen)}
        return Expansion(tuple(e for e in entries if (e.system, e.code) not in excluded))

    def _include(self, include: Json, seen: frozenset[str]) -> list[Entry]:
        selected: list[Entry] | None = None
        system = include.get("system")
        if system:
            selected = self._from_system(system, include)
        for vs_url in include.get("valueSet", []):
            nested = self._expansion(vs_url, seen)
            # Several valueSet entries (and a system) are intersected, per the spec.
            selected = list(nested.entries) if selected is None else [
                e for e in selected if (e.system, e.code) in nested.index]
        return selected or []

    def _from_system(self, system: str, include: Json) -> list[Entry]:
        version = include.get("version")
        cs = self.code_system(system, version)
        if "concept" in include:
            out = []
            for item in include["concept"]:
                known = cs.find(item["code"]) if cs is not None else None
                display = item.get("display") or (known.display if known else None)
                out.append(Entry(system, item["code"], display,
                                 cs.version if cs else version,
                                 known.abstract if known else False))
            return out
        if cs is None or not cs.complete:
            state = "not available locally" if cs is None else "not complete here"
            raise NotSupported(f"ValueSet needs CodeSystem {system} which is {state}; "
                               "it cannot be expanded by this server")
        concepts = cs.select(include.get("filter", []))
        return [Entry(system, c.code, c.display, cs.version, c.abstract) for c in concepts]


def _from_expansion(vs: Json) -> list[Entry]:
    expansion = vs.get("expansion")
    if not expansion or "contains" not in expansion:
        raise NotSupported(f"ValueSet {vs.get('url')} has neither compose nor expansion")
    out: list[Entry] = []
    stack = list(reversed(expansion["contains"]))
    while stack:
        item = stack.pop()
        if "system" in item and "code" in item:
            out.append(Entry(item["system"], item["code"], item.get("display"),
                             item.get("version"), item.get("abstract") is True))
        stack.extend(reversed(item.get("contains", [])))
    return out
