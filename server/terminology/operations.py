"""The ValueSet and CodeSystem terminology operations, as pure functions returning FHIR JSON.

`expand` answers a ValueSet with an `expansion`; `validate_code` and
`validate_code_in_system` answer `Parameters` (result, message, display). Control problems
are raised: NotFound (unknown ValueSet), NotSupported (not expandable or CodeSystem not
held), Invalid (bad paging arguments).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from server.errors import Invalid
from server.terminology.codesystems import Concept
from server.terminology.expansion import Entry, Terminology

Json = dict[str, Any]


def parameters(*parts: Json) -> Json:
    """Return a FHIR Parameters resource holding `parts` (None-valued ones dropped)."""
    return {"resourceType": "Parameters", "parameter": [p for p in parts if p]}


def _matches(entry: Entry, text: str) -> bool:
    return text in entry.code.lower() or text in (entry.display or "").lower()


def expand(terminology: Terminology, value_set: Json | str, filter: str | None = None,
           offset: int = 0, count: int | None = None) -> Json:
    """Return the ValueSet (resource or canonical URL) with a fresh `expansion`.

    `filter` keeps codes whose code or display contains it (case-insensitive); `offset`
    and `count` page the result, `total` counting every match. Raises NotFound for an
    unknown URL, NotSupported when it cannot be expanded locally, Invalid for negative
    paging arguments.
    """
    if offset < 0 or (count is not None and count < 0):
        raise Invalid("offset and count must not be negative")
    vs = terminology.value_set(value_set) if isinstance(value_set, str) else value_set
    entries = list(terminology.expansion(vs).entries)
    if filter:
        needle = filter.lower()
        entries = [e for e in entries if _matches(e, needle)]
    page = entries[offset:] if count is None else entries[offset:offset + count]
    params: list[Json] = []
    if filter is not None:
        params.append({"name": "filter", "valueString": filter})
    params.append({"name": "offset", "valueInteger": offset})
    if count is not None:
        params.append({"name": "count", "valueInteger": count})
    expansion: Json = {
        "identifier": f"urn:uuid:{uuid.uuid4()}",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "total": len(entries),
        "offset": offset,
        "parameter": params,
    }
    if page:
        expansion["contains"] = [_contains(e) for e in page]
    out = {k: v for k, v in vs.items() if k not in ("expansion", "text")}
    out["expansion"] = expansion
    return out


def _contains(entry: Entry) -> Json:
    item: Json = {"system": entry.system}
    if entry.abstract:
        item["abstract"] = True
    if entry.version:
        item["version"] = entry.version
    item["code"] = entry.code
    if entry.display:
        item["display"] = entry.display
    return item


def validate_code(terminology: Terminology, value_set: Json | str, code: str,
                  system: str | None = None, display: str | None = None,
                  version: str | None = None) -> Json:
    """Return Parameters saying whether `code` (in `system`) is in the ValueSet.

    `result` is false with a `message` for a code outside the set or a version that differs
    from the one held; a wrong `display` keeps result true and adds a warning `message`.
    The correct `display` is returned when known. Raises like `expand`.
    """
    expansion = terminology.expansion(value_set)
    url = value_set if isinstance(value_set, str) else value_set.get("url", "(inline)")
    entry = expansion.find(system, code)
    where = f"{system}#{code}" if system else repr(code)
    if entry is None:
        return _result(False, f"The code {where} is not in the value set {url}")
    if version and entry.version and version != entry.version:
        return _result(False, f"Version {version} of {entry.system} is not available "
                              f"(this server holds {entry.version})", entry.display)
    cs = terminology.code_system(entry.system)
    concept = cs.find(entry.code) if cs is not None else None
    return _check_display(entry.display, concept, display)


def validate_code_in_system(terminology: Terminology, code_system: str, code: str,
                            display: str | None = None) -> Json:
    """Return Parameters saying whether `code` is defined by CodeSystem `code_system`.

    Raises NotSupported when the CodeSystem is not held, or is not complete and lacks it.
    """
    _, concept = terminology.concept(code_system, code, purpose="checked")
    if concept is None:
        return _result(False, f"Unknown code {code!r} in CodeSystem {code_system}")
    return _check_display(concept.display, concept, display)


def _check_display(expected: str | None, concept: Concept | None, given: str | None) -> Json:
    if given is None or expected is None:
        return _result(True, None, expected)
    allowed = {expected.strip().lower()}
    if concept is not None:
        allowed |= {str(d.get("value", "")).strip().lower() for d in concept.designations}
    if given.strip().lower() in allowed:
        return _result(True, None, expected)
    return _result(True, f"Display {given!r} does not match the expected display "
                         f"{expected!r}", expected)


def _result(result: bool, message: str | None, display: str | None = None) -> Json:
    return parameters(
        {"name": "result", "valueBoolean": result},
        {"name": "message", "valueString": message} if message else {},
        {"name": "display", "valueString": display} if display else {},
    )
