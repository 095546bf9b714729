"""FHIRPath values over raw FHIR JSON: navigation, equality, ordering, dates, arithmetic.

Used by `fhirpath_compile`. Collections are Python lists of JSON values (dict, str, bool,
int, float, Decimal). A primitive with a `_name` companion becomes a `Primitive` so its
`id`/`extension` stay reachable; a date/dateTime *literal* (`@2020-01`) is a `DateLiteral`.
Whenever the outcome depends on a type the raw JSON cannot tell (or FHIRPath would raise),
these helpers raise `Undecidable`, and the caller hands the expression to fhirpathpy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from functools import cache
from typing import Any

# FHIR type names as they appear after a choice element's name (`valueQuantity`).
CHOICE_SUFFIXES = frozenset({
    "Base64Binary", "Boolean", "Canonical", "Code", "Date", "DateTime", "Decimal", "Id",
    "Instant", "Integer", "Markdown", "Oid", "PositiveInt", "String", "Time", "UnsignedInt",
    "Uri", "Url", "Uuid", "Address", "Age", "Annotation", "Attachment", "CodeableConcept",
    "Coding", "ContactPoint", "Count", "Distance", "Duration", "HumanName", "Identifier",
    "Money", "Period", "Quantity", "Range", "Ratio", "Reference", "SampledData", "Signature",
    "Timing", "ContactDetail", "Contributor", "DataRequirement", "Expression",
    "ParameterDefinition", "RelatedArtifact", "TriggerDefinition", "UsageContext", "Dosage",
    "Meta"})
_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?$")


class Env:
    """Evaluation state: `%resource`, `%rootResource`, `%context`, the current `$this`, and
    any other `%name` the caller binds in `variables`."""

    __slots__ = ("context", "resource", "root", "this", "variables")

    def __init__(self, resource: Any, root: Any, context: Any,
                 variables: dict[str, Any] | None = None) -> None:
        self.resource, self.root, self.context = resource, root, context
        self.this: list[Any] = [context]
        self.variables = variables


Fn = Callable[[list[Any], Env], list[Any]]


class Unsupported(Exception):
    """Raised at compile time for FHIRPath outside the compiled subset."""


class Undecidable(Exception):
    """Raised at run time when the raw JSON cannot settle a result FHIRPath defines."""


@dataclass(frozen=True, slots=True)
class Primitive:
    """A primitive with a `_name` companion: `value` (None if absent) and its element data."""

    value: Any
    element: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DateLiteral:
    """A FHIRPath date/dateTime literal, e.g. `@2020-01-01` (text without the `@`)."""

    text: str


def member(focus: list[Any], key: str) -> list[Any]:
    """Return the children named `key` (choice `key[x]` and `_key` companions included)."""
    out: list[Any] = []
    for item in focus:
        if type(item) is Primitive:
            item = item.element
        if type(item) is not dict:
            continue
        value = item.get(key)
        name = key
        if value is None and ("_" + key) not in item:
            name = choice_name(item, key) or key
            value = item.get(name)
        extra = item.get("_" + name)
        if extra is None:
            if type(value) is list:
                out.extend(v for v in value if v is not None)
            elif value is not None:
                out.append(value)
        else:
            out.extend(_with_companion(value, extra))
    return out


def choice_name(item: dict[str, Any], key: str) -> str | None:
    """Return the JSON name of choice element `key[x]` present in `item`, if any.

    Raises Undecidable when the name is also a real element of R4 (`responseCode` beside
    `response`): only the type model can tell, so fhirpathpy decides.
    """
    n = len(key)
    for name in item:
        bare = name[1:] if name[0] == "_" else name
        if len(bare) > n and bare.startswith(key) and bare[n:] in CHOICE_SUFFIXES:
            if bare in _named_like_choices():
                raise Undecidable(f"{bare} may be an element or a choice of {key}[x]")
            return bare
    return None


@cache
def _named_like_choices() -> frozenset[str]:
    """R4 element names that read like a choice variant of a sibling (`responseCode`,
    `statusDate`, `formCode`…): 24 in all, found from the definitions once."""
    from server.definitions import load_r4  # only when such a name is met; cached

    names: set[str] = set()
    for definition in load_r4().by_url.values():
        elements = {e["path"] for e in definition.get("snapshot", {}).get("element", [])} \
            if isinstance(definition, dict) else set()
        for path in elements:
            parent, _, name = path.rpartition(".")
            for suffix in CHOICE_SUFFIXES:
                if name.endswith(suffix) and f"{parent}.{name[:-len(suffix)]}" in elements:
                    names.add(name)
    return frozenset(names)


def _with_companion(value: Any, extra: Any) -> list[Any]:
    if type(value) is list or type(extra) is list:
        values = value if type(value) is list else []
        extras = extra if type(extra) is list else []
        out: list[Any] = []
        for i in range(max(len(values), len(extras))):
            v = values[i] if i < len(values) else None
            e = extras[i] if i < len(extras) else None
            if type(e) is dict:
                out.append(Primitive(v, e))
            elif v is not None:
                out.append(v)
        return out
    return [Primitive(value, extra)] if type(extra) is dict else [value]


def plain(item: Any) -> Any:
    """Return the value of an item (a `Primitive`'s value, which may be None)."""
    return item.value if type(item) is Primitive else item


def singleton(collection: list[Any]) -> Any:
    """Return the one value of a collection, None if empty; raise Undecidable if several."""
    if not collection:
        return None
    if len(collection) > 1:
        raise Undecidable("expected a single item")
    return plain(collection[0])


def truth(collection: list[Any]) -> bool | None:
    """Return FHIRPath's boolean of a collection (None = empty); Undecidable if not boolean."""
    if not collection:
        return None
    value = singleton(collection)
    if type(value) is bool:
        return value
    if value is None:
        return None
    raise Undecidable("expected a boolean")


def number(value: Any) -> int | Decimal | None:
    """Return `value` as an int or Decimal, or None if it is not a number."""
    kind = type(value)
    if kind is int or kind is Decimal:
        return value  # type: ignore[no-any-return]
    if kind is float:
        return Decimal(str(value))
    return None


def _kind(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return "s"
    if kind is bool:
        return "b"
    if kind in (int, float, Decimal):
        return "n"
    if kind is DateLiteral:
        return "d"
    if kind is dict:
        return "o"
    raise Undecidable(f"cannot compare {kind.__name__}")


def _date_parts(text: str) -> tuple[list[Any], bool] | None:
    """Return (components down to the given precision, has a time zone) or None."""
    m = _DATE.match(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, zone = m.groups()
    parts: list[Any] = [int(p) for p in (year, month, day, hour, minute) if p is not None]
    if second is not None:
        parts.append(Decimal(second))
    if zone is not None and hour is not None:
        offset = 0 if zone == "Z" else (int(zone[1:3]) * 60 + int(zone[4:6])) * (
            -1 if zone[0] == "-" else 1)
        moment = datetime(parts[0], parts[1], parts[2], parts[3], parts[4]) - timedelta(
            minutes=offset)
        parts[:5] = [moment.year, moment.month, moment.day, moment.hour, moment.minute]
    return parts, zone is not None


def date_compare(a: str, b: str) -> int | None:
    """Return -1/0/1 for two date/dateTime texts, None when precision leaves it open."""
    pa, pb = _date_parts(a), _date_parts(b)
    if pa is None or pb is None:
        raise Undecidable("not a date")
    (left, zoned_a), (right, zoned_b) = pa, pb
    if zoned_a != zoned_b and (len(left) > 3 or len(right) > 3):
        raise Undecidable("time zone on one side only")
    for x, y in zip(left, right, strict=False):
        if x != y:
            return -1 if x < y else 1
    return 0 if len(left) == len(right) else None


def date_text_ok(text: str) -> bool:
    """Return True if `text` is a date/dateTime FHIRPath can hold (no bare `T` or zone-only)."""
    return _DATE.match(text) is not None


def _date_text(value: Any) -> str | None:
    if type(value) is DateLiteral:
        return value.text
    return value if type(value) is str and _DATE.match(value) else None


def equal_items(a: Any, b: Any) -> bool | None:
    """Return FHIRPath `=` of two single values (None when dates of unlike precision)."""
    a, b = plain(a), plain(b)
    if type(a) is DateLiteral or type(b) is DateLiteral:
        ta, tb = _date_text(a), _date_text(b)
        if ta is None or tb is None:
            return False
        order = date_compare(ta, tb)
        return None if order is None else order == 0
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        return False
    return bool(a == b)


def equal(left: list[Any], right: list[Any]) -> bool | None:
    """Return FHIRPath `=` of two collections (None if either is empty)."""
    if not left or not right:
        return None
    if len(left) != len(right):
        return False
    result: bool | None = True
    for a, b in zip(left, right, strict=True):
        same = equal_items(a, b)
        if same is False:
            return False
        if same is None:
            result = None
    return result


def _normal(value: Any) -> Any:
    value = plain(value)
    if type(value) is str:
        return " ".join(value.lower().split())
    if type(value) in (int, float, Decimal) and type(value) is not bool:
        raise Undecidable("decimal equivalence")
    if type(value) is dict:
        raise Undecidable("complex equivalence")
    return value


def equivalent(left: list[Any], right: list[Any]) -> bool:
    """Return FHIRPath `~` of two collections of strings/booleans (order-insensitive)."""
    if not left and not right:
        return True
    if len(left) != len(right):
        return False
    a, b = [_normal(x) for x in left], [_normal(x) for x in right]
    return all(x in b for x in a) and all(y in a for y in b)


def order(left: list[Any], right: list[Any], test: Callable[[int], bool]) -> bool | None:
    """Return `test(sign of left - right)` for singletons, None if empty or undecided."""
    a, b = singleton(left), singleton(right)
    if a is None or b is None:
        return None
    ta, tb = _date_text(a), _date_text(b)
    if ta is not None and tb is not None:
        sign = date_compare(ta, tb)
        return None if sign is None else test(sign)
    ka, kb = _kind(a), _kind(b)
    if ka != kb or ka not in "sn":
        raise Undecidable("values cannot be ordered")
    return test(-1 if a < b else 1 if a > b else 0)


def arithmetic(op: str, a: Any, b: Any) -> Any:
    """Return `a op b` for numbers (None = empty); raise Undecidable for other operands."""
    if op == "+" and type(a) is str and type(b) is str:
        return a + b
    x, y = number(a), number(b)
    if x is None or y is None:
        raise Undecidable(f"{op} needs numbers")
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if y == 0:
        return None
    if op == "/":
        try:
            return Decimal(x) / Decimal(y)
        except InvalidOperation as exc:
            raise Undecidable(str(exc)) from exc
    if type(x) is int and type(y) is int:
        quotient = abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1)
        return quotient if op == "div" else x - y * quotient
    quotient_d = (Decimal(x) / Decimal(y)).quantize(Decimal(1), rounding=ROUND_DOWN)
    return quotient_d if op == "div" else Decimal(x) - Decimal(y) * quotient_d


def distinct(collection: list[Any]) -> list[Any]:
    """Return the items of a collection without FHIRPath-equal repeats, in order."""
    out: list[Any] = []
    for item in collection:
        if not any(equal_items(item, seen) is True for seen in out):
            out.append(item)
    return out


def children(focus: list[Any]) -> list[Any]:
    """Return every child of every item (FHIRPath `children()`)."""
    out: list[Any] = []
    for item in focus:
        if type(item) is Primitive:
            item = item.element
        if type(item) is dict:
            for key in item:
                if key == "resourceType" or (key[0] == "_" and key[1:] in item):
                    continue
                out.extend(member([item], key[1:] if key[0] == "_" else key))
    return out
