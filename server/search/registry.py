"""Search parameters, built from the official R4 SearchParameter definitions.

Only parameters Cradle can index are listed: composite and special parameters, and those without
a FHIRPath expression (`_text`, `_content`, `_query`), are left out so the CapabilityStatement
never advertises a parameter that would be silently ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from server.definitions.registry import Definitions
from server.fhir.fhirpath_text import split_top_level

SUPPORTED_TYPES = frozenset({"string", "token", "date", "reference", "uri", "number", "quantity"})
# Resources that are not DomainResources (no text, contained, extension at the root).
NON_DOMAIN = frozenset({"Bundle", "Binary", "Parameters"})


# Storage tuning: every index entry costs a database write, so parameters whose values are too
# common to narrow a search (a status, a gender, the profile every such resource claims) are not
# driven ("": searched by evaluating candidates found through another parameter). The AuditEvent
# is written on every request; Patient, Observation, Flag, ServiceRequest, EpisodeOfCare and
# Provenance on every agency record. `patient` on AuditEvent is driven by `entity`, a superset.
_COMMON = {"_profile": "", "status": ""}
# `_lastUpdated` lookups use the store's (t, ts) index (see `server.search.lookup`); the audit
# trail has no such index, so there it stays a driver.
EVERY_TYPE = {"_lastUpdated": ""}
DRIVER_OVERRIDES: dict[str, dict[str, str]] = {
    "AuditEvent": {"_lastUpdated": "_lastUpdated", "patient": "entity", "action": "",
                   "address": "", "agent-name": "", "agent-role": "", "altid": "",
                   "entity-name": "", "entity-role": "", "entity-type": "", "outcome": "",
                   "policy": "", "site": "", "source": "", "type": ""},
    "Patient": {"_profile": "", "gender": ""},
    # `combo-code` (Observation.code | Observation.component.code) holds every `code` value.
    "Observation": {**_COMMON, "category": "", "code": "combo-code", "performer": ""},
    "Flag": _COMMON,
    "ServiceRequest": {**_COMMON, "intent": ""},
    "EpisodeOfCare": {**_COMMON, "type": "", "date": ""},
    "Provenance": {"agent": "", "agent-type": "", "recorded": ""},
}
# `X.where(resolve() is Patient)`: a reference parameter narrowed to one target type.
_NARROWED = re.compile(r"^(?P<wider>.+)\.where\(resolve\(\) is [A-Za-z]+\)$")


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One search parameter as it applies to one resource type.

    `expression` holds only the union branches that apply to `resource_type` (a parameter shared
    by several bases has `Patient.name | Practitioner.name`); `targets` are the reference target
    types; `modifiers`/`comparators` come verbatim from the definition.
    """

    name: str
    type: str
    expression: str
    resource_type: str
    url: str
    targets: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = ()
    comparators: tuple[str, ...] = ()
    multiple_or: bool = True
    documentation: str = ""


def split_union(expression: str) -> list[str]:
    """Return the top-level `|` branches of a FHIRPath expression (ignoring nested ones)."""
    return [p for p in split_top_level(expression, "|") if p]


def branch_root(branch: str) -> str:
    """Return the type name a FHIRPath branch starts from (`(Obs.value as X)` → `Obs`)."""
    text = branch.lstrip("( ")
    end = 0
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    return text[:end]


