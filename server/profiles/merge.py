"""Merging one differential element into its snapshot element, refusing loosened rules.

A profile may only constrain its base (R4 profiling.html#constraints): cardinality may
narrow but not widen, types may be dropped but not added, a required or extensible
binding may not get weaker, and a fixed value may not be changed to another value.
"""

from __future__ import annotations

import copy
from typing import Any

from server.profiles.elements import type_codes

Json = dict[str, Any]
Problem = tuple[str, str]  # (message_id, diagnostics)

STRENGTHS = ("example", "preferred", "extensible", "required")
# Types that admit any resource type in their place (Bundle.entry.resource, contained, ...).
_OPEN_TYPES = frozenset({"Resource", "DomainResource", "*"})
# Merged separately below, or identity keys that a differential never overrides.
_SPECIAL = frozenset({"id", "path", "constraint", "min", "max", "type", "binding"})


def parse_max(value: str) -> float:
    """Return a max cardinality as a number (`*` is infinity); raises ValueError if bad."""
    return float("inf") if value == "*" else int(value)


def merge_element(base: Json, diff: Json, *, new_slice: bool = False) -> tuple[Json, list[Problem]]:
    """Return the snapshot element with `diff` applied, and the loosenings it attempted.

    `new_slice` says the element is a slice first created by this profile: its min may
    be below the sliced element's min (the slices share that min between them).
    """
    merged = copy.deepcopy(base)
    element_id = base["id"]
    problems: list[Problem] = []
    for key, value in diff.items():
        if key in _SPECIAL:
            continue
        if key.startswith("fixed") and key in base and base[key] != value:
            problems.append(("profile-fixed-value-changed",
                             f"{element_id}: {key} is fixed by the base to {base[key]!r}"))
        merged[key] = copy.deepcopy(value)
    problems += _merge_cardinality(merged, base, diff, new_slice)
    if "type" in diff:
        problems += _check_types(element_id, type_codes(base), type_codes(diff))
        merged["type"] = copy.deepcopy(diff["type"])
    if "binding" in diff:
        problems += _check_binding(element_id, base.get("binding"), diff["binding"])
        merged["binding"] = copy.deepcopy(diff["binding"])
    if "constraint" in diff:
        # Base invariants are kept; a differential invariant with the same key replaces it.
        added = {c.get("key"): c for c in diff["constraint"]}
        kept = [c for c in base.get("constraint", []) if c.get("key") not in added]
        merged["constraint"] = kept + copy.deepcopy(list(added.values()))
    return merged, problems


def _merge_cardinality(merged: Json, base: Json, diff: Json, new_slice: bool) -> list[Problem]:
    element_id = base["id"]
    problems: list[Problem] = []
    base_min = 0 if new_slice else int(base.get("min", 0))
    base_max = parse_max(str(base.get("max", "*")))
    if "min" in diff:
        if int(diff["min"]) < base_min:
            problems.append(("profile-min-below-base",
                             f"{element_id}: min {diff['min']} is below the base min {base_min}"))
        merged["min"] = int(diff["min"])
    if "max" in diff:
        try:
            new_max = parse_max(str(diff["max"]))
        except ValueError:
            return [("profile-max-invalid", f"{element_id}: max {diff['max']!r} is not valid")]
        if new_max > base_max:
            problems.append(("profile-max-above-base",
                             f"{element_id}: max {diff['max']} is above the base max "
                             f"{base.get('max')}"))
        merged["max"] = str(diff["max"])
    if int(merged.get("min", 0)) > parse_max(str(merged.get("max", "*"))):
        problems.append(("profile-min-above-max",
                         f"{element_id}: min {merged.get('min')} is above max {merged.get('max')}"))
    return problems


def _check_types(element_id: str, base_codes: list[str], codes: list[str]) -> list[Problem]:
    if _OPEN_TYPES.intersection(base_codes):
        return []
    return [("profile-type-not-in-base",
             f"{element_id}: type {code} is not one of the base types {', '.join(base_codes)}")
            for code in codes if code not in base_codes]


def _check_binding(element_id: str, base: Json | None, binding: Json) -> list[Problem]:
    if not base or base.get("strength") not in ("required", "extensible"):
        return []
    strength = binding.get("strength", base["strength"])
    if strength in STRENGTHS and STRENGTHS.index(strength) < STRENGTHS.index(base["strength"]):
        return [("profile-binding-loosened",
                 f"{element_id}: binding strength {strength} is weaker than the base "
                 f"{base['strength']}")]
    return []
