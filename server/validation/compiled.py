"""Compiling StructureDefinition snapshots into fast lookup trees.

A snapshot is a flat, ordered list of element definitions. Walking it per validation is
slow, so each SD is compiled once into `Node`s: a dict from JSON property name to a
`Slot` saying how that property's value is checked. Choice elements (`value[x]`) get one
slot per allowed type (`valueString`, `valueQuantity`, ...). Complex types are linked
lazily by name or profile URL so mutually recursive types (Identifier <-> Reference,
Extension) work. Elements are grouped by `ElementDefinition.id`, so a slice
(`Patient.identifier:nhs`) and its children compile to their own node, attached to the
sliced slot. Compiled trees are cached per URL for the life of the `Compiler`: build a
new `ResourceValidator` when the definitions change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.definitions.registry import SD_BASE, Definitions
from server.validation.fixed import constraint_value
from server.validation.invariants import Constraint, InvariantCompiler
from server.validation.primitives import PrimitiveCheck, build_primitive_checks
from server.validation.slicing import Expectation, Slicing, expectations

PRIMITIVE, COMPLEX, RESOURCE = 0, 1, 2

FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
_SYSTEM_TYPES = {
    "String": "string", "Boolean": "boolean", "Integer": "integer", "Decimal": "decimal",
    "Date": "date", "DateTime": "dateTime", "Time": "time",
}


@dataclass(slots=True, eq=False)
class Slot:
    """How the value of one JSON property (or one slice of it) is validated."""

    key: str  # JSON property name, e.g. `valueQuantity` or `given`
    label: str  # FHIRPath step used in expressions, e.g. `value.ofType(Quantity)`
    group: str  # element name shared by all alternatives of a choice, e.g. `value`
    element: str  # ElementDefinition.id, for diagnostics
    min: int
    max: int | None  # None means unbounded
    many: bool  # JSON array (decided by the base definition's max, as the spec says)
    kind: int  # PRIMITIVE, COMPLEX or RESOURCE
    type_code: str
    check: PrimitiveCheck | None = None
    target: str | None = None  # node key of a complex type, profile or backbone element
    node: Node | None = None  # resolved from `target` on first use
    binding: str | None = None  # ValueSet URL of a required or extensible binding
    binding_strength: str = "required"
    choice: bool = False
    fixed: Any = None
    pattern: Any = None
    constraints: tuple[Constraint, ...] = ()
    slicing: Slicing | None = None
    slice_name: str | None = None
    expect: tuple[Expectation, ...] = ()  # discriminator expectations of a slice
    by_url: bool = False  # a plain Extension: validated by the definition of its url
    target_types: frozenset[str] | None = None  # Reference target types (None: any)
    # (profile URL, resource type) of target profiles that need the target to check
    target_profiles: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True, eq=False)
class Node:
    """The allowed properties of one JSON object (a type, resource or backbone element)."""

    type_name: str
    is_resource: bool
    slots: dict[str, Slot] = field(default_factory=dict)
    # (element name, ElementDefinition.path, JSON keys any of which satisfies min >= 1)
    required: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    sliced: list[Slot] = field(default_factory=list)  # slots with slices, for slice mins
    constraints: tuple[Constraint, ...] = ()  # invariants of the type's root element
    choice_slices: dict[str, set[str]] = field(default_factory=dict)  # group -> sliced keys


class Compiler:
    """Compiles and caches SD snapshots as `Node` trees, keyed by canonical URL."""

    def __init__(self, definitions: Definitions) -> None:
        self._defs = definitions
        self.checks: dict[str, PrimitiveCheck] = build_primitive_checks(definitions)
        self.invariants = InvariantCompiler()
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
            if "#" in target and target not in self._nodes:
                self.node(target.split("#", 1)[0])
            slot.node = self._nodes.get(target) if "#" in target else self.node(target)
        return slot.node

    def _compile(self, sd: dict[str, Any]) -> Node:
        # Keyed by url|version: two versions of one profile must never share compiled nodes.
        url: str = f"{sd['url']}|{sd.get('version', '')}"
        elements = [{**e, "id": e.get("id") or e["path"]} for e in sd["snapshot"]["element"]]
        by_id = {e["id"]: e for e in elements}
        root_id: str = elements[0]["id"]
        is_resource = sd.get("kind") == "resource"
        children: dict[str, list[dict[str, Any]]] = {}
        stack = [root_id]
        for element in elements[1:]:
            while len(stack) > 1 and not element["id"].startswith(stack[-1] + "."):
                stack.pop()
            children.setdefault(stack[-1], []).append(element)
            stack.append(element["id"])
        nodes = {eid: Node(sd["type"] if eid == root_id else by_id[eid]["path"],
                           is_resource and eid == root_id) for eid in children}
        nodes.setdefault(root_id, Node(sd["type"], is_resource))
        nodes[root_id].constraints = self.invariants.constraints(elements[0])
        for eid, node in nodes.items():
            self._nodes[f"{url}#{eid}"] = node
        for parent, elements_ in children.items():
            node = nodes[parent]
            for element in elements_:
                at_root = parent == root_id and is_resource
                inline = element["id"] in children
                if "sliceName" in element:
                    self._add_slice(node, url, element, inline, by_id)
                else:
                    self._add_element(node, url, element, inline, at_root)
        self._nodes[url] = nodes[root_id]
        return nodes[root_id]

    def _add_slice(self, node: Node, url: str, element: dict[str, Any], inline: bool,
                   by_id: dict[str, Any]) -> None:
        name = element["path"].rsplit(".", 1)[1]
        if name.endswith("[x]"):
            sliced = by_id.get(element["id"].rsplit(":", 1)[0], {})
            closed = sliced.get("slicing", {}).get("rules") == "closed"
            self._add_choice_slice(node, url, element, inline, closed)
            return
        base = node.slots.get(name)
        # Reslices (a/b) are not supported.
        if base is None or base.slicing is None or "/" in element["sliceName"]:
            return
        slots, _ = self._slots(url, element, inline, False)
        slice_ = slots[0]
        slice_.slice_name = element["sliceName"]
        slice_.expect = expectations(base.slicing, element, by_id, self._defs)
        base.slicing.slices.append(slice_)

    def _add_choice_slice(self, node: Node, url: str, element: dict[str, Any],
                          inline: bool, closed: bool) -> None:
        """A type slice of a choice (`value[x]:valueQuantity`) constrains that one type: its
        slot is replaced by the slice's; closed slicing allows only the sliced types; a slice
        with min >= 1 requires its type."""
        slots, keys = self._slots(url, element, inline, False)
        group = slots[0].group if slots else ""
        sliced = node.choice_slices.setdefault(group, set())
        for slot in slots:
            if closed or slot.key in node.slots:
                node.slots[slot.key] = slot
                sliced.add(slot.key)
        if closed:
            for key in [k for k, s in node.slots.items()
                        if s.group == group and s.choice and k not in sliced]:
                del node.slots[key]
        if slots and slots[0].min > 0:
            node.required.append((slots[0].group, element["id"], keys))

    def _add_element(
        self, node: Node, url: str, element: dict[str, Any], inline: bool, at_root: bool
    ) -> None:
        slots, keys = self._slots(url, element, inline, at_root)
        for slot in slots:
            node.slots[slot.key] = slot
        slicing = element.get("slicing")
        if slicing and slots and slots[0].many:
            discriminators = [(d["type"], d["path"]) for d in slicing.get("discriminator", ())]
            slots[0].slicing = Slicing(slicing.get("rules", "open"),
                                       bool(slicing.get("ordered")), discriminators)
            node.sliced.append(slots[0])
        if slots and slots[0].min > 0:
            node.required.append((slots[0].group, element["path"], keys))

    def _slots(self, url: str, element: dict[str, Any], inline: bool, at_root: bool
               ) -> tuple[list[Slot], tuple[str, ...]]:
        """Return the slot(s) for one element (one per choice type) and its JSON keys."""
        path: str = element["path"]
        name = path.rsplit(".", 1)[1]
        choice = name.endswith("[x]")
        group = name[:-3] if choice else name
        base_max = element.get("base", {}).get("max", element.get("max", "*"))
        max_ = element.get("max", "*")
        common: dict[str, Any] = {
            "group": group, "element": element["id"], "min": int(element.get("min", 0)),
            "max": None if max_ == "*" else int(max_), "many": base_max != "1",
            "choice": choice, "fixed": constraint_value(element, "fixed"),
            "pattern": constraint_value(element, "pattern"),
            "constraints": self.invariants.constraints(element),
        }
        binding = element.get("binding")
        if binding and binding.get("strength") in ("required", "extensible") \
                and binding.get("valueSet"):
            common["binding"] = binding["valueSet"].split("|", 1)[0]
            common["binding_strength"] = binding["strength"]
        slots: list[Slot] = []
        keys: list[str] = []
        types = element.get("type") or []
        # Children in the snapshot make an element an inline node, unless it is a primitive
        # (a profile constrained its extensions: validated as a primitive) or a choice of
        # several types (validated per type).
        inline = inline and not (
            (len(types) == 1 and types[0].get("code") in self.checks)
            or (choice and len(types) != 1))
        if "contentReference" in element or inline:
            ref = element.get("contentReference", "#" + element["id"])
            target = ref if not ref.startswith("#") else url + ref
            code = types[0]["code"] if types else "BackboneElement"
            key = group + code[0].upper() + code[1:] if choice else group
            label = f"{group}.ofType({code})" if choice else group
            slots.append(Slot(key, label, kind=COMPLEX, type_code=code, target=target,
                              **common))
            keys.append(key)
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
                slot.target = self._known_profile(type_.get("profile", ())) or code
                slot.by_url = slot.target == "Extension"
                if code == "Reference":
                    self._reference_targets(slot, type_.get("targetProfile", ()))
            slots.append(slot)
            keys.append(key)
        return slots, tuple(keys)

    def _known_profile(self, profiles: Any) -> str | None:
        for url in profiles:
            sd = self._defs.structure_definition(url)
            if sd is not None and "snapshot" in sd and url.split("|")[0] != SD_BASE + sd["type"]:
                return str(url)
        return None

    def _reference_targets(self, slot: Slot, profiles: Any) -> None:
        types: set[str] = set()
        base: set[str] = set()
        unchecked: list[tuple[str, str]] = []
        for url in profiles:
            sd = self._defs.structure_definition(url)
            if sd is None or sd.get("type") in (None, "Resource", "DomainResource"):
                return  # unknown or any resource: no type restriction can be checked
            types.add(sd["type"])
            if url.split("|")[0] != SD_BASE + sd["type"]:
                unchecked.append((url, sd["type"]))
            else:
                base.add(sd["type"])
        slot.target_types = frozenset(types) if types else None
        slot.target_profiles = tuple(u for u in unchecked if u[1] not in base)

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