class SearchParameterRegistry:
    """Search parameters per resource type: the official ones plus any added later."""

    def __init__(self, definitions: Definitions) -> None:
        self.definitions = definitions
        self._json: dict[tuple[str, str], dict[str, Any]] = {}
        self._cache: dict[str, dict[str, SearchParam]] = {}
        self._drivers: dict[str, dict[str, str]] = {}
        for sp in definitions.search_parameters:
            self.add(sp)

    def add(self, search_parameter: dict[str, Any]) -> None:
        """Register a SearchParameter resource (a later one with the same code and base wins)."""
        for base in search_parameter.get("base", []):
            self._json[(base, search_parameter["code"])] = search_parameter
        self._cache.clear()
        self._drivers.clear()

    def for_type(self, resource_type: str) -> dict[str, SearchParam]:
        """Return the supported parameters of `resource_type` by name, incl. Resource-level ones.

        `Resource` itself gives only the Resource-level parameters (for system-level search).
        """
        cached = self._cache.get(resource_type)
        if cached is not None:
            return cached
        bases = ["Resource"]
        if resource_type not in NON_DOMAIN and resource_type != "Resource":
            bases.append("DomainResource")
        bases.append(resource_type)
        out: dict[str, SearchParam] = {}
        for (base, code), sp in self._json.items():
            if base in bases:
                param = self._make(sp, resource_type, base)
                if param is not None:
                    out[code] = param
        self._cache[resource_type] = out
        return out

    def driver_names(self, resource_type: str) -> dict[str, str]:
        """Map each parameter whose values all appear under a wider parameter to that one.

        `family` (`Patient.name.family`) and `phonetic` (`Patient.name`) map to `name`, `phone`
        (`Patient.telecom.where(...)`) to `telecom`: their lookups can be driven by the wider
        parameter's keys, so only those are indexed (see `server.search.lookup`). String and
        token parameters only, whose keys carry the same value forms; and reference parameters
        narrowed to one target type. `DRIVER_OVERRIDES` adds the storage tuning.
        """
        cached = self._drivers.get(resource_type)
        if cached is not None:
            return cached
        params = [p for p in self.for_type(resource_type).values()
                  if p.type in ("string", "token") and "|" not in p.expression]
        params.sort(key=lambda p: (len(p.expression), p.name))
        names: dict[str, str] = {}
        for param in params:
            for wider in params:
                if wider is param:
                    break
                if wider.type == param.type and (
                        param.expression == wider.expression
                        or param.expression.startswith(wider.expression + ".")):
                    names[param.name] = names.get(wider.name, wider.name)
                    break
        names.update(self._narrowed_references(resource_type))
        names.update(EVERY_TYPE)
        names.update(DRIVER_OVERRIDES.get(resource_type, {}))
        self._drivers[resource_type] = names
        return names

    def _narrowed_references(self, resource_type: str) -> dict[str, str]:
        """Map `patient` (`Observation.subject.where(resolve() is Patient)`) to `subject`
        (`Observation.subject`): its keys are a subset of the wider parameter's."""
        params = self.for_type(resource_type).values()
        by_expression = {p.expression: p.name for p in params if p.type == "reference"}
        names: dict[str, str] = {}
        for param in params:
            narrowed = _NARROWED.match(param.expression) if param.type == "reference" else None
            wider = by_expression.get(narrowed["wider"]) if narrowed else None
            if wider is not None:
                names[param.name] = wider
        return names

    def supported_for(self, resource_type: str) -> list[SearchParam]:
        """Return the indexed parameters of `resource_type` sorted by name (for the
        CapabilityStatement)."""
        return sorted(self.for_type(resource_type).values(), key=lambda p: p.name)

    def get(self, resource_type: str, name: str) -> SearchParam | None:
        """Return one parameter of `resource_type`, or None if unknown or unsupported."""
        return self.for_type(resource_type).get(name)

    @staticmethod
    def _make(sp: dict[str, Any], resource_type: str, base: str) -> SearchParam | None:
        if sp.get("type") not in SUPPORTED_TYPES or not sp.get("expression"):
            return None
        roots = {resource_type, base, "Resource", "DomainResource"}
        branches = [b for b in split_union(sp["expression"]) if branch_root(b) in roots]
        if not branches:
            return None
        return SearchParam(
            name=sp["code"],
            type=sp["type"],
            expression=" | ".join(branches),
            resource_type=resource_type,
            url=sp.get("url", ""),
            targets=tuple(sp.get("target", ())),
            modifiers=tuple(sp.get("modifier", ())),
            comparators=tuple(sp.get("comparator", ())),
            multiple_or=bool(sp.get("multipleOr", True)),
            documentation=sp.get("description", ""),
        )
