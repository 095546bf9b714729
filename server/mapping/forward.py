"""Native -> common: a parsed native document through its map into FHIR resources, per record.

Pure: the caller brings the parsed document, the map, the agency's schema and a `Codes`
(ConceptMap translation); it gets back, per native record, the resources and every issue, each
issue naming the place in the native record. Nothing is stored here, and nothing the map cannot
carry is dropped silently: an unmapped code or an unreadable value is always an issue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.mapping import expressions, paths
from server.mapping.codes import Codes
from server.mapping.conversions import CONVERSIONS, ConversionError
from server.mapping.formats import Document
from server.mapping.ids import content_hash, resource_id
from server.mapping.losses import blank, report_not_carried
from server.mapping.mapfile import Check, Mapping, RecordKind, ResourceMap, Rule
from server.mapping.native_schema import schema_issues
from server.mapping.paths import Pointer
from server.mapping.report import MappingIssue


@dataclass
class MappedResource:
    name: str
    resource: dict[str, Any]
    match: tuple[str, ...]
    origins: dict[Pointer, Pointer] = field(default_factory=dict)  # FHIR place -> native
    item: Any = None  # the native item it was made from, and where that is
    item_pointer: Pointer = ()

    @property
    def reference(self) -> str:
        return f"{self.resource['resourceType']}/{self.resource['id']}"


@dataclass
class MappedRecord:
    index: int
    pointer: Pointer
    key: str | None
    location: str
    digest: str
    resources: list[MappedResource] = field(default_factory=list)
    issues: list[MappingIssue] = field(default_factory=list)
    consumed: set[Pointer] = field(default_factory=set)  # native places some rule read
    kind: str = "record"  # which of the map's record kinds this is

    @property
    def rejected(self) -> bool:
        return any(i.severity in ("error", "fatal") for i in self.issues)


@dataclass
class _Scope:
    """Where a rule's native paths start: the current item, its record, the document."""

    item: Any
    item_pointer: Pointer
    record: Any
    record_pointer: Pointer
    document: Any
    names: dict[str, str]
    chain: str  # the occurrence chain of the enclosing resources, for ids

    def get(self, path: paths.Path) -> tuple[Any, Pointer] | None:
        base, pointer = ((self.document, ()) if path.root == "document" else
                         (self.record, self.record_pointer) if path.root == "record" else
                         (self.item, self.item_pointer))
        found = paths.get(base, path)
        return None if found is None else (found[0], pointer + found[1])


def records(mapping: Mapping, document: Document) -> list[tuple[Any, Pointer]]:
    """Return the native records of `document`: its rows, the items at the map's `records`
    paths, or the whole document as one record."""
    return [(record, pointer) for record, pointer, _ in _records(mapping, document)]


def _records(mapping: Mapping, document: Document) -> list[tuple[Any, Pointer, RecordKind]]:
    tree = document.tree
    whole = RecordKind("record", paths.parse("$this"))
    if isinstance(tree, list):
        return [(row, (i,), whole) for i, row in enumerate(tree)]
    if not mapping.records:
        return [(tree, (), whole)]
    return [(record, pointer, kind) for kind in mapping.records
            for record, pointer in paths.each(tree, kind.path)]


def transform(mapping: Mapping, document: Document, schema: dict[str, Any], codes: Codes,
              agency_id: str) -> list[MappedRecord]:
    """Return one MappedRecord per native record of `document`, schema- and content-checked.

    `agency_id` is the submitting agency's id (its Organization), available to expressions as
    `%agency`; native values reach expressions only as declared `%variables`. A record with
    any error issue is rejected (its resources are still returned for a dry run to show).
    """
    with expressions.translating(codes):
        return _transform(mapping, document, schema, codes, agency_id)


