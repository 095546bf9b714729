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
    A reason in the map's `unmapped` covers that element in every repeated item."""
    out: list[MappingIssue] = []
    exact: dict[Pointer, str] = {}  # paths with positions or matches: the place they name
    by_name: list[tuple[tuple[str, ...], str]] = []  # plain key paths: in every repeated item
    for text, why in mapping.unmapped.items():
        path = paths.parse(text)
        if all(isinstance(a, paths.Key) for a in path.atoms):
            by_name.append((_names(path.atoms), why))
        elif (found := paths.get(record, path)) is not None:
            exact[found[1]] = why
    for leaf in _leaves(record, pointer):
        if any(leaf[:end] in consumed for end in range(len(leaf), -1, -1)):
            continue  # a rule read it, or a node holding it
        relative = leaf[len(pointer):]
        names = tuple(str(step) for step in relative if not isinstance(step, int))
        why = next((w for p, w in exact.items() if relative[:len(p)] == p), None) or next(
            (w for keys, w in by_name if names[:len(keys)] == keys), "no rule carries it")
        out.append(MappingIssue(
            "information", "informational", f"not carried into the common model: {why}",
            "map-not-carried", document.locate(leaf)))
    return out


def _names(atoms: tuple[paths.Atom, ...]) -> tuple[str, ...]:
    return tuple(a.name for a in atoms if isinstance(a, paths.Key))


def _leaves(node: Any, pointer: Pointer) -> list[Pointer]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _leaves(v, (*pointer, k))]
    if isinstance(node, list):
        return [leaf for i, v in enumerate(node) for leaf in _leaves(v, (*pointer, i))]
    return [] if node in (None, "") or blank(node) else [pointer]
