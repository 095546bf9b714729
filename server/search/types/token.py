"""Token parameters: codes, Codings, CodeableConcepts, Identifiers, ContactPoints, booleans.

Keys (`p` is the parameter name):
  `p||code`          the code under any system (every value)
  `p|system|code`    the code in its system (a `system|` search is a prefix lookup on `p|system|`)
  `p|!|code`         a code that has no system (for `|code` searches)
  `p:text|words`     normalised CodeableConcept.text / Coding.display (for `:text`)
  `p:of-type|typesystem|typecode|value`   Identifier.type coding with the value (for `:of-type`)
"""

from __future__ import annotations

from typing import Any

from server.errors import Invalid
from server.search.criteria import AnyOf, Criterion, HasKey, KeyPrefix, Not
from server.search.fhirpath import Found
from server.search.normalise import normalise
from server.search.registry import SearchParam
from server.search.types import Sink, UnknownModifier, cut

NO_SYSTEM = "!"


def _add(name: str, system: Any, code: Any, sink: Sink) -> None:
    if isinstance(code, bool):
        code = "true" if code else "false"
    elif isinstance(code, int | float):
        code = str(code)
    if not isinstance(code, str) or not code:
        return
    code = cut(code)
    sink.keys.add(f"{name}||{code}")
    if isinstance(system, str) and system:
        sink.keys.add(f"{name}|{system}|{code}")
    else:
        sink.keys.add(f"{name}|{NO_SYSTEM}|{code}")
    sink.sort_min(name, code)


def _text(name: str, text: Any, sink: Sink) -> None:
    if isinstance(text, str) and text:
        sink.keys.add(f"{name}:text|{cut(normalise(text))}")


def index(name: str, found: list[Found], sink: Sink) -> None:
    """Add the token keys of every value found."""
    for value, _hint in found:
        if not isinstance(value, dict):
            _add(name, None, value, sink)
            continue
        if "coding" in value or ("text" in value and "value" not in value):
            for coding in value.get("coding") or ():
                _add(name, coding.get("system"), coding.get("code"), sink)
                _text(name, coding.get("display"), sink)
            _text(name, value.get("text"), sink)
        elif "value" in value:  # Identifier or ContactPoint
            _add(name, value.get("system"), value["value"], sink)
            for coding in (value.get("type") or {}).get("coding") or ():
                sink.keys.add(f"{name}:of-type|{coding.get('system', '')}|"
                              f"{coding.get('code', '')}|{cut(str(value['value']))}")
            _text(name, (value.get("type") or {}).get("text"), sink)
        elif "code" in value or "system" in value:  # Coding
            _add(name, value.get("system"), value.get("code"), sink)
            _text(name, value.get("display"), sink)


def value_keys(name: str, value: str) -> Criterion:
    """Return the criterion for one `[system]|[code]` value (no modifier)."""
    if "|" not in value:
        return HasKey((f"{name}||{cut(value)}",))
    system, code = value.split("|", 1)
    if not system:
        return HasKey((f"{name}|{NO_SYSTEM}|{cut(code)}",))
    if not code:
        return KeyPrefix(f"{name}|{system}|")
    return HasKey((f"{name}|{system}|{cut(code)}",))


def criterion(param: SearchParam, modifier: str | None, value: str) -> Criterion:
    """Parse one token value (modifiers: none, `not`, `text`, `of-type`)."""
    name = param.name
    if not value:
        raise Invalid(f"{name}: empty token value", expression=name)
    if modifier is None:
        return value_keys(name, value)
    if modifier == "not":
        return Not(value_keys(name, value))
    if modifier == "text":
        return KeyPrefix(f"{name}:text|{normalise(value)}")
    if modifier == "of-type":
        parts = value.split("|")
        if len(parts) != 3 or not parts[2]:
            raise Invalid(f"{name}:of-type needs 'system|code|value', got '{value}'",
                          expression=name)
        return HasKey((f"{name}:of-type|{parts[0]}|{parts[1]}|{cut(parts[2])}",))
    raise UnknownModifier(modifier)


def any_of(criteria: list[Criterion]) -> Criterion:
    """Return the OR of criteria (the single one when there is only one)."""
    return criteria[0] if len(criteria) == 1 else AnyOf(tuple(criteria))