def _transform(mapping: Mapping, document: Document, schema: dict[str, Any], codes: Codes,
               agency_id: str) -> list[MappedRecord]:
    found = _records(mapping, document)
    by_record = schema_issues(schema, document, [p for _, p, _ in found],
                              per_row=isinstance(document.tree, list))
    out: list[MappedRecord] = []
    for index, (record, pointer, kind) in enumerate(found):
        key = paths.get(record, kind.key or mapping.key)
        mapped = MappedRecord(index, pointer, None if key is None else str(key[0]),
                              document.locate(pointer), content_hash(record), kind=kind.name)
        mapped.issues += by_record.get(pointer, []) + by_record.get(None, [])
        if not mapped.rejected:
            try:
                _map_record(mapping, document, record, pointer, mapped, codes, agency_id)
            except expressions.ExpressionError as error:
                mapped.issues.append(MappingIssue(
                    "error", "exception", f"the {mapping.agency} map cannot read this record: "
                    f"{error}", "map-expression-failed", mapped.location))
        out.append(mapped)
    if not found and by_record:
        # No record at all, and the schema says why: the document itself is the rejected one.
        out.append(MappedRecord(0, (), None, document.locate(()), content_hash(document.tree),
                                issues=[i for issues in by_record.values() for i in issues]))
    return out


def _map_record(mapping: Mapping, document: Document, record: Any, pointer: Pointer,
                mapped: MappedRecord, codes: Codes, agency_id: str) -> None:
    scope = _Scope(record, pointer, record, pointer, document.tree, {}, "")
    base = _record_variables(mapping, scope, agency_id)
    builder = _Builder(mapping, document, codes, base, mapped)
    for resource_map in mapping.resources:
        if resource_map.records in (None, mapped.kind):
            builder.build(resource_map, scope)
    if mapped.rejected:
        return
    mapped.issues += report_not_carried(mapping, document, record, pointer, mapped.consumed)
    variables = dict(base)
    for resource in mapped.resources:
        variables.setdefault(resource.name, resource.resource)
    for check in mapping.checks:
        if check.records not in (None, mapped.kind):
            continue
        if check.each is None:
            _check(check, scope, variables, document, mapped)
            continue
        for resource in [r for r in mapped.resources if r.name == check.each]:
            item = _Scope(resource.item, resource.item_pointer, record, pointer, document.tree,
                          {}, "")
            _check(check, item, {**variables, check.each: resource.resource}, document,
                   mapped)


def _check(check: Check, scope: _Scope, variables: dict[str, Any], document: Document,
           mapped: MappedRecord) -> None:
    bound = {**variables, **_bind(scope, check.inputs)}
    if expressions.holds(check.expression, {}, bound) is False:
        native = scope.get(check.native) if check.native else None
        mapped.issues.append(MappingIssue(
            check.severity, "business-rule", check.message, f"map-check-{check.id}",
            document.locate(native[1] if native else scope.item_pointer)))


def _record_variables(mapping: Mapping, scope: _Scope, agency_id: str) -> dict[str, Any]:
    variables: dict[str, Any] = {"agency": agency_id, **_bind(scope, mapping.variables)}
    for name, expression in mapping.computed:
        variables[name] = expressions.first(expression, {}, variables)
    return variables


