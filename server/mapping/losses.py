"""What a mapping does not carry: every native value no rule read is reported, with the
map's reason where it gives one, so nothing is dropped silently."""

from __future__ import annotations

from typing import Any

from server.mapping import paths
from server.mapping.formats import Document
from server.mapping.mapfile import Mapping
from server.mapping.paths import Pointer
from server.mapping.report import MappingIssue


def blank(value: Any) -> bool:
    # FHIR strings need a non-space character: a cell of spaces is an empty cell.
    return isinstance(value, str) and not value.strip()


def report_not_carried(mapping: Mapping, document: Document, record: Any, pointer: Pointer,
                       consumed: set[Pointer]) -> list[MappingIssue]:
    """Every native value no rule read is reported (information): nothing is dropped silently.

    A reason in the map's `unmapped` covers that element in every repeated item; an element it
    names that no rule read any part of (an HL7 segment, a component) is reported once, there,
    rather than once per value under it. Values no reason covers are reported one by one.
    """
    by_name, positioned = mapping.unmapped_paths
    exact: dict[Pointer, str] = {}  # paths with positions or matches: the place they name
    for path, why in positioned:
        if (found := paths.get(record, path)) is not None:
            exact[found[1]] = why
    out: list[MappingIssue] = []
    reported: set[Pointer] = set()
    for leaf in _leaves(record, pointer):
        if any(leaf[:end] in consumed for end in range(len(leaf), -1, -1)):
            continue  # a rule read it, or a node holding it
        relative = leaf[len(pointer):]
        node, why = _reason(relative, exact, by_name)
        place = leaf if node is None else (*pointer, *node)
        if node is not None and any(c[:len(place)] == place for c in consumed):
            place = leaf  # a rule read part of that element: name just what it did not read
        if place in reported:
            continue
        reported.add(place)
        out.append(MappingIssue(
            "information", "informational", f"not carried into the common model: {why}",
            "map-not-carried", document.locate(place)))
    return out


def _reason(relative: Pointer, exact: dict[Pointer, str],
            by_name: tuple[tuple[tuple[str, ...], str], ...]) -> tuple[Pointer | None, str]:
    """The element of the record a reason names that holds `relative`, and the reason (None
    and the default when no reason covers it)."""
    for node, why in exact.items():
        if relative[:len(node)] == node:
            return node, why
    names = [(i, str(step)) for i, step in enumerate(relative) if not isinstance(step, int)]
    for keys, why in by_name:
        if tuple(name for _, name in names[:len(keys)]) == keys and len(names) >= len(keys):
            return relative[:names[len(keys) - 1][0] + 1], why
    return None, "no rule carries it"


def _leaves(node: Any, pointer: Pointer) -> list[Pointer]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _leaves(v, (*pointer, k))]
    if isinstance(node, list):
        return [leaf for i, v in enumerate(node) for leaf in _leaves(v, (*pointer, i))]
    return [] if node in (None, "") or blank(node) else [pointer]
