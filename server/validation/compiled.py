"""Compiling StructureDefinition snapshots into fast lookup trees.

A snapshot is a flat, ordered list of element definitions. Walking it per validation is
slow, so each SD is compiled once into `Node`s: a dict from JSON property name to a
`Slot` saying how that property's value is checked. Choice elements (`value[x]`) get one
slot per allowed type (`valueString`, `valueQuantity`, ...). Complex types are linked
lazily by name so mutually recursive types (Identifier <-> Reference, Extension) work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.definitions.registry import Definitions
from server.validation.primitives import PrimitiveCheck, build_primitive_checks

PRIMITIVE, COMPLEX, RESOURCE = 0, 1, 2

FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
_SYSTEM_TYPES = {
    "String": "string", "Boolean": "boolean", "Integer": "integer", "Decimal": "decimal",
    "Date": "date", "DateTime": "dateTime", "Time": "time",
}


@dataclass(slots=True, eq=False)
class Slot:
    """How the value of one JSON property is validated."""

    key: str  # JSON property name, e.g. `valueQuantity` or `given`
    label: str  # FHIRPath step used in expressions, e.g. `value.ofType(Quantity)`
    group: str  # element name shared by all alternatives of a choice, e.g. `value`
    element: str  # ElementDefinition.path, for diagnostics
    min: int
    max: int | None  # None means unbounded
    many: bool  # JSON array (decided by the base definition's max, as the spec says)
    kind: int  # PRIMITIVE, COMPLEX or RESOURCE
    type_code: str
    check: PrimitiveCheck | None = None
    target: str | None = None  # node key of a complex type or backbone element
    node: Node | None = None  # resolved from `target` on first use
    binding: str | None = None  # ValueSet URL of a required binding
    choice: bool = False


@dataclass(slots=True, eq=False)
class Node:
    """The allowed properties of one JSON object (a type, resource or backbone element)."""

    type_name: str
    is_resource: bool
    slots: dict[str, Slot] = field(default_factory=dict)
    # (element name, ElementDefinition.path, JSON keys any of which satisfies min >= 1)
    required: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)


class Compiler:
    """Compiles and caches SD snapshots as `Node` trees, keyed by canonical URL."""

    def __init__(self, definitions: Definitions) -> None:
        self._defs = definitions
        self.checks: dict[str, PrimitiveCheck] = build_primitive_checks(definitions)
        self._nodes: dict[str, Node] = {}
        self._missing: set[str] = set()

    def node(self, name_or_url: str) -> Node | None:
        """Return the root node of the SD for a type name or canonical URL (None if unknown)."""
        found = self._nodes.get(name_or_url)
        if found is not None or name_or_url in self._missing:
            return found
        sd = self._defs.structure_definition(name_or_url)
        if sd is None or "snapshot" not in sd:
            self._missing.add(name_or_url)
            return None
        root = self._compile(sd)
        self._nodes[name_or_url] = root
        return root

    def resolve(self, slot: Slot) -> Node | None:
        """Return the node for a complex slot, compiling its type on first use."""
        if slot.node is None and slot.target is not None:
            target = slot.target
            slot.node = self._nodes.get(target) if "#" in target else self.node(target)
        return slot.node

    def _compile(self, sd: dict[str, Any]) -> Node:
        url: str = sd["url"]
        # Slices need slicing support; their unsliced base element stays in the snapshot.
        elements = [e for e in sd["snapshot"]["element"] if ":" not in e.get("id", "")]
        root_path: str = elements[0]["path"]
        is_resource = sd.get("kind") == "resource"
        children: dict[str, list[dict[str, Any]]] = {}
        for element in elements[1:]:
            parent = element["path"].rsplit(".", 1)[0]
            children.setdefault(parent, []).append(element)
        nodes = {
            path: Node(sd["type"] if path == root_path else path, is_resource and path == root_path)
            for path in children
        }
        nodes.setdefault(root_path, Node(sd["type"], is_resource))
        for path, node in nodes.items():
            self._nodes[f"{url}#{path}"] = node
        for parent, elements_ in children.items():
            node = nodes[parent]
            for element in elements_:
                at_root = parent == root_path and is_resource
                self._add_element(node, url, element, element["path"] in children, at_root)
        self._nodes[url] = nodes[root_path]
        return nodes[root_path]

    def _add_element(
        self, node: Node, url: str, element: dict[str, Any], inline: bool, at_root: bool
    ) -> None:
        path: str = element["path"]
        name = path.rsplit(".", 1)[1]
        choice = name.endswith("[x]")
        group = name[:-3] if choice else name
        base_max = element.get("base", {}).get("max", element.get("max", "*"))
        max_ = element.get("max", "*")
        common: dict[str, Any] = {
            "group": group, "element": path, "min": int(element.get("min", 0)),
            "max": None if max_ == "*" else int(max_), "many": base_max != "1", "choice": choice,
        }
        binding = element.get("binding")
        if binding and binding.get("strength") == "required" and binding.get("valueSet"):
            common["binding"] = binding["valueSet"].split("|", 1)[0]
        keys: list[str] = []
        if "contentReference" in element or inline:
            target = element.get("contentReference", "#" + path)[1:]
            code = element["type"][0]["code"] if element.get("type") else "BackboneElement"
            node.slots[group] = Slot(group, group, kind=COMPLEX, type_code=code,
                                     target=f"{url}#{target}", **common)
            keys.append(group)
        for type_ in [] if keys else element.get("type", []):
            code = self._type_code(type_, group, at_root)
            key = group + code[0].upper() + code[1:] if choice else group
            label = f"{group}.ofType({code})" if choice else group
            slot = Slot(key, label, type_code=code, kind=COMPLEX, **common)
            if code in self.checks:
                slot.kind, slot.check = PRIMITIVE, self.checks[code]
                keys.append("_" + key)
            elif code in ("Resource", "DomainResource") or code in self._defs.resource_types:
                slot.kind = RESOURCE
            else:
                slot.target = code
            node.slots[key] = slot
            keys.append(key)
        if common["min"] > 0:
            node.required.append((group, path, tuple(keys)))

    @staticmethod
    def _type_code(type_: dict[str, Any], name: str, at_root: bool) -> str:
        """Return the FHIR type name for an ElementDefinition.type entry."""
        code: str = type_["code"]
        if not code.startswith(SYSTEM_PREFIX):
            return code
        if at_root and name == "id":
            # R4 snapshots type Resource.id as a plain string, but the spec (and every
            # server) treats it as `id`: [A-Za-z0-9\-\.]{1,64}.
            return "id"
        for ext in type_.get("extension", []):
            if ext.get("url") == FHIR_TYPE_EXT:
                return str(ext.get("valueUrl") or ext.get("valueUri"))
        return _SYSTEM_TYPES.get(code[len(SYSTEM_PREFIX):], "string")