def _bind(scope: _Scope, inputs: tuple[tuple[str, paths.Path], ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, path in inputs:
        found = scope.get(path)
        out[name] = None if found is None or found[0] == "" else found[0]
    return out


class _Builder:
    def __init__(self, mapping: Mapping, document: Document, codes: Codes,
                 variables: dict[str, Any], mapped: MappedRecord) -> None:
        self.mapping, self.document, self.codes = mapping, document, codes
        self.variables, self.mapped = variables, mapped
        self.repeats: dict[tuple[str, str], int] = {}  # (resource map, own key) -> times seen

    def build(self, resource_map: ResourceMap, scope: _Scope) -> None:
        items = (_each(scope, resource_map.each) if resource_map.each
                 else [(scope.item, scope.item_pointer)])
        for occurrence, (item, pointer) in enumerate(items):
            inner = _Scope(item, pointer, scope.record, scope.record_pointer, scope.document,
                           dict(scope.names), scope.chain)
            variables = {**self.variables, **_bind(inner, resource_map.inputs)}
            if resource_map.when and not expressions.holds(resource_map.when, {}, variables):
                continue
            own_key = inner.get(resource_map.key) if resource_map.key else None
            if own_key is not None and own_key[0] not in (None, ""):
                key, chain = str(own_key[0]), ""
                # Items sharing one key (several reasons of one referral) stay apart by their
                # order among those items: the first keeps the bare key.
                repeat = self.repeats.get((resource_map.name, key), 0)
                self.repeats[(resource_map.name, key)] = repeat + 1
                if repeat:
                    chain = f"/{repeat}"
            else:
                key = self.mapped.key or self.mapped.digest
                chain = f"{scope.chain}/{occurrence}" if resource_map.each else scope.chain
            inner.chain = chain
            resource: dict[str, Any] = {
                "resourceType": resource_map.type,
                "id": resource_id(self.mapping.agency, key, resource_map.name, chain)}
            # Nested resources are told apart by their parent: without its own key, a child of
            # the second episode must not collide with the same child of the first.
            inner.chain = resource["id"] if resource_map.children else chain
            if resource_map.profile:
                resource["meta"] = {"profile": [resource_map.profile]}
            result = MappedResource(resource_map.name, resource, resource_map.match, {}, item,
                                    pointer)
            inner.names[resource_map.name] = result.reference
            scope.names[resource_map.name] = result.reference  # later siblings refer to it
            for rule in resource_map.rules:
                self._apply(rule, inner, result)
            result.resource = paths.prune(resource)
            self.mapped.resources.append(result)
            for child in resource_map.children:
                self.build(child, inner)

    def _apply(self, rule: Rule, scope: _Scope, result: MappedResource) -> None:
        variables = {**self.variables, **_bind(scope, rule.inputs)}
        if rule.when and not expressions.holds(rule.when, {}, variables):
            return
        native: tuple[Any, Pointer] | None = None
        if rule.native is not None:
            native = scope.get(rule.native)
            if native is None or native[0] in (None, "", [], {}) or blank(native[0]):
                return
            self.mapped.consumed.add(native[1])
        value = self._value(rule, scope, native, variables)
        if value is None:
            return
        try:
            written = paths.assign(result.resource, rule.fhir, value)
        except paths.PathError as error:
            self._issue("error", "processing", str(error), "map-bad-target", native)
            return
        if native is not None:
            result.origins[written] = native[1]

    def _value(self, rule: Rule, scope: _Scope, native: tuple[Any, Pointer] | None,
               variables: dict[str, Any]) -> Any:
        if rule.reference is not None:
            target = scope.names.get(rule.reference)
            return {"reference": target} if target else None
        if rule.expression is not None:
            if native is not None:
                variables = {**variables, "value": native[0]}
            return expressions.first(rule.expression, {}, variables)
        if native is None:
            return rule.value
        if rule.coded:
            return self._code(rule, native)
        try:
            return CONVERSIONS[rule.format].to_fhir(native[0])
        except ConversionError as error:
            self._issue("error", "value", str(error), "map-bad-value", native)
            return None

    def _code(self, rule: Rule, native: tuple[Any, Pointer]) -> Any:
        code, system = str(native[0]), rule.system or ""
        local: dict[str, Any] = {"system": system, "code": code}
        if rule.translate is None:
            found = [local]
        else:
            found = self.codes.translate_all(rule.translate, code, system, rule.target)
            # A CodeableConcept can carry every target of a one-to-many map; a single code
            # cannot, and choosing one would be a guess.
            if not found or (len(found) > 1 and rule.shape != "CodeableConcept"):
                why = "has no mapping" if not found else "maps to several concepts"
                self._issue("warning", "code-invalid",
                            f"code {code!r} of {system} {why} in {rule.translate}: "
                            + ("kept as the local code only" if rule.shape == "CodeableConcept"
                               else "not carried"), "map-unmapped-code", native)
                return {"coding": [local]} if rule.shape == "CodeableConcept" else None
        if rule.shape == "code":
            return found[0]["code"]
        if rule.shape == "Coding":
            return found[0]
        return {"coding": found if found == [local] else [*found, local]}

    def _issue(self, severity: str, code: str, message: str, message_id: str,
               native: tuple[Any, Pointer] | None) -> None:
        where = self.document.locate(native[1]) if native else self.mapped.location
        self.mapped.issues.append(MappingIssue(severity, code, message, message_id, where))


def _each(scope: _Scope, path: paths.Path) -> list[tuple[Any, Pointer]]:
    base, pointer = ((scope.document, ()) if path.root == "document" else
                     (scope.record, scope.record_pointer) if path.root == "record" else
                     (scope.item, scope.item_pointer))
    return [(item, pointer + where) for item, where in paths.each(base, path)]
