"""Slicing: which slice of a profile an array item belongs to, and why it belongs to none.

At compile time every slice gets one `Expectation` per discriminator, read from the
snapshot (the fixed/pattern value at the discriminator path, `exists`, the allowed types
or profiles). At validation time `mismatch` tests an item against those expectations.
Discriminator paths that need resolve(), extension('...') or other FHIRPath functions are
not evaluated: they are recorded as `unsupported` and reported as a warning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from server.definitions.registry import Definitions
from server.errors import Issue
from server.validation.fixed import constraint_value, contains, equal
from server.validation.paths import values_at

if TYPE_CHECKING:
    from server.validation.compiled import Slot

_SIMPLE_PATH = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*")
# (value, profile URL) -> True if the value conforms to the profile
Conforms = Callable[[Any, str], bool]


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a slice requires at one discriminator path."""

    kind: str  # fixed, pattern, exists, type or profile
    path: str
    keys: tuple[str, ...]
    value: Any


@dataclass(slots=True, eq=False)
class Slicing:
    """The slicing declared on a repeating element, with its slices in snapshot order."""

    rules: str
    ordered: bool
    discriminators: list[tuple[str, str]]
    slices: list[Slot] = field(default_factory=list)
    unsupported: set[str] = field(default_factory=set)


def expectations(slicing: Slicing, slice_el: dict[str, Any], by_id: dict[str, Any],
                 defs: Definitions) -> tuple[Expectation, ...]:
    """Return the slice's expectation per discriminator (unusable ones go to `unsupported`)."""
    out: list[Expectation] = []
    sid = slice_el["id"]
    profiles = [p for t in slice_el.get("type", ()) for p in t.get("profile", ())]
    for kind, path in slicing.discriminators:
        if path == "$this":
            keys: tuple[str, ...] = ()
            el: dict[str, Any] | None = slice_el
        elif _SIMPLE_PATH.fullmatch(path):
            keys = tuple(path.split("."))
            el = by_id.get(f"{sid}.{path}") or by_id.get(f"{sid}.{path}[x]")
            if el is None and profiles:
                el = _in_profile(defs, profiles[0], path)
        else:
            slicing.unsupported.add(path)
            continue
        found = _expect(kind, path, keys, el, profiles)
        if found is None:
            slicing.unsupported.add(path)
        else:
            out.append(found)
    return tuple(out)


def _expect(kind: str, path: str, keys: tuple[str, ...], el: dict[str, Any] | None,
            profiles: list[str]) -> Expectation | None:
    if kind in ("value", "pattern"):
        fixed = constraint_value(el, "fixed") if el else None
        if fixed is not None:
            return Expectation("fixed", path, keys, fixed)
        pattern = constraint_value(el, "pattern") if el else None
        if pattern is not None:
            return Expectation("pattern", path, keys, pattern)
        if keys == ("url",) and profiles:
            # Extension slices name their extension by type profile, not by a fixed url.
            return Expectation("fixed", path, keys, profiles[0])
        return None
    if el is None:
        return None
    if kind == "exists":
        if el.get("max") == "0":
            return Expectation("exists", path, keys, False)
        return Expectation("exists", path, keys, True) if el.get("min", 0) >= 1 else None
    if kind == "type":
        return Expectation("type", path, keys, frozenset(t["code"] for t in el.get("type", ())))
    if kind == "profile":
        urls = [p for t in el.get("type", ()) for p in t.get("profile", ())]
        return Expectation("profile", path, keys, tuple(urls)) if urls else None
    return None


def _in_profile(defs: Definitions, url: str, path: str) -> dict[str, Any] | None:
    sd = defs.structure_definition(url)
    if sd is None or "snapshot" not in sd:
        return None
    wanted = {f"{sd['type']}.{path}", f"{sd['type']}.{path}[x]"}
    return next((e for e in sd["snapshot"]["element"] if e.get("id") in wanted), None)


def mismatch(item: Any, slice_: Slot, conforms: Conforms) -> str | None:
    """Return why `item` is not in `slice_`: every discriminator that fails, with the value
    found and the value expected (None when every discriminator matches)."""
    reasons: list[str] = []
    for exp in slice_.expect:
        values = values_at(item, exp.keys)
        where = exp.path
        if exp.kind == "fixed" and not any(equal(v, exp.value) for v in values):
            reasons.append(_differs(where, values, exp.value, "be"))
        elif exp.kind == "pattern" and not any(contains(v, exp.value) for v in values):
            reasons.append(_pattern_reason(where, values, exp.value))
        elif exp.kind == "exists" and bool(values) != exp.value:
            reasons.append(f"{where} {'is missing' if exp.value else 'must be absent'}")
        elif exp.kind == "type":
            types = {v.get("resourceType") for v in values if type(v) is dict}
            if not types & exp.value:
                reasons.append(f"{where} is not of type {'|'.join(sorted(exp.value))}")
        elif exp.kind == "profile" and not reasons and not any(
                conforms(v, p) for v in values for p in exp.value):
            # Conformance is the costly check: once another discriminator failed, skip it.
            reasons.append(f"{where} does not conform to {' or '.join(exp.value)}")
    return " and ".join(reasons) or None


