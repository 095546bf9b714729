"""The structural validator: walks a JSON resource against compiled SD nodes.

Expressions are FHIRPath with indexes on repeating elements (`Patient.name[0].given[1]`),
choice alternatives as `value.ofType(Quantity)`, resources nested in `Bundle.entry.resource`
or `contained` continued without a type step (`Bundle.entry[2].resource.gender`), and a
primitive's `_x` companion object as the primitive itself (`Patient.birthDate.extension[0]`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from server.definitions.registry import Definitions
from server.errors import Issue
from server.validation.bindings import ValueSetExpander
from server.validation.compiled import PRIMITIVE, RESOURCE, Compiler, Node, Slot
from server.validation.issues import (
    cardinality_max,
    code_not_in_valueset,
    empty_element,
    expected_array,
    missing_required,
    null_value,
    primitive_failure,
    structure,
    unknown_element,
    wrong_type,
)

# An invariant hook gets the resource and the SD URL it was validated against and
# returns extra issues. FHIRPath constraints (other than ele-1) plug in here later.
InvariantHook = Callable[[dict[str, Any], str], list[Issue]]


class ResourceValidator:
    """Validates FHIR R4 JSON resources against StructureDefinition snapshots."""

    def __init__(
        self, definitions: Definitions, invariant_hooks: Sequence[InvariantHook] = ()
    ) -> None:
        self._defs = definitions
        self._compiler = Compiler(definitions)
        self._expander = ValueSetExpander(definitions)
        self._resource_types = definitions.resource_types
        self._hooks = tuple(invariant_hooks)
        element = self._compiler.node("Element")
        if element is None:
            raise ValueError("definitions lack the Element StructureDefinition")
        self._element = element  # the shape of a primitive's `_x` companion object

    def validate(self, resource: dict[str, Any], profile: str | None = None) -> list[Issue]:
        """Return every issue (errors and warnings) found in `resource`; [] means valid.

        `profile` is an SD canonical URL; by default the base SD of the resource type.
        """
        issues: list[Issue] = []
        if type(resource) is not dict:
            issues.append(structure("not-an-object", "A resource must be a JSON object", None))
            return issues
        type_name = resource.get("resourceType")
        if type_name is None:
            issues.append(structure("missing-resource-type", "resourceType is missing", None))
            return issues
        if type(type_name) is not str or type_name not in self._resource_types:
            issues.append(Issue("error", "invalid", f"Unknown resourceType {type_name!r}",
                                "resourceType", "unknown-resource-type"))
            return issues
        url = profile or type_name
        node = self._compiler.node(url)
        if node is None:
            issues.append(Issue("error", "not-supported", f"Unknown profile {url!r}",
                                None, "unknown-profile"))
            return issues
        if node.type_name != type_name:
            issues.append(Issue("error", "invalid",
                                f"Profile {url!r} is for {node.type_name}, not {type_name}",
                                None, "profile-type-mismatch"))
            return issues
        self._object(resource, node, type_name, issues)
        for hook in self._hooks:
            issues.extend(hook(resource, url))
        return issues

    def _object(self, obj: dict[str, Any], node: Node, path: str, issues: list[Issue]) -> None:
        slots = node.slots
        groups: dict[str, str] | None = None
        for key, value in obj.items():
            slot = slots.get(key)
            if slot is None:
                if key[:1] == "_":
                    base = slots.get(key[1:])
                    if base is not None and base.kind == PRIMITIVE:
                        if key[1:] not in obj:  # otherwise checked along with its value
                            self._extension_only(value, base, f"{path}.{base.label}", issues)
                        continue
                elif key == "resourceType" and node.is_resource:
                    continue
                issues.append(unknown_element(key, node.type_name, f"{path}.{key}"))
                continue
            if slot.choice:
                groups = {} if groups is None else groups
                other = groups.setdefault(slot.group, key)
                if other != key:
                    issues.append(cardinality_max(
                        f"Only one of {other} and {key} is allowed", f"{path}.{slot.label}"))
            child = f"{path}.{slot.label}"
            if slot.many:
                if type(value) is not list:
                    issues.append(expected_array(slot.element, child))
                elif not value:
                    issues.append(empty_element(f"{slot.element} is an empty array", child))
                else:
                    if slot.max is not None and len(value) > slot.max:
                        issues.append(cardinality_max(
                            f"{slot.element} allows at most {slot.max}, found {len(value)}",
                            child))
                    if slot.kind == PRIMITIVE:
                        self._primitive_list(value, obj.get("_" + key), slot, child, issues)
                    else:
                        for i, item in enumerate(value):
                            self._complex(item, slot, f"{child}[{i}]", issues)
            elif type(value) is list:
                issues.append(cardinality_max(
                    f"{slot.element} has max 1 and must not be an array", child))
            elif slot.max == 0:
                issues.append(cardinality_max(f"{slot.element} is not allowed here", child))
            elif slot.kind == PRIMITIVE:
                self._primitive(value, slot, child, issues)
                ext = obj.get("_" + key)
                if ext is not None:
                    self._companion(ext, child, issues)
            else:
                self._complex(value, slot, child, issues)
        for group, element, keys in node.required:
            if not any(k in obj for k in keys):
                issues.append(missing_required(element, f"{path}.{group}"))

    def _complex(self, value: Any, slot: Slot, path: str, issues: list[Issue]) -> None:
        if type(value) is not dict:
            issues.append(null_value(path) if value is None else wrong_type(
                f"{slot.element} must be a JSON object ({slot.type_code})", path))
            return
        if not value:
            issues.append(empty_element(f"{slot.element} is an empty object", path))
            return
        if slot.kind == RESOURCE:
            self._resource(value, path, issues)
            return
        node = slot.node or self._compiler.resolve(slot)
        if node is not None:
            self._object(value, node, path, issues)
        if slot.binding is not None:
            self._coded(value, slot, path, issues)

    def _resource(self, value: dict[str, Any], path: str, issues: list[Issue]) -> None:
        type_name = value.get("resourceType")
        if type_name is None:
            issues.append(structure("missing-resource-type", "resourceType is missing", path))
            return
        node = self._compiler.node(type_name) if type_name in self._resource_types else None
        if node is None:
            issues.append(Issue("error", "invalid", f"Unknown resourceType {type_name!r}",
                                f"{path}.resourceType", "unknown-resource-type"))
            return
        self._object(value, node, path, issues)

    def _primitive(self, value: Any, slot: Slot, path: str, issues: list[Issue]) -> None:
        if value is None:
            issues.append(null_value(path))
            return
        failure = slot.check(value) if slot.check is not None else None
        if failure is not None:
            issues.append(primitive_failure(failure, path))
        elif slot.binding is not None and type(value) is str:
            expansion = self._expander.expand(slot.binding)
            if expansion is not None and value not in expansion.all_codes:
                issues.append(code_not_in_valueset(value, slot.binding, path))

    def _primitive_list(
        self, values: list[Any], exts: Any, slot: Slot, path: str, issues: list[Issue]
    ) -> None:
        aligned = True
        if exts is not None and (type(exts) is not list or len(exts) != len(values)):
            issues.append(structure(
                "primitive-extension-mismatch",
                f"_{slot.key} must be an array the same length as {slot.key}", path))
            exts, aligned = None, False
        for i, value in enumerate(values):
            ext = exts[i] if exts is not None else None
            if value is not None:
                self._primitive(value, slot, f"{path}[{i}]", issues)
            elif ext is None and aligned:
                # null is only a placeholder for a value whose extensions sit in `_x`.
                issues.append(null_value(f"{path}[{i}]"))
            if ext is not None:
                self._companion(ext, f"{path}[{i}]", issues)

    def _extension_only(self, value: Any, slot: Slot, path: str, issues: list[Issue]) -> None:
        """Check a `_x` property whose primitive value `x` is absent."""
        if not slot.many:
            self._companion(value, path, issues)
        elif type(value) is not list:
            issues.append(expected_array(slot.element, path))
        elif not value or all(v is None for v in value):
            issues.append(empty_element(f"_{slot.key} has no content", path))
        else:
            for i, item in enumerate(value):
                if item is not None:
                    self._companion(item, f"{path}[{i}]", issues)

    def _companion(self, value: Any, path: str, issues: list[Issue]) -> None:
        """Check the `{id, extension}` object carried next to a primitive value."""
        if type(value) is not dict:
            issues.append(wrong_type("A primitive's _ companion must be a JSON object", path))
        elif not value:
            issues.append(empty_element("A primitive's _ companion is empty", path))
        else:
            self._object(value, self._element, path, issues)

    def _coded(self, value: dict[str, Any], slot: Slot, path: str, issues: list[Issue]) -> None:
        """Check a Coding or CodeableConcept against its required binding."""
        assert slot.binding is not None
        expansion = self._expander.expand(slot.binding)
        if expansion is None:
            return
        if slot.type_code == "Coding":
            system, code = value.get("system"), value.get("code")
            if (type(system) is str and type(code) is str and expansion.has_system(system)
                    and not expansion.contains(system, code)):
                issues.append(code_not_in_valueset(code, slot.binding, f"{path}.code"))
            return
        if slot.type_code != "CodeableConcept":
            return
        codings = value.get("coding")
        if type(codings) is not list or not codings:
            return  # text-only concepts are tolerated
        bad: tuple[str, str] | None = None
        for i, coding in enumerate(codings):
            if type(coding) is not dict:
                continue
            system, code = coding.get("system"), coding.get("code")
            if type(system) is str and type(code) is str:
                if expansion.contains(system, code):
                    return
                if bad is None and expansion.has_system(system):
                    bad = code, f"{path}.coding[{i}].code"
        code, where = bad or ("(none)", path)
        issues.append(code_not_in_valueset(code, slot.binding, where))
