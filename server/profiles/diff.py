"""What changed between two versions of a profile, and who each change can break.

Both versions are StructureDefinitions with snapshots; elements are matched by id. Each
change is classified twice: for *senders* (systems that produce data conforming to the
old version: will their existing data still conform?) and for *receivers* (systems that
consume conforming data and relied on the old rules: can they now get data they don't
expect?).

| change | senders | receivers |
|---|---|---|
| element removed (or max set to 0), max reduced, min raised, type removed | breaking | compatible |
| binding added or strength tightened | breaking | compatible |
| fixed/pattern value added or changed | breaking | compatible |
| invariant added or its expression changed | breaking | compatible |
| required element added | breaking | compatible |
| optional element added, min lowered, max raised, type added | compatible | breaking |
| binding removed or strength loosened, fixed/pattern removed | compatible | breaking |
| invariant removed | compatible | breaking |
| mustSupport added (receivers must now process it) | compatible | breaking |
| binding valueSet changed | breaking | breaking |
| short, definition, comment, requirements, mustSupport removed | compatible | compatible |

A changed valueSet is breaking both ways: without expanding both sets Cradle cannot tell
whether the new one drops codes senders use or adds codes receivers don't know.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from server.profiles.elements import type_codes
from server.profiles.merge import STRENGTHS, parse_max

Json = dict[str, Any]
Impact = Literal["breaking", "compatible"]

BREAK: Impact = "breaking"
OK: Impact = "compatible"
COSMETIC = ("short", "definition", "comment", "requirements")


Add = Callable[[str, str, Impact, Impact], None]  # (kind, detail, senders, receivers)


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two versions of an element definition."""

    element_id: str
    kind: str  # stable kebab-case, e.g. `max-reduced`
    detail: str
    senders: Impact
    receivers: Impact


def diff_profiles(old: Json, new: Json) -> list[Change]:
    """Return the changes from `old` to `new` (both with snapshots), in element order.

    Raises KeyError if either StructureDefinition lacks a snapshot.
    """
    before = {e["id"]: e for e in old["snapshot"]["element"]}
    after = {e["id"]: e for e in new["snapshot"]["element"]}
    changes: list[Change] = []
    for element_id, element in after.items():
        if element_id not in before:
            changes.append(_added(element_id, element))
        else:
            changes += _compare(element_id, before[element_id], element)
    changes += [Change(i, "element-removed", f"{i} no longer exists", BREAK, OK)
                for i in before if i not in after]
    return changes


def _added(element_id: str, element: Json) -> Change:
    if int(element.get("min", 0)) > 0:
        return Change(element_id, "element-added-required",
                      f"new element, min {element['min']}", BREAK, OK)
    return Change(element_id, "element-added-optional", "new optional element", OK, BREAK)


def _compare(element_id: str, old: Json, new: Json) -> list[Change]:
    out: list[Change] = []

    def add(kind: str, detail: str, senders: Impact, receivers: Impact) -> None:
        out.append(Change(element_id, kind, detail, senders, receivers))

    old_min, new_min = int(old.get("min", 0)), int(new.get("min", 0))
    if new_min != old_min:
        raised = new_min > old_min
        add("min-raised" if raised else "min-lowered", f"min {old_min} -> {new_min}",
            BREAK if raised else OK, OK if raised else BREAK)
    old_max, new_max = str(old.get("max", "*")), str(new.get("max", "*"))
    if parse_max(new_max) != parse_max(old_max):
        reduced = parse_max(new_max) < parse_max(old_max)
        add("max-reduced" if reduced else "max-raised", f"max {old_max} -> {new_max}",
            BREAK if reduced else OK, OK if reduced else BREAK)
    old_types, new_types = type_codes(old), type_codes(new)
    for code in old_types:
        if code not in new_types:
            add("type-removed", f"type {code} removed", BREAK, OK)
    for code in new_types:
        if code not in old_types:
            add("type-added", f"type {code} added", OK, BREAK)
    _binding(old.get("binding"), new.get("binding"), add)
    _values(old, new, add)
    _constraints(old, new, add)
    if new.get("mustSupport", False) != old.get("mustSupport", False):
        added = bool(new.get("mustSupport"))
        add("must-support-added" if added else "must-support-removed",
            f"mustSupport {bool(old.get('mustSupport'))} -> {added}", OK, BREAK if added else OK)
    for key in COSMETIC:
        if old.get(key) != new.get(key):
            add(f"{key}-changed", f"{key} changed", OK, OK)
    return out


def _binding(old: Json | None, new: Json | None, add: Add) -> None:
    if old == new:
        return
    if not old or not new:
        tightened = bool(new)
        add("binding-added" if tightened else "binding-removed",
            f"binding {'added' if tightened else 'removed'}",
            BREAK if tightened else OK, OK if tightened else BREAK)
        return
    before, after = old.get("strength", "example"), new.get("strength", "example")
    if before != after and before in STRENGTHS and after in STRENGTHS:
        tightened = STRENGTHS.index(after) > STRENGTHS.index(before)
        add("binding-tightened" if tightened else "binding-loosened",
            f"binding strength {before} -> {after}",
            BREAK if tightened else OK, OK if tightened else BREAK)
    if old.get("valueSet") != new.get("valueSet"):
        add("binding-valueset-changed", f"valueSet {old.get('valueSet')} -> {new.get('valueSet')}",
            BREAK, BREAK)


def _values(old: Json, new: Json, add: Add) -> None:
    keys = [k for k in (*old, *new) if k.startswith(("fixed", "pattern"))]
    for key in dict.fromkeys(keys):
        prefix = "fixed" if key.startswith("fixed") else "pattern"
        if key not in old:
            add(f"{prefix}-added", f"{key} = {new[key]!r}", BREAK, OK)
        elif key not in new:
            add(f"{prefix}-removed", f"{key} was {old[key]!r}", OK, BREAK)
        elif old[key] != new[key]:
            add(f"{prefix}-changed", f"{key} {old[key]!r} -> {new[key]!r}", BREAK, OK)


def _constraints(old: Json, new: Json, add: Add) -> None:
    before = {c.get("key"): c for c in old.get("constraint", [])}
    after = {c.get("key"): c for c in new.get("constraint", [])}
    for key, constraint in after.items():
        if key not in before:
            add("constraint-added", f"invariant {key}: {constraint.get('expression')}", BREAK, OK)
        elif before[key].get("expression") != constraint.get("expression"):
            add("constraint-changed", f"invariant {key}: {constraint.get('expression')}",
                BREAK, OK)
    for key in before:
        if key not in after:
            add("constraint-removed", f"invariant {key} removed", OK, BREAK)