def _show(value: Any) -> str:
    """A value for a message: strings bare, anything else as compact JSON, cut at 120."""
    text = value if type(value) is str else json.dumps(value, separators=(",", ":"),
                                                       ensure_ascii=False, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def _differs(where: str, values: list[Any], expected: Any, verb: str) -> str:
    if not values:
        return f"{where} is missing, must {verb} {_show(expected)}"
    found = _show(values[0]) if len(values) == 1 else f"[{', '.join(map(_show, values))}]"
    return f"{where} is {found}, not {_show(expected)}"


def _pattern_reason(where: str, values: list[Any], pattern: Any) -> str:
    """Name the first part of `pattern` no value holds (`coding.system is x, not y`)."""
    if type(pattern) is dict and values and all(type(v) is dict for v in values):
        for key, part in pattern.items():
            if not any(key in v and contains(v[key], part) for v in values):
                below = [x for v in values for x in _as_list(v.get(key))]
                path = key if where == "$this" else f"{where}.{key}"
                return _pattern_reason(path, below, part)
    if type(pattern) is list and len(pattern) == 1:
        return _pattern_reason(where, values, pattern[0])
    if type(pattern) in (dict, list):
        if not values:
            return f"{where} is missing, must match {_show(pattern)}"
        return f"{where} does not match {_show(pattern)}"
    return _differs(where, values, pattern, "be")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return [v for v in value if v is not None] if type(value) is list else [value]


def _item_label(path: str, index: int) -> str:
    return f"{path.rsplit('.', 1)[-1]}[{index}]"


def apply(items: list[Any], slot: Slot, path: str, conforms: Conforms
          ) -> tuple[list[Slot], list[Issue]]:
    """Assign each item to its first matching slice (else `slot`) and check the rules.

    Returns the slot to validate each item against, and the slicing issues: per-slice
    cardinality, closed-slicing and openAtEnd/ordered violations, skipped discriminators.
    An item in no slice of a closed slicing, and a required slice no item fills, are
    reported with each candidate (slice or item) and the discriminator it failed.
    """
    assert slot.slicing is not None
    slicing, issues = slot.slicing, []
    chosen: list[Slot] = []
    counts = dict.fromkeys(range(len(slicing.slices)), 0)
    # per slice: why each item is not in it (for the slice-cardinality message)
    tried: dict[int, list[str]] = {index: [] for index in counts}
    last_sliced, first_open, order = -1, len(items), -1
    for i, item in enumerate(items):
        reasons: list[str] = []
        label = _item_label(path, i)
        for index, slice_ in enumerate(slicing.slices):
            why = mismatch(item, slice_, conforms)
            if why is None:
                chosen.append(slice_)
                counts[index] += 1
                last_sliced = i
                for later in range(index + 1, len(slicing.slices)):
                    tried[later].append(f"{label} (is in slice {slice_.slice_name})")
                if slicing.ordered and index < order:
                    issues.append(Issue("error", "structure", f"{slot.element} slices are "
                                        "ordered; this item is out of order",
                                        f"{path}[{i}]", "slice-order"))
                order = max(order, index)
                break
            reasons.append(f"{slice_.slice_name} ({why})")
            tried[index].append(f"{label} ({why})")
        else:
            chosen.append(slot)
            first_open = min(first_open, i)
            if slicing.rules == "closed":
                issues.append(Issue("error", "structure", f"{slot.element} is closed and no "
                                    f"slice matched this item: "
                                    f"{'; '.join(reasons) or 'there are no slices'}",
                                    f"{path}[{i}]", "no-matching-slice"))
    if slicing.rules == "openAtEnd" and first_open < last_sliced:
        issues.append(Issue("error", "structure", f"{slot.element} is openAtEnd: unsliced "
                            "items must follow the sliced ones", f"{path}[{first_open}]",
                            "slice-open-at-end"))
    issues.extend(_counts(slicing, counts, path, tried))
    if slicing.unsupported:
        issues.append(Issue("warning", "not-supported", f"{slot.element} discriminator(s) "
                            f"{', '.join(sorted(slicing.unsupported))} not evaluated",
                            path, "discriminator-not-supported"))
    return chosen, issues


def missing_slices(slot: Slot, path: str) -> list[Issue]:
    """Return slice-cardinality errors for a sliced element that is absent altogether."""
    assert slot.slicing is not None
    return _counts(slot.slicing, dict.fromkeys(range(len(slot.slicing.slices)), 0), path)


def _counts(slicing: Slicing, counts: dict[int, int], path: str,
            tried: dict[int, list[str]] | None = None) -> list[Issue]:
    issues = []
    for index, count in counts.items():
        slice_ = slicing.slices[index]
        if count < slice_.min or (slice_.max is not None and count > slice_.max):
            bound = "*" if slice_.max is None else slice_.max
            message = f"Slice {slice_.element} needs {slice_.min}..{bound} items, found {count}"
            if count < slice_.min:
                candidates = (tried or {}).get(index) or []
                message += (f"; no item matched: {'; '.join(candidates)}" if candidates
                            else f"; {path.rsplit('.', 1)[-1]} is absent")
            issues.append(Issue("error", "structure", message, path, "slice-cardinality"))
    return issues
