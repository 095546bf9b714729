"""Trim resources for `_summary` and `_elements`, marking them SUBSETTED."""

from __future__ import annotations

from functools import cache
from typing import Any

from server.definitions.registry import Definitions

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
             "code": "SUBSETTED", "display": "subsetted"}
ALWAYS = frozenset({"resourceType", "id", "meta"})


@cache
def _top_level(definitions: Definitions, resource_type: str) -> tuple[
        frozenset[str], frozenset[str], frozenset[str]]:
    summary: set[str] = set()
    mandatory: set[str] = set()
    choices: set[str] = set()
    sd = definitions.structure_definition(resource_type) or {}
    for element in (sd.get("snapshot") or {}).get("element", ()):
        parts = element.get("path", "").split(".")
        if len(parts) != 2:
            continue
        if element.get("isSummary"):
            summary.add(parts[1])
        if element.get("min", 0) > 0:
            mandatory.add(parts[1])
        if parts[1].endswith("[x]"):
            choices.add(parts[1][:-3])
    return frozenset(summary), frozenset(mandatory), frozenset(choices)


def summary_elements(definitions: Definitions, resource_type: str) -> frozenset[str]:
    """Return the top-level element names marked `isSummary` (choices as `value[x]`)."""
    return _top_level(definitions, resource_type)[0]


def _keep(resource: dict[str, Any], names: set[str]) -> dict[str, Any]:
    choices = tuple(n[:-3] for n in names if n.endswith("[x]"))
    out: dict[str, Any] = {}
    for key, value in resource.items():
        bare = key[1:] if key.startswith("_") else key
        if bare in names or key in ALWAYS or any(
                bare.startswith(c) and bare[len(c):][:1].isupper() for c in choices):
            out[key] = value
    return out


def _mark(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    resource["meta"] = meta
    return resource


def shape(resource: dict[str, Any], definitions: Definitions, summary: str | None,
          elements: tuple[str, ...]) -> dict[str, Any]:
    """Return `resource` trimmed per `_summary` (true/text/data) or `_elements`.

    Mandatory top-level elements are always kept; the result carries the SUBSETTED tag when
    anything was selected. `resource` itself is returned unchanged when nothing applies.
    """
    rtype = resource.get("resourceType", "")
    summary_names, mandatory, choices = _top_level(definitions, rtype)
    if summary == "true":
        return _mark(_keep(resource, set(summary_names) | set(mandatory)))
    if summary == "text":
        return _mark(_keep(resource, {"text"} | set(mandatory)))
    if summary == "data":
        return _mark({k: v for k, v in resource.items() if k != "text"})
    if elements:
        names = {e.split(".", 1)[1] if e.startswith(rtype + ".") else e for e in elements}
        names |= mandatory
        names |= {f"{n}[x]" for n in names if n in choices}
        return _mark(_keep(resource, names))
    return resource
