"""Per-value checks the walker runs after the structure: bindings, fixed/pattern values,
Reference target types, and FHIRPath invariants. Each appends its issues to `found`.
"""

from __future__ import annotations

from typing import Any

from server.errors import Issue
from server.validation.compiled import Slot
from server.validation.fixed import contains, equal, fixed_mismatch, pattern_mismatch
from server.validation.invariants import Constraint, NotEvaluable
from server.validation.issues import (
    Found,
    reference_target,
    target_profile_unchecked,
)


def fixed(value: Any, slot: Slot, path: str, found: Found) -> None:
    """Append an error if `value` breaks the slot's fixed[x] or pattern[x]."""
    if slot.fixed is not None and not equal(value, slot.fixed):
        found.append(fixed_mismatch(slot.element, slot.fixed, path))
    elif slot.pattern is not None and not contains(value, slot.pattern):
        found.append(pattern_mismatch(slot.element, slot.pattern, path))


def reference(value: dict[str, Any], slot: Slot, path: str, found: Found,
              resource_types: frozenset[str]) -> None:
    """Append issues if a literal reference names a type its targetProfile excludes.

    Local (`#id`), `urn:` and typeless references are not checked; a type allowed only
    through a non-base profile gives a warning, since checking it needs the target.
    """
    allowed = slot.target_types
    ref = value.get("reference")
    if allowed is None or type(ref) is not str or ref.startswith(("#", "urn:")):
        return
    parts = ref.split("/_history/", 1)[0].split("/")
    if len(parts) < 2 or parts[-2] not in resource_types:
        return
    ref_type = parts[-2]
    if ref_type not in allowed:
        found.append(reference_target(ref_type, allowed, f"{path}.reference"))
        return
    profiles = [url for url, type_ in slot.target_profiles if type_ == ref_type]
    if profiles:
        found.append(target_profile_unchecked(profiles, f"{path}.reference"))


def invariants(focus: Any, constraints: tuple[Constraint, ...], path: str,
               found: Found) -> None:
    """Evaluate invariants at one element; an unevaluable one is reported once per key."""
    for con in constraints:
        try:
            result = con.check(focus, found.resource, found.root)
        except NotEvaluable as exc:
            if con.key not in found.skipped:
                found.skipped.add(con.key)
                found.append(Issue("information", "informational",
                                   f"{con.key} not evaluated: {exc}", path,
                                   "invariant-not-evaluated"))
            continue
        if result is False:
            found.append(con.issue(path))


