"""The walker: checks one JSON value against compiled SD nodes, recursively.

Expressions are FHIRPath with indexes on repeating elements (`Patient.name[0].given[1]`),
choice alternatives as `value.ofType(Quantity)`, resources nested in `Bundle.entry.resource`
or `contained` continued without a type step (`Bundle.entry[2].resource.gender`), and a
primitive's `_x` companion object as the primitive itself (`Patient.birthDate.extension[0]`).
"""

from __future__ import annotations

from typing import Any

from server.definitions.registry import Definitions
from server.errors import Issue, is_error
from server.validation import checks
from server.validation.bindings import ValueSetExpander, check_binding
from server.validation.compiled import PRIMITIVE, RESOURCE, Compiler, Node, Slot
from server.validation.issues import (
    Found,
    cardinality_max,
    empty_element,
    expected_array,
    missing_required,
    null_value,
    primitive_failure,
    structure,
    too_few,
    unknown_element,
    unknown_extension,
    wrong_type,
)
from server.validation.slicing import apply, missing_slices


class Walker:
    """Walks JSON values against compiled nodes, appending issues to a `Found` list."""

    def __init__(self, definitions: Definitions) -> None:
        self.compiler = Compiler(definitions)
        self._expander = ValueSetExpander(definitions)
        self._resource_types = definitions.resource_types
        element = self.compiler.node("Element")
        if element is None:
            raise ValueError("definitions lack the Element StructureDefinition")
        self._element = element  # the shape of a primitive's `_x` companion object

    def walk(self, obj: dict[str, Any], node: Node, path: str, found: Found) -> None:
        """Append to `found` every issue of `obj` against `node` (its FHIRPath is `path`)."""
        self._object(obj, node, path, found)

    def _extension(self, value: dict[str, Any], slot: Slot, path: str, found: Found
                   ) -> Node | None:
        """Return the node of the extension's own definition (by `url`), if known."""
        url = value.get("url")
        if type(url) is not str:
            return None  # Extension.url is required: the base node reports it
        node = self.compiler.node(url) if "/" in url or ":" in url else None
        if node is not None and node.type_name == "Extension":
            return node
        found.append(unknown_extension(url, slot.group == "modifierExtension", path))
        return None

    def _object(self, obj: dict[str, Any], node: Node, path: str, found: Found) -> None:
        slots = node.slots
        groups: dict[str, str] | None = None
        for key, value in obj.items():
            slot = slots.get(key)
            if slot is None:
                if key[:1] == "_":
                    base = slots.get(key[1:])
                    if base is not None and base.kind == PRIMITIVE:
                        if key[1:] not in obj:  # otherwise checked along with its value
                            self._extension_only(value, base, f"{path}.{base.label}", found)
                        continue
                elif key == "resourceType" and node.is_resource:
                    continue
                found.append(unknown_element(key, node.type_name, f"{path}.{key}"))
                continue
            if slot.choice:
                groups = {} if groups is None else groups
                other = groups.setdefault(slot.group, key)
                if other != key:
                    found.append(cardinality_max(
                        f"Only one of {other} and {key} is allowed", f"{path}.{slot.label}"))
            child = f"{path}.{slot.label}"
            if slot.many:
                if type(value) is not list:
                    found.append(expected_array(slot.element, child))
                elif not value:
                    found.append(empty_element(f"{slot.element} is an empty array", child))
                else:
                    if slot.max is not None and len(value) > slot.max:
                        found.append(cardinality_max(
                            f"{slot.element} allows at most {slot.max}, found {len(value)}",
                            child))
                    if len(value) < slot.min:
                        found.append(too_few(slot.element, slot.min, len(value), child))
                    if slot.kind == PRIMITIVE:
                        self._primitive_list(value, obj.get("_" + key), slot, child, found)
                    else:
                        self._items(value, slot, child, found)
            elif type(value) is list:
                found.append(cardinality_max(
                    f"{slot.element} has max 1 and must not be an array", child))
            elif slot.max == 0:
                found.append(cardinality_max(f"{slot.element} is not allowed here", child))
            elif slot.kind == PRIMITIVE:
                self._primitive(value, slot, child, found)
                ext = obj.get("_" + key)
                if ext is not None:
                    self._companion(ext, child, found)
            else:
                self._complex(value, slot, child, found)
        for group, element, keys in node.required:
            if not any(k in obj for k in keys):
                found.append(missing_required(element, f"{path}.{group}"))
        for sliced in node.sliced:
            if sliced.key not in obj:
                found.extend(missing_slices(sliced, f"{path}.{sliced.label}"))
        if node.constraints:
            checks.invariants(obj, node.constraints, path, found)

    def _items(self, items: list[Any], slot: Slot, path: str, found: Found) -> None:
        """Check the items of a repeating complex element, slice by slice if sliced."""
        if slot.slicing is None:
            for i, item in enumerate(items):
                self._complex(item, slot, f"{path}[{i}]", found)
            return
        chosen, issues = apply(items, slot, path, self.conforms)
        found.extend(issues)
        for i, item in enumerate(items):
            self._complex(item, chosen[i], f"{path}[{i}]", found)

    def conforms(self, value: Any, profile: str) -> bool:
        """Return True if `value` has no errors against `profile` (a type or resource SD)."""
        node = self.compiler.node(profile)
        if node is None or type(value) is not dict:
            return False
        trial = Found(value if node.is_resource else None)
        self._object(value, node, node.type_name, trial)
        return not any(is_error(i) for i in trial)

    def _complex(self, value: Any, slot: Slot, path: str, found: Found) -> None:
        if type(value) is not dict:
            found.append(null_value(path) if value is None else wrong_type(
                f"{slot.element} must be a JSON object ({slot.type_code})", path))
            return
        if not value:
            found.append(empty_element(f"{slot.element} is an empty object", path))
            return
        if slot.kind == RESOURCE:
            self._resource(value, path, found, slot.group == "contained")
            return
        node = slot.node or self.compiler.resolve(slot)
        if slot.by_url:
            node = self._extension(value, slot, path, found) or node
        if node is not None:
            self._object(value, node, path, found)
        if slot.binding is not None:
            found.extend(check_binding(self._expander, slot.binding, slot.binding_strength,
                                       value, slot.type_code, path))
        if slot.fixed is not None or slot.pattern is not None:
            checks.fixed(value, slot, path, found)
        if slot.target_types is not None:
            checks.reference(value, slot, path, found, self._resource_types)
        if slot.constraints:
            checks.invariants(value, slot.constraints, path, found)

    def _resource(self, value: dict[str, Any], path: str, found: Found, contained: bool
                  ) -> None:
        """Walk a nested resource; outside `contained` it is its own %rootResource."""
        type_name = value.get("resourceType")
        if type_name is None:
            found.append(structure("missing-resource-type", "resourceType is missing", path))
            return
        node = self.compiler.node(type_name) if type_name in self._resource_types else None
        if node is None:
            found.append(Issue("error", "invalid", f"Unknown resourceType {type_name!r}",
                                f"{path}.resourceType", "unknown-resource-type"))
            return
        outer, root = found.resource, found.root
        found.resource = value
        found.root = root if contained else value
        self._object(value, node, path, found)
        found.resource, found.root = outer, root

    def _primitive(self, value: Any, slot: Slot, path: str, found: Found) -> None:
        if value is None:
            found.append(null_value(path))
            return
        failure = slot.check(value) if slot.check is not None else None
        if failure is not None:
            found.append(primitive_failure(failure, path))
        elif slot.binding is not None and type(value) is str:
            found.extend(check_binding(self._expander, slot.binding, slot.binding_strength,
                                       value, slot.type_code, path))
        if slot.fixed is not None or slot.pattern is not None:
            checks.fixed(value, slot, path, found)

    def _primitive_list(
        self, values: list[Any], exts: Any, slot: Slot, path: str, found: Found
    ) -> None:
        aligned = True
        if exts is not None and (type(exts) is not list or len(exts) != len(values)):
            found.append(structure(
                "primitive-extension-mismatch",
                f"_{slot.key} must be an array the same length as {slot.key}", path))
            exts, aligned = None, False
        for i, value in enumerate(values):
            ext = exts[i] if exts is not None else None
            if value is not None:
                self._primitive(value, slot, f"{path}[{i}]", found)
            elif ext is None and aligned:
                # null is only a placeholder for a value whose extensions sit in `_x`.
                found.append(null_value(f"{path}[{i}]"))
            if ext is not None:
                self._companion(ext, f"{path}[{i}]", found)

    def _extension_only(self, value: Any, slot: Slot, path: str, found: Found) -> None:
        """Check a `_x` property whose primitive value `x` is absent."""
        if not slot.many:
            self._companion(value, path, found)
        elif type(value) is not list:
            found.append(expected_array(slot.element, path))
        elif not value or all(v is None for v in value):
            found.append(empty_element(f"_{slot.key} has no content", path))
        else:
            for i, item in enumerate(value):
                if item is not None:
                    self._companion(item, f"{path}[{i}]", found)

    def _companion(self, value: Any, path: str, found: Found) -> None:
        """Check the `{id, extension}` object carried next to a primitive value."""
        if type(value) is not dict:
            found.append(wrong_type("A primitive's _ companion must be a JSON object", path))
        elif not value:
            found.append(empty_element("A primitive's _ companion is empty", path))
        else:
            self._object(value, self._element, path, found)
