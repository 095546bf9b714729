"""CodeSystem `$lookup`: everything known about one code, as FHIR Parameters."""

from __future__ import annotations

from typing import Any

from server.errors import NotFound
from server.terminology.codesystems import CodeSystemIndex, Concept
from server.terminology.expansion import Terminology
from server.terminology.operations import parameters

Json = dict[str, Any]
_HIERARCHY = ("parent", "child", "subsumedBy")


def lookup(terminology: Terminology, system: str, code: str,
           version: str | None = None) -> Json:
    """Return Parameters with name, version, display, abstract, designations and properties.

    Properties carry `parent` and `child` codes from the hierarchy, then the concept's own
    properties. Raises NotSupported when the CodeSystem is not held (or is incomplete and
    lacks the code) and NotFound for a code a complete CodeSystem does not define.
    """
    cs, concept = terminology.concept(system, code, version)
    if concept is None:
        raise NotFound(f"Code {code!r} is not defined by CodeSystem {system}")
    parts: list[Json] = [{"name": "name", "valueString": cs.name}]
    if cs.version:
        parts.append({"name": "version", "valueString": cs.version})
    if concept.display:
        parts.append({"name": "display", "valueString": concept.display})
    parts.append({"name": "abstract", "valueBoolean": concept.abstract})
    parts.extend(_designation(d) for d in concept.designations)
    parts.extend(_properties(cs, concept))
    return parameters(*parts)


def _designation(designation: Json) -> Json:
    part: list[Json] = []
    if "language" in designation:
        part.append({"name": "language", "valueCode": designation["language"]})
    if "use" in designation:
        part.append({"name": "use", "valueCoding": designation["use"]})
    part.append({"name": "value", "valueString": designation.get("value", "")})
    return {"name": "designation", "part": part}


def _property(code: str, value: Json) -> Json:
    return {"name": "property", "part": [{"name": "code", "valueCode": code}, value]}


def _properties(cs: CodeSystemIndex, concept: Concept) -> list[Json]:
    out = [_property("parent", {"name": "value", "valueCode": parent})
           for parent in cs.parents.get(concept.code, [])]
    out.extend(_property("child", {"name": "value", "valueCode": child})
               for child in cs.children.get(concept.code, []))
    if concept.definition:
        out.append(_property("definition",
                             {"name": "value", "valueString": concept.definition}))
    for prop in concept.properties:
        if prop.get("code") in _HIERARCHY:
            continue  # already given from the hierarchy
        value = {k: v for k, v in prop.items() if k.startswith("value")}
        if value:
            key, item = next(iter(value.items()))
            out.append(_property(str(prop.get("code")), {"name": "value", key: item}))
    return out
