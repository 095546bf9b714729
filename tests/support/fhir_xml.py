"""A small FHIR R4 XML -> JSON converter for test data, driven by the R4 definitions.

Only for converting published example/conformance files into the JSON the server speaks:
array-ness comes from each element's base `max`, primitive vs complex from its type, and
choice elements (`valueCodeableConcept`) from the element's type list. Not a general parser:
it trusts its input to be valid FHIR XML (unknown elements raise `ValueError`).

Usage: `python -m tests.support.fhir_xml IN.xml [OUT.json]` (writes to stdout without OUT).
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path
from typing import Any

from server.definitions import Definitions, load_r4

Json = dict[str, Any]
FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
BOOLEANS = {"boolean", "System.Boolean"}
INTEGERS = {"integer", "positiveInt", "unsignedInt", "System.Integer"}
DECIMALS = {"decimal", "System.Decimal"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _type_code(type_: Json) -> str:
    """The FHIR type name of an ElementDefinition.type (`System.String` for id/url)."""
    code = str(type_["code"])
    if code.startswith("http://hl7.org/fhirpath/"):
        for ext in type_.get("extension", ()):
            if ext.get("url") == FHIR_TYPE_EXT:
                return str(ext["valueUrl"])
        return code.rsplit("/", 1)[-1]
    return code


def _is_primitive(code: str) -> bool:
    return code[:1].islower() or code.startswith("System.")


class Converter:
    """Converts FHIR XML elements to JSON, looking element definitions up in `defs`."""

    def __init__(self, defs: Definitions | None = None) -> None:
        self.defs = defs or load_r4()
        self._index: dict[str, dict[str, Json]] = {}

    def _elements(self, type_name: str) -> dict[str, Json]:
        if type_name not in self._index:
            sd = self.defs.structure_definition(type_name)
            if sd is None:
                raise ValueError(f"no StructureDefinition for {type_name!r}")
            self._index[type_name] = {e["path"]: e for e in sd["snapshot"]["element"]}
        return self._index[type_name]

    def resource(self, elem: ET.Element) -> Json:
        """Convert a resource element (e.g. `<Patient>`) to its JSON object."""
        name = _local(elem.tag)
        out: Json = {"resourceType": name}
        out.update(self._complex(elem, name, name))
        return out

    def _child(self, type_name: str, path: str, name: str) -> tuple[Json, str]:
        """The definition of child `name` of `path`, and the type code it is given as."""
        elements = self._elements(type_name)
        ed = elements.get(f"{path}.{name}")
        if ed is not None:
            types = ed.get("type", [])
            return ed, _type_code(types[0]) if len(types) == 1 else ""
        for key, ed in elements.items():
            if not (key.endswith("[x]") and key.rsplit(".", 1)[0] == path):
                continue
            base = key.rsplit(".", 1)[1][:-3]
            for type_ in ed.get("type", []):
                code = _type_code(type_)
                if name == base + code[:1].upper() + code[1:]:
                    return ed, code
        raise ValueError(f"unknown element {name!r} under {path} ({type_name})")

    def _complex(self, elem: ET.Element, type_name: str, path: str) -> Json:
        out: Json = {}
        for attr in ("id", "url"):
            if attr in elem.attrib:
                out[attr] = elem.attrib[attr]
        for child in elem:
            if not isinstance(child.tag, str) or not child.tag.startswith("{"):
                continue
            name = _local(child.tag)
            if child.tag == f"{{{XHTML_NS}}}div":
                out["div"] = _xhtml(child)
                continue
            ed, code = self._child(type_name, path, name)
            repeats = ed.get("base", {}).get("max", ed.get("max")) != "1"
            if _is_primitive(code):
                value, extra = self._primitive(child, code)
                _put(out, name, value, repeats)
                _put(out, "_" + name, extra, repeats)
            else:
                _put(out, name, self._value(child, ed, code, type_name), repeats)
        return _aligned(out)

    def _value(self, elem: ET.Element, ed: Json, code: str, type_name: str) -> Json:
        if "contentReference" in ed:
            return self._complex(elem, type_name, str(ed["contentReference"]).split("#")[-1])
        if code in ("Resource", "DomainResource"):
            return self.resource(next(iter(elem)))
        if code in ("BackboneElement", "Element") and ed["path"].count("."):
            return self._complex(elem, type_name, ed["path"])
        return self._complex(elem, code, code)

    def _primitive(self, elem: ET.Element, code: str) -> tuple[Any, Json | None]:
        raw = elem.attrib.get("value")
        value: Any = raw
        if raw is not None and code in BOOLEANS:
            value = raw == "true"
        elif raw is not None and code in INTEGERS:
            value = int(raw)
        elif raw is not None and code in DECIMALS:
            value = Decimal(raw)
        extra = self._complex(elem, "Element", "Element") if len(elem) or "id" in elem.attrib \
            else None
        return value, extra or None


def _xhtml(div: ET.Element) -> str:
    ET.register_namespace("", XHTML_NS)
    tail, div.tail = div.tail, None
    try:
        return ET.tostring(div, encoding="unicode")
    finally:
        div.tail = tail


def _put(out: Json, key: str, value: Any, repeats: bool) -> None:
    if repeats:
        out.setdefault(key, []).append(value)
    elif value is not None:
        out[key] = value


def _aligned(out: Json) -> Json:
    """Drop all-null primitive arrays and `_x` companions that carry nothing."""
    for key in [k for k, v in out.items() if isinstance(v, list) and all(x is None for x in v)]:
        if key.startswith("_") or out.get("_" + key) is None:
            del out[key]
    return out


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() or "." in str(value) \
            else int(value)
    raise TypeError(f"not JSON serializable: {value!r}")


def xml_to_json(text: str | bytes, defs: Definitions | None = None) -> Json:
    """Convert one FHIR XML resource document to a JSON-ready dict (decimals as Decimal)."""
    return Converter(defs).resource(ET.fromstring(text))


def dumps(resource: Json) -> str:
    """Serialize a converted resource as indented JSON (decimals as JSON numbers)."""
    return json.dumps(resource, indent=2, ensure_ascii=False, default=_json_default) + "\n"


def main(argv: list[str]) -> int:
    """Convert argv[0] (XML) to JSON, written to argv[1] or stdout."""
    result = dumps(xml_to_json(Path(argv[0]).read_bytes()))
    if len(argv) > 1:
        Path(argv[1]).write_text(result, encoding="utf-8")
    else:
        sys.stdout.write(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
