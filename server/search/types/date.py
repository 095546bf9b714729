"""Date parameters: every value is a closed interval [lo, hi] of UTC instants.

Ranges: `{"p": p, "lo": lo, "hi": hi}` in `r`. Keys `p>lo` and `p<hi` let the store drive a
search by date through an index range scan (fixed-width strings sort in time order).
Sort value: the earliest `lo`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from server.errors import Invalid
from server.search.criteria import Criterion, RangeTest
from server.search.fhirpath import Found
from server.search.normalise import MAX_INSTANT, MIN_INSTANT, date_interval, fmt
from server.search.registry import SearchParam
from server.search.types import Sink, UnknownModifier, split_prefix


def intervals(value: Any) -> list[tuple[str, str]]:
    """Return the intervals a date, dateTime, instant, Period or Timing value covers."""
    if isinstance(value, str):
        found = date_interval(value)
        return [found] if found else []
    if not isinstance(value, dict):
        return []
    if "start" in value or "end" in value:  # Period: open ends are unbounded
        start = date_interval(value["start"]) if isinstance(value.get("start"), str) else None
        end = date_interval(value["end"]) if isinstance(value.get("end"), str) else None
        return [(start[0] if start else MIN_INSTANT, end[1] if end else MAX_INSTANT)]
    out: list[tuple[str, str]] = []
    events = [i for e in value.get("event") or () for i in intervals(e)]
    if events:  # Timing: the span from the first to the last event
        out.append((min(e[0] for e in events), max(e[1] for e in events)))
    bounds = (value.get("repeat") or {}).get("boundsPeriod")
    if isinstance(bounds, dict):
        out.extend(intervals(bounds))
    return out


def index(name: str, found: list[Found], sink: Sink) -> None:
    """Add a range entry and the two bound keys per interval found."""
    for value, _hint in found:
        for lo, hi in intervals(value):
            sink.ranges.append({"p": name, "lo": lo, "hi": hi})
            sink.keys.add(f"{name}>{lo}")
            sink.keys.add(f"{name}<{hi}")
            sink.sort_min(name, lo)


def criterion(param: SearchParam, modifier: str | None, value: str) -> Criterion:
    """Parse one date value with an optional prefix; raises `Invalid` for a bad date."""
    if modifier is not None:
        raise UnknownModifier(modifier)
    return parse_date(param.name, value)


def parse_date(name: str, value: str) -> RangeTest:
    """Return the range test for `[prefix]date` on index ranges of parameter `name`."""
    prefix, text = split_prefix(name, value)
    interval = date_interval(text)
    if interval is None:
        raise Invalid(f"{name}: '{text}' is not a valid FHIR date/dateTime", expression=name)
    lo, hi = interval
    if prefix == "ap":  # approximately: widen by 10% of the distance from now (at least a day)
        now = datetime.now(UTC)
        moment = datetime.strptime(lo, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        slack = max(abs(now - moment) * 0.1, timedelta(days=1))
        lo, hi = _shift(lo, -slack), _shift(hi, slack)
    return RangeTest(name, prefix, lo, hi)


def _shift(instant: str, delta: timedelta) -> str:
    moment = datetime.strptime(instant, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    try:
        return fmt(moment + delta)
    except OverflowError:
        return MIN_INSTANT if delta < timedelta(0) else MAX_INSTANT
