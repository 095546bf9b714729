"""Number and quantity parameters.

Ranges in `r`: `{"p": p, "lo": v, "hi": v}` for a number (Range values use low/high, `None` when
open); quantities add `"sys"`, `"code"` and `"unit"`. Search values carry their implicit
precision: `100` matches [99.5, 100.5) for `eq`. Sort value: the smallest number.
"""

from __future__ import annotations

from typing import Any

from server.errors import Invalid
from server.search.criteria import Criterion, RangeTest
from server.search.fhirpath import Found
from server.search.normalise import number_range
from server.search.registry import SearchParam
from server.search.types import Sink, UnknownModifier, split_prefix


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def index(name: str, found: list[Found], sink: Sink) -> None:
    """Add a range entry per number, Quantity, Range or SampledData value found."""
    for value, _hint in found:
        number = _number(value)
        if number is not None:
            sink.ranges.append({"p": name, "lo": number, "hi": number})
            sink.sort_min(name, number)
        elif isinstance(value, dict):
            _complex(name, value, sink)


def _complex(name: str, value: dict[str, Any], sink: Sink) -> None:
    if "low" in value or "high" in value:  # Range
        low, high = value.get("low") or {}, value.get("high") or {}
        entry = {"p": name, "lo": _number(low.get("value")), "hi": _number(high.get("value"))}
        unit = low or high
        _units(entry, unit)
        sink.ranges.append(entry)
        return
    if "origin" in value:  # SampledData: search on its origin quantity
        value = value["origin"]
    number = _number(value.get("value"))
    if number is None:
        return
    entry = {"p": name, "lo": number, "hi": number}
    _units(entry, value)
    sink.ranges.append(entry)
    sink.sort_min(name, number)


def _units(entry: dict[str, Any], quantity: dict[str, Any]) -> None:
    for src, dst in (("system", "sys"), ("code", "code"), ("unit", "unit")):
        if isinstance(quantity.get(src), str):
            entry[dst] = quantity[src]


def parse_number(name: str, text: str) -> tuple[str, float, float, float]:
    """Return (prefix, value, lo, hi); raises `Invalid` for a malformed number or prefix."""
    prefix, rest = split_prefix(name, text)
    parsed = number_range(rest)
    if parsed is None:
        raise Invalid(f"{name}: '{rest}' is not a valid number", expression=name)
    return prefix, *parsed


def criterion(param: SearchParam, modifier: str | None, value: str) -> Criterion:
    """Parse one number value (no modifiers)."""
    if modifier is not None:
        raise UnknownModifier(modifier)
    prefix, number, lo, hi = parse_number(param.name, value)
    return RangeTest(param.name, prefix, lo, hi, number)


def quantity_criterion(param: SearchParam, modifier: str | None, value: str) -> Criterion:
    """Parse `[prefix]number[|system|code]` (`||code` matches code or unit in any system)."""
    if modifier is not None:
        raise UnknownModifier(modifier)
    parts = value.split("|")
    if len(parts) not in (1, 3):
        raise Invalid(f"{param.name}: expected '[prefix]number|system|code', got '{value}'",
                      expression=param.name)
    prefix, number, lo, hi = parse_number(param.name, parts[0])
    system = parts[1] or None if len(parts) == 3 else None
    code = parts[2] or None if len(parts) == 3 else None
    return RangeTest(param.name, prefix, lo, hi, number, system, code)
