"""ConceptMap `$translate` (R4 `group.element.target` with `equivalence`), forwards and back.

A code with no mapping answers `result` false and a message; no code is ever invented.
`group.unmapped` (provided/fixed/other-map) is not applied.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from server.errors import Invalid, NotFound
from server.terminology.expansion import Terminology
from server.terminology.operations import parameters

Json = dict[str, Any]

# Read backwards, "the source is wider than the target" becomes "narrower", and so on.
_REVERSED = {"wider": "narrower", "narrower": "wider", "subsumes": "specializes",
             "specializes": "subsumes"}
_NO_MATCH = ("unmatched", "disjoint")


def concept_map(terminology: Terminology, value: Json | str) -> Json:
    """Return the ConceptMap given, or registered at canonical `value`.

    Raises NotFound for an unknown URL and Invalid for a resource that is not a ConceptMap.
    """
    resource = terminology.definitions.by_url.get(value) if isinstance(value, str) else value
    if resource is None:
        raise NotFound(f"ConceptMap {value} is not known")
    if resource.get("resourceType") != "ConceptMap":
        raise Invalid("Expected a ConceptMap resource")
    return resource


def translate(terminology: Terminology, map_: Json | str, code: str, system: str,
              target_system: str | None = None, reverse: bool = False) -> Json:
    """Return Parameters with `result`, a `message` when false, and one `match` per target.

    Each match has `equivalence`, `concept` (a Coding) and `source` (the map's URL).
    `reverse` translates a code of the target system back to the source system. `result` is
    true when at least one match is neither `unmatched` nor `disjoint`. Raises like
    `concept_map`.
    """
    cm = concept_map(terminology, map_)
    source = cm.get("url")
    matches = [_match(equivalence, coding, source)
               for equivalence, coding in _targets(cm, code, system, target_system, reverse)]
    found = any(m["part"][0]["valueCode"] not in _NO_MATCH for m in matches)
    message = None if found else (
        f"No mapping for {system}#{code} in ConceptMap {source or '(inline)'}"
        + (f" to {target_system}" if target_system else ""))
    return parameters(
        {"name": "result", "valueBoolean": found},
        {"name": "message", "valueString": message} if message else {},
        *matches,
    )


def _targets(cm: Json, code: str, system: str, target_system: str | None,
             reverse: bool) -> Iterator[tuple[str, Json]]:
    for group in cm.get("group", []):
        src, tgt = group.get("source"), group.get("target")
        from_system, to_system = (tgt, src) if reverse else (src, tgt)
        if from_system != system or (target_system and to_system != target_system):
            continue
        to_version = group.get("sourceVersion" if reverse else "targetVersion")
        for element in group.get("element", []):
            for target in element.get("target", []):
                equivalence = target.get("equivalence", "equivalent")
                if reverse:
                    if target.get("code") != code:
                        continue
                    mapped, display = element.get("code"), element.get("display")
                    equivalence = _REVERSED.get(equivalence, equivalence)
                else:
                    if element.get("code") != code:
                        continue
                    mapped, display = target.get("code"), target.get("display")
                if mapped is None:
                    continue  # "unmatched" without a code: nothing to offer
                yield equivalence, _coding(to_system, to_version, mapped, display)


def _coding(system: str | None, version: str | None, code: str, display: str | None) -> Json:
    coding: Json = {}
    if system:
        coding["system"] = system
    if version:
        coding["version"] = version
    coding["code"] = code
    if display:
        coding["display"] = display
    return coding


def _match(equivalence: str, coding: Json, source: str | None) -> Json:
    part: list[Json] = [{"name": "equivalence", "valueCode": equivalence},
                        {"name": "concept", "valueCoding": coding}]
    if source:
        part.append({"name": "source", "valueUri": source})
    return {"name": "match", "part": part}
