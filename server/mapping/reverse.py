"""Common -> native: FHIR resources through the same map, read backwards, into the agency's
native tree (then its format's writer renders bytes).

Each plain rule runs inverted (FHIR value -> `format` back -> native place); a coded rule keeps
the agency's own coding when the resource carries it, else translates the national code back
through the ConceptMap (`$translate` reverse); a computed rule runs its `reverse` expression;
`oneWay` rules and references are skipped. A value that cannot be carried back is an issue.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from server.mapping import expressions, paths
from server.mapping.codes import Codes
from server.mapping.conversions import CONVERSIONS, ConversionError
from server.mapping.mapfile import Mapping, ResourceMap, Rule
from server.mapping.report import MappingIssue

Json = dict[str, Any]
_ITEM = paths.Key("item")


@dataclass
class Rendered:
    tree: Any
    issues: list[MappingIssue] = field(default_factory=list)


@dataclass
class _Place:
    """Where native values are written: holders keep a slot ("item") so `$this` can replace
    the item itself."""

    item: dict[str, Any]
    record: dict[str, Any]
    document: dict[str, Any]

    def assign(self, path: paths.Path, value: Any) -> None:
        holder = (self.document if path.root == "document" else
                  self.record if path.root == "record" else self.item)
        paths.assign(holder, paths.Path(path.text, (_ITEM, *path.atoms)), value)


def render(mapping: Mapping, records: list[dict[str, list[Json]]], codes: Codes,
           agency_id: str) -> Rendered:
    """Return the native tree holding one native record per entry of `records` (each: resource
    map name -> the resources to render for it). Never raises for content: what cannot be
    carried back is reported."""
    out = Rendered(None)
    kinds = {_kind(mapping, resources) for resources in records}
    own = [k.document for k in mapping.records if k.name in kinds and k.document]
    skeleton = own[0] if len(kinds) == 1 and own else mapping.document
    document = {"item": copy.deepcopy(skeleton)}
    rows: list[tuple[Any, str]] = []
    for resources in records:
        kind = _kind(mapping, resources)
        record: dict[str, Any] = {"item": {}}
        place = _Place(record, record, document)
        for resource_map in mapping.resources:
            if resource_map.records in (None, kind):
                _render(mapping, resource_map, resources, place, codes, agency_id, out, None)
        rows.append((paths.prune(record["item"]), kind))
    if mapping.format == "csv":
        out.tree = [row for row, _ in rows]
    elif mapping.records:
        paths_of = {k.name: paths.Path(k.path.text, (_ITEM, *k.path.atoms))
                    for k in mapping.records}
        for row, kind in rows:
            _append(document, paths_of[kind], row)
        out.tree = document["item"]
    else:
        out.tree = _merge(document["item"], rows[0][0] if rows else {})
    return out


def _kind(mapping: Mapping, resources: dict[str, list[Json]]) -> str:
    """The record kind to render: that of the first kind-bound resource map with resources."""
    for resource_map in mapping.resources:
        if resource_map.records and resources.get(resource_map.name):
            return resource_map.records
    return mapping.records[0].name if mapping.records else "record"


def _render(mapping: Mapping, resource_map: ResourceMap, resources: dict[str, list[Json]],
            parent: _Place, codes: Codes, agency_id: str, out: Rendered,
            owner: tuple[str, Json] | None) -> None:
    chosen = _belonging(resource_map, resources.get(resource_map.name, []), owner)
    if not resource_map.each:
        chosen = chosen[:1]
    for resource in chosen:
        place = parent
        holder: dict[str, Any] = {"item": None}  # a dict, list or text: what its rules write
        if resource_map.each:
            place = _Place(holder, parent.record, parent.document)
        variables = {"agency": agency_id, "resource": resource}
        for rule in resource_map.rules:
            _rule(rule, resource, place, codes, variables, out)
        for child in resource_map.children:
            _render(mapping, child, resources, place, codes, agency_id, out,
                    (resource_map.name, resource))
        if resource_map.each and holder["item"] not in (None, {}, []):
            _append_at(parent, resource_map.each, holder["item"])


def _belonging(resource_map: ResourceMap, candidates: list[Json],
               owner: tuple[str, Json] | None) -> list[Json]:
    """Of a nested map's resources, those that refer to the resource rendered around them
    (through the map's own `reference` rule to it); all of them when no rule says."""
    if owner is None:
        return candidates
    name, resource = owner
    target = f"{resource.get('resourceType')}/{resource.get('id')}"
    links = [rule.fhir for rule in resource_map.rules if rule.reference == name]
    if not links:
        return candidates
    return [c for c in candidates if any(
        (found := paths.get(c, link)) is not None and isinstance(found[0], dict)
        and found[0].get("reference") == target for link in links)]


def _rule(rule: Rule, resource: Json, place: _Place, codes: Codes, variables: dict[str, Any],
          out: Rendered) -> None:
    if rule.native is None or rule.one_way or rule.reference is not None:
        return
    if rule.expression is not None:
        if rule.reverse is None:
            return
        value = expressions.first(rule.reverse, resource, variables)
    else:
        found = paths.get(resource, rule.fhir)
        if found is None or found[0] in (None, "", [], {}):
            return
        value = _code(rule, found[0], codes, out) if rule.coded else _plain(rule, found[0], out)
    if value is not None:
        place.assign(rule.native, value)


def _plain(rule: Rule, value: Any, out: Rendered) -> Any:
    try:
        return CONVERSIONS[rule.format].to_native(value)
    except (ConversionError, ValueError) as error:
        out.issues.append(MappingIssue("warning", "value", f"{rule.fhir.text}: {error}",
                                       "map-reverse-value", rule.native.text if rule.native
                                       else None))
        return None


def _code(rule: Rule, value: Any, codes: Codes, out: Rendered) -> str | None:
    codings = (value.get("coding", []) if isinstance(value, dict) and "coding" in value
               else [value] if isinstance(value, dict) else [])
    for coding in codings:
        if coding.get("system") == rule.system and coding.get("code"):
            return str(coding["code"])
    if rule.translate is None:
        return str(value) if isinstance(value, str) else None
    national = codings or [{"code": value}]
    for coding in national:
        system = coding.get("system") or _target_system(rule, codes)
        back = codes.translate(rule.translate, str(coding.get("code")), system or "",
                               rule.system, reverse=True)
        if back is not None:
            return str(back["code"])
    shown = national[0].get("code")
    out.issues.append(MappingIssue(
        "warning", "code-invalid", f"{shown!r} has no local code in {rule.translate}: "
        "not carried back", "map-unmapped-code",
        rule.native.text if rule.native else None))
    return None


def _target_system(rule: Rule, codes: Codes) -> str | None:
    # A bare `code` (e.g. Patient.gender) carries no system: take the map's target system.
    concept_map = codes.terminology.definitions.by_url.get(rule.translate or "")
    for group in (concept_map or {}).get("group", []):
        if group.get("source") == rule.system and rule.target in (None, group.get("target")):
            return str(group.get("target"))
    return None


def _append_at(place: _Place, path: paths.Path, item: Any) -> None:
    holder = (place.document if path.root == "document" else
              place.record if path.root == "record" else place.item)
    _append(holder, paths.Path(path.text, (_ITEM, *path.atoms)), paths.prune(item))


def _append(holder: dict[str, Any], path: paths.Path, item: Any) -> None:
    found = paths.get(holder, path)
    if found is None or found[0] in (None, ""):
        paths.assign(holder, path, [item])
    else:
        items = found[0] if isinstance(found[0], list) else [found[0]]
        paths.assign(holder, path, [*items, item])


def _merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    return extra if extra not in (None, {}, []) else base
