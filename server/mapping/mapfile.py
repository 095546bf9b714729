"""The mapping file (`mappings/AGENCY/map.json`) as typed objects.

The file's grammar is `mappings/map.schema.json`; docs/mappings.md explains it for standards
authors. One map runs both ways: a plain rule (`native` <-> `fhir`, optionally through a
`format` or a ConceptMap) implies its inverse; a computed rule (`expression`) declares its
`reverse` expression or says why it is `oneWay`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from server.mapping.conversions import CONVERSIONS
from server.mapping.paths import Key, Path, parse


@dataclass(frozen=True)
class Rule:
    fhir: Path
    native: Path | None = None
    format: str = "string"
    system: str | None = None  # the native code's own (local) code system
    translate: str | None = None  # ConceptMap canonical, local -> national
    target: str | None = None  # the national code system to translate into
    shape: str = "code"  # code | Coding | CodeableConcept, for coded rules
    value: Any = None  # a constant written into the FHIR resource
    reference: str | None = None  # the name of another resource of the same record
    expression: str | None = None  # FHIRPath computing the FHIR value
    reverse: str | None = None  # FHIRPath over the resource computing the native value
    one_way: str | None = None  # why this rule has no way back
    when: str | None = None  # FHIRPath condition on the native record
    loss: str | None = None  # what a round trip does not keep, and why
    inputs: tuple[tuple[str, Path], ...] = ()  # %name -> native path, for expressions

    @property
    def coded(self) -> bool:
        return self.system is not None


@dataclass(frozen=True)
class RecordKind:
    """One kind of native record a document may hold (a census pupil, a CME child), found at
    `path`; `key` overrides the map's record key for it."""

    name: str
    path: Path
    key: Path | None = None
    document: dict[str, Any] | None = None  # its native skeleton for rendering back


@dataclass(frozen=True)
class Check:
    """A content rule (beyond the schema) that a record must meet; FHIRPath over the mapped
    resources (`%child`, …) and declared native values (`variables`, `inputs`)."""

    id: str
    expression: str
    message: str
    native: Path | None = None
    severity: str = "error"
    inputs: tuple[tuple[str, Path], ...] = ()
    each: str | None = None  # run once per mapped resource of this name (inputs from its item)
    records: str | None = None  # only for records of this kind


@dataclass(frozen=True)
class ResourceMap:
    name: str
    type: str
    profile: str | None
    rules: tuple[Rule, ...]
    key: Path | None = None  # what identifies this resource natively (default: the record key)
    each: Path | None = None  # one resource per item found here
    when: str | None = None
    match: tuple[str, ...] = ()  # identifier systems that find the same resource stored by others
    select: str | None = None  # FHIRPath: which stored resources this map renders back
    inputs: tuple[tuple[str, Path], ...] = ()
    children: tuple[ResourceMap, ...] = ()
    records: str | None = None  # only for records of this kind (None: every kind)


@dataclass(frozen=True)
class Mapping:
    agency: str
    version: str
    format: str
    title: str
    records: tuple[RecordKind, ...]  # empty: the document (or each CSV row) is one record
    key: Path
    resources: tuple[ResourceMap, ...]
    checks: tuple[Check, ...] = ()
    unmapped: dict[str, str] = field(default_factory=dict)  # native path -> why not carried
    variables: tuple[tuple[str, Path], ...] = ()  # %name -> native path in the record
    computed: tuple[tuple[str, str], ...] = ()  # %name -> FHIRPath over the variables
    document: dict[str, Any] = field(default_factory=dict)  # native skeleton for rendering

    @cached_property
    def unmapped_paths(self) -> tuple[tuple[tuple[tuple[str, ...], str], ...],
                                      tuple[tuple[Path, str], ...]]:
        """`unmapped` parsed: reasons by element names (plain key paths: in every repeated
        item), and by place (paths with positions or matches)."""
        by_name, positioned = [], []
        for text, why in self.unmapped.items():
            path = parse(text)
            if all(isinstance(a, Key) for a in path.atoms):
                by_name.append((tuple(a.name for a in path.atoms if isinstance(a, Key)), why))
            else:
                positioned.append((path, why))
        return tuple(by_name), tuple(positioned)

    @property
    def url(self) -> str:
        """The canonical naming this map in Provenance."""
        return f"https://cradle.example/fhir/mappings/{self.agency}"

    def walk(self) -> list[ResourceMap]:
        """Return every resource map, parents before their children."""
        out: list[ResourceMap] = []

        def visit(maps: tuple[ResourceMap, ...]) -> None:
            for resource_map in maps:
                out.append(resource_map)
                visit(resource_map.children)
        visit(self.resources)
        return out


def from_json(data: dict[str, Any]) -> Mapping:
    """Return the Mapping of a map file already checked against `map.schema.json`.

    Raises ValueError for a rule naming an unknown format.
    """
    return Mapping(
        agency=data["agency"], version=data["version"], format=data["format"],
        title=data.get("title", data["agency"]),
        records=_kinds(data.get("records")), key=parse(data["key"]),
        resources=tuple(_resource(r) for r in data["resources"]),
        checks=tuple(Check(c["id"], c["expression"], c["message"], _path(c.get("native")),
                           c.get("severity", "error"), _inputs(c), c.get("each"),
                           c.get("records"))
                     for c in data.get("checks", [])),
        unmapped=data.get("unmapped", {}), document=data.get("document", {}),
        variables=_inputs(data, "variables"),
        computed=tuple((c["name"], c["expression"]) for c in data.get("computed", [])))


def _kinds(value: str | list[dict[str, Any]] | None) -> tuple[RecordKind, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (RecordKind("record", parse(value)),)
    return tuple(RecordKind(k["name"], parse(k["path"]), _path(k.get("key")), k.get("document"))
                 for k in value)


def _inputs(data: dict[str, Any], key: str = "inputs") -> tuple[tuple[str, Path], ...]:
    # Native values reach FHIRPath as %variables: fhirpathpy reads a capitalised name
    # (`Surname`, `ACADYR`) as a resource type, so native trees are never navigated by it.
    return tuple((name, parse(path)) for name, path in data.get(key, {}).items())


def _resource(data: dict[str, Any]) -> ResourceMap:
    return ResourceMap(
        name=data["name"], type=data["type"], profile=data.get("profile"),
        rules=tuple(_rule(r) for r in data.get("rules", [])),
        key=_path(data.get("key")), each=_path(data.get("each")), when=data.get("when"),
        match=tuple(data.get("match", [])), select=data.get("select"),
        children=tuple(_resource(r) for r in data.get("resources", [])), inputs=_inputs(data),
        records=data.get("records"))


def _rule(data: dict[str, Any]) -> Rule:
    fmt = data.get("format", "string")
    if fmt not in CONVERSIONS:
        raise ValueError(f"unknown format {fmt!r} (known: {', '.join(CONVERSIONS)})")
    return Rule(
        fhir=parse(data["fhir"]), native=_path(data.get("native")), format=fmt,
        system=data.get("system"), translate=data.get("translate"), target=data.get("target"),
        shape=data.get("shape", "code"), value=data.get("value"),
        reference=data.get("reference"), expression=data.get("expression"),
        reverse=data.get("reverse"), one_way=data.get("oneWay"), when=data.get("when"),
        loss=data.get("loss"), inputs=_inputs(data))


def _path(text: str | None) -> Path | None:
    return parse(text) if text else None
