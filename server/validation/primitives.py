"""Checks for FHIR primitive values as they appear in JSON.

Each primitive type gets one precompiled checker: a function taking the JSON value and
returning None when it is acceptable, else a (message_id, diagnostics) pair. Formats come from the
`regex` extension on the `value` element of each primitive type's StructureDefinition,
so the rules follow the loaded definitions rather than a hand-written table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from server.definitions.registry import Definitions

# A checker returns None when the value is fine, else (message_id, diagnostics).
Failure = tuple[str, str]
PrimitiveCheck = Callable[[Any], Failure | None]
WRONG_TYPE, INVALID, EMPTY = "wrong-type", "invalid-primitive", "empty-element"

REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
MAX_STRING = 1024 * 1024
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

# Types whose JSON form is a number or boolean; every other primitive is a JSON string.
_INTEGERS = {"integer": INT32_MIN, "unsignedInt": 0, "positiveInt": 1}
_DATED = frozenset({"date", "dateTime", "instant"})


def _real_date(text: str) -> bool:
    """Return True unless `text` carries a full YYYY-MM-DD that is not a calendar date."""
    if len(text) < 10:
        return True  # year or year-month only; the regex already bounds the month
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    limit = 29 if month == 2 and leap else _DAYS[month - 1]
    return day <= limit


def _integer_check(name: str, low: int) -> PrimitiveCheck:
    def check(value: Any) -> Failure | None:
        # bool is a subclass of int in Python but `true` is never a FHIR integer.
        if type(value) is not int:
            return WRONG_TYPE, f"{name} must be a JSON integer, not {_json_kind(value)}"
        if value < low or value > INT32_MAX:
            return INVALID, f"{name} value {value} is out of range"
        return None

    return check


def _decimal(value: Any) -> Failure | None:
    if type(value) is int:
        return None
    if type(value) is float:
        return None if math.isfinite(value) else (INVALID, "decimal must be finite")
    return WRONG_TYPE, f"decimal must be a JSON number, not {_json_kind(value)}"


def _boolean(value: Any) -> Failure | None:
    if value is True or value is False:
        return None
    return WRONG_TYPE, f"boolean must be JSON true or false, not {_json_kind(value)}"


def _string_check(name: str, pattern: re.Pattern[str] | None) -> PrimitiveCheck:
    dated = name in _DATED
    prose = name in ("string", "markdown")

    def check(value: Any) -> Failure | None:
        if type(value) is not str:
            return WRONG_TYPE, f"{name} must be a JSON string, not {_json_kind(value)}"
        if not value:
            # ele-1: an element must have a value or children.
            return EMPTY, f"{name} must not be an empty string"
        if value.isspace():
            return INVALID, f"{name} must not be whitespace only"
        if prose:
            # The string/markdown regex only demands non-empty content (checked above);
            # skipping it keeps the most common primitive cheap.
            if len(value) > MAX_STRING:
                return INVALID, f"{name} exceeds 1MB"
            return None
        if pattern is not None and pattern.fullmatch(value) is None:
            return INVALID, f"{value!r} is not a valid {name}"
        if dated and not _real_date(value):
            return INVALID, f"{value!r} is not a real calendar date"
        return None

    return check


def _xhtml(value: Any) -> Failure | None:
    if type(value) is not str:
        return WRONG_TYPE, f"xhtml must be a JSON string, not {_json_kind(value)}"
    if not value.lstrip().startswith("<div"):
        return INVALID, "xhtml narrative must be a <div> element"
    return None


def _json_kind(value: Any) -> str:
    """Return the JSON type name of a parsed value, for diagnostics."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def type_regex(sd: dict[str, Any]) -> str | None:
    """Return the regex declared on a primitive type SD's `value` element, if any."""
    for element in sd.get("snapshot", {}).get("element", []):
        if element.get("path") != f"{sd['type']}.value":
            continue
        for type_ in element.get("type", []):
            for ext in type_.get("extension", []):
                if ext.get("url") == REGEX_EXT:
                    return str(ext["valueString"])
    return None


def build_primitive_checks(definitions: Definitions) -> dict[str, PrimitiveCheck]:
    """Return a checker for every primitive type in `definitions`, keyed by type name."""
    checks: dict[str, PrimitiveCheck] = {}
    for sd in definitions.structure_definitions.values():
        if sd.get("kind") != "primitive-type" or sd.get("derivation") != "specialization":
            continue
        name = sd["type"]
        if name in _INTEGERS:
            checks[name] = _integer_check(name, _INTEGERS[name])
        elif name == "decimal":
            checks[name] = _decimal
        elif name == "boolean":
            checks[name] = _boolean
        elif name == "xhtml":
            checks[name] = _xhtml
        else:
            regex = type_regex(sd)
            # The regexes are XML Schema regexes: implicitly anchored (hence fullmatch)
            # and with ASCII-only \s / \S, which re.ASCII approximates.
            pattern = re.compile(regex, re.ASCII) if regex else None
            checks[name] = _string_check(name, pattern)
    return checks
