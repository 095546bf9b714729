"""Snapshot generation for differential-only StructureDefinitions (R4 profiling.html#snapshot).

The snapshot starts as a copy of the base definition's snapshot (generated first when the
base is itself a differential-only profile). Each differential element is then placed by
its id: data types are expanded when it reaches below the base snapshot, renamed choices
resolve to `[x]`, and a new slice is appended after its sliced element and the slices
already there, with its children copied from the sliced element. Differential values
override the base; invariants are added to the base's. A differential that loosens its
base, or names an element that does not exist, is an authoring error: it raises `Invalid`
naming every offending element rather than producing a snapshot that cannot be trusted.
"""

from __future__ import annotations

import copy
from typing import Any

from server.definitions.registry import Definitions
from server.errors import Invalid, Issue
from server.profiles.elements import ElementError, ElementList
from server.profiles.merge import merge_element

Json = dict[str, Any]


def generate_snapshot(sd: Json, definitions: Definitions) -> Json:
    """Return a copy of `sd` whose `snapshot.element` is generated from its base.

    `definitions` must hold the base definition (and its bases, and the data types the
    differential reaches into). Raises `Invalid` with one issue per authoring error.
    """
    return _generate(sd, definitions, ())


def element_id_of(element: Json) -> str:
    """Return a differential element's id, derived from path and sliceName if missing."""
    if element.get("id"):
        return str(element["id"])
    path = str(element.get("path", ""))
    return f"{path}:{element['sliceName']}" if element.get("sliceName") else path


def _generate(sd: Json, definitions: Definitions, chain: tuple[str, ...]) -> Json:
    name = str(sd.get("name") or sd.get("id") or sd.get("url") or "StructureDefinition")
    url = str(sd.get("url", name))
    if url in chain:
        raise _invalid(name, "profile-circular-base",
                       f"baseDefinition chain loops: {' -> '.join((*chain, url))}", None)
    base = _base_of(sd, definitions, name)
    if "snapshot" not in base:
        base = _generate(base, definitions, (*chain, url))
    if sd.get("type") and base.get("type") and sd["type"] != base["type"]:
        raise _invalid(name, "profile-type-mismatch",
                       f"type {sd['type']} differs from its base's type {base['type']}", None)
    listing = ElementList(copy.deepcopy(base["snapshot"]["element"]), definitions)
    issues: list[Issue] = []
    for diff in sd.get("differential", {}).get("element", []):
        element_id = element_id_of(diff)
        new_slice = ":" in element_id.rsplit(".", 1)[-1] and listing.find(element_id) is None
        try:
            target = listing.locate(element_id)
        except ElementError as error:
            issues.append(_issue(name, error.message_id, str(error), element_id))
            continue
        merged, problems = merge_element(target, diff, new_slice=new_slice)
        position = listing.find(target["id"])
        assert position is not None
        listing.elements[position] = merged
        issues += [_issue(name, mid, text, target["id"]) for mid, text in problems]
    if issues:
        raise Invalid(issues=issues)
    out = copy.deepcopy(sd)
    out["snapshot"] = {"element": listing.elements}
    return out


def _base_of(sd: Json, definitions: Definitions, name: str) -> Json:
    """Return the base StructureDefinition; raises `Invalid` if it is missing or unknown."""
    base_url = sd.get("baseDefinition")
    if not base_url:
        raise _invalid(name, "profile-no-base", "baseDefinition is missing", None)
    base = definitions.structure_definition(str(base_url))
    if base is None:
        raise _invalid(name, "profile-base-not-found",
                       f"baseDefinition {base_url} is not a known StructureDefinition", None)
    if "snapshot" not in base and "differential" not in base:
        raise _invalid(name, "profile-base-empty",
                       f"baseDefinition {base_url} has neither snapshot nor differential", None)
    return base


def _issue(profile: str, message_id: str, diagnostics: str, expression: str | None) -> Issue:
    return Issue("error", "invalid", f"{profile}: {diagnostics}", expression, message_id)


def _invalid(profile: str, message_id: str, diagnostics: str, expression: str | None) -> Invalid:
    return Invalid(issues=[_issue(profile, message_id, diagnostics, expression)])
