"""The ordered element list of a snapshot under construction, addressed by element id.

Element ids follow the R4 rules (elementdefinition.html#id): path steps joined by `.`,
a slice named by `:sliceName` after its sliced element, e.g.
`Patient.identifier:nhsNumber.system`. The path is the id without slice names.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from server.definitions.registry import Definitions

Json = dict[str, Any]

_SLICE = re.compile(r":[^.]+")


class ElementError(Exception):
    """A differential element cannot be placed in the snapshot (`message_id` says why)."""

    def __init__(self, message_id: str, diagnostics: str) -> None:
        super().__init__(diagnostics)
        self.message_id = message_id


def path_of(element_id: str) -> str:
    """Return the ElementDefinition.path for an element id (slice names removed)."""
    return _SLICE.sub("", element_id)


def type_codes(element: Json) -> list[str]:
    """Return the type codes of an element definition, in order."""
    return [t["code"] for t in element.get("type", []) if "code" in t]


class ElementList:
    """A snapshot's elements that can be located, expanded from data types and sliced."""

    def __init__(self, elements: list[Json], definitions: Definitions) -> None:
        self.elements = elements
        self._defs = definitions

    def find(self, element_id: str) -> int | None:
        """Return the position of the element with this id, or None."""
        for i, element in enumerate(self.elements):
            if element.get("id") == element_id:
                return i
        return None

    def locate(self, element_id: str) -> Json:
        """Return the snapshot element for a differential id, creating what it needs.

        Data types are expanded when the id goes deeper than the snapshot, a renamed
        choice (`valueCodeableConcept`) resolves to `value[x]` restricted to that type,
        and a new `:sliceName` creates the slice. Raises `ElementError` if impossible.
        """
        steps = element_id.split(".")
        current = steps[0]
        if self.find(current) != 0:
            raise ElementError("profile-element-unknown",
                               f"{element_id} does not start at the root element")
        for step in steps[1:]:
            name, _, slice_name = step.partition(":")
            self._ensure_children(current)
            child = f"{current}.{name}"
            if self.find(child) is None:
                child = self._renamed_choice(current, name)
            if slice_name:
                child = self._ensure_slice(child, slice_name)
            current = child
        position = self.find(current)
        assert position is not None
        return self.elements[position]

    def _renamed_choice(self, parent: str, name: str) -> str:
        """Resolve `valueQuantity` to `value[x]`, restricting its types to Quantity."""
        for i, element in enumerate(self.elements):
            element_id: str = element.get("id", "")
            if not (element_id.startswith(parent + ".") and element_id.endswith("[x]")):
                continue
            stem = element_id[len(parent) + 1:-3]
            if "." in stem or ":" in stem or not name.startswith(stem):
                continue
            suffix = name[len(stem):]
            for type_ in element.get("type", []):
                code: str = type_.get("code", "")
                if code and code[0].upper() + code[1:] == suffix:
                    self.elements[i] = {**element, "type": [type_]}
                    return element_id
        raise ElementError("profile-element-unknown", f"{parent}.{name} is not in the base")

    def _subtree_end(self, element_id: str) -> int:
        """Return the position after the element, its children and its slices."""
        position = self.find(element_id)
        assert position is not None
        end = position + 1
        while end < len(self.elements):
            other: str = self.elements[end].get("id", "")
            if not other.startswith((element_id + ".", element_id + ":")):
                break
            end += 1
        return end

    def _ensure_children(self, element_id: str) -> None:
        """Expand an element's children from its data type if the snapshot lacks them."""
        position = self.find(element_id)
        assert position is not None
        end = self._subtree_end(element_id)
        if any(e.get("id", "").startswith(element_id + ".")
               for e in self.elements[position + 1:end]):
            return
        element = self.elements[position]
        source = self._children_source(element)
        root = source[0]["id"]
        children = []
        for child in source[1:]:
            if not child["id"].startswith(root + "."):
                continue
            clone = copy.deepcopy(child)
            clone["id"] = element_id + clone["id"][len(root):]
            clone["path"] = path_of(clone["id"])
            children.append(clone)
        self.elements[position + 1:position + 1] = children

    def _children_source(self, element: Json) -> list[Json]:
        """Return the elements whose children are copied under `element` (root first)."""
        reference = element.get("contentReference")
        if reference:
            position = self.find(reference.lstrip("#").split("#")[-1])
            if position is None:
                raise ElementError("profile-element-unknown", f"{reference} is not in the base")
            return self.elements[position:self._subtree_end(self.elements[position]["id"])]
        codes = type_codes(element)
        if len(codes) != 1:
            raise ElementError(
                "profile-choice-ambiguous",
                f"{element['id']} has {len(codes)} types; restrict it to one before "
                "constraining its children")
        sd = self._defs.structure_definition(codes[0])
        if sd is None or "snapshot" not in sd:
            raise ElementError("profile-type-unknown", f"No snapshot for data type {codes[0]}")
        elements: list[Json] = sd["snapshot"]["element"]
        return elements

    def _ensure_slice(self, sliced_id: str, slice_name: str) -> str:
        """Return the id of the named slice, appending it after the existing slices."""
        slice_id = f"{sliced_id}:{slice_name}"
        if self.find(slice_id) is not None:
            return slice_id
        start = self.find(sliced_id)
        assert start is not None
        sliced = self.elements[start]
        if "slicing" not in sliced and sliced["path"].endswith(("extension", "Extension")):
            # FHIR implies extension slicing by url (open) when a profile does not state it.
            sliced["slicing"] = {"discriminator": [{"type": "value", "path": "url"}],
                                 "ordered": False, "rules": "open"}
        end = self._subtree_end(sliced_id)
        # The slice starts as a copy of the sliced element and its children, not its slices.
        template = [e for e in self.elements[start:end]
                    if e["id"] == sliced_id or e["id"].startswith(sliced_id + ".")]
        created = []
        for element in template:
            clone = copy.deepcopy(element)
            clone["id"] = slice_id + clone["id"][len(sliced_id):]
            clone["path"] = path_of(clone["id"])
            created.append(clone)
        created[0].pop("slicing", None)
        created[0]["sliceName"] = slice_name
        # Slices share the sliced element's min between them; each one alone starts optional.
        created[0]["min"] = 0
        self.elements[end:end] = created
        return slice_id
