"""The search criteria AST, its evaluation on an index document, and index-driven lookups.

A parsed search is an `AllOf` of per-parameter criteria. Leaves test the `k` keys or `r` ranges
of a candidate's index document (see `server.search.index`). `Chain` and `Has` name other
searches; the interaction layer resolves them into `HasKey` leaves before anything is matched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from server.search.lookup import EMPTY, KeyLookup, driver_form, driver_prefix

HIGH = "\U0010ffff"


@dataclass(frozen=True, slots=True)
class HasKey:
    """True when the index holds any of `keys`."""

    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KeyPrefix:
    """True when some key starts with `prefix` (and contains `needle` after it, if set).

    `drivable` marks prefixes whose keys are their own drivers (normalised strings, which never
    contain `|`), so the store may look them up by range.
    """

    prefix: str
    needle: str = ""
    drivable: bool = False


@dataclass(frozen=True, slots=True)
class RangeTest:
    """A date/number/quantity comparison against the `r` entries of `param`.

    `lo`/`hi` bound the search value (closed for dates, half-open [lo, hi) for numbers), `value`
    is the number as written; `system`/`code` filter quantity units.
    """

    param: str
    op: str
    lo: Any
    hi: Any
    value: float | None = None
    system: str | None = None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Not:
    child: Criterion


@dataclass(frozen=True, slots=True)
class AnyOf:
    children: tuple[Criterion, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    children: tuple[Criterion, ...]


@dataclass(frozen=True, slots=True)
class Chain:
    """`param` (a reference) points at a resource of one of `targets` matching `inner`."""

    param: str
    targets: tuple[str, ...]
    inner: Criterion


@dataclass(frozen=True, slots=True)
class Has:
    """Some `resource_type` resource whose `param` references this one matches `inner`."""

    resource_type: str
    param: str
    inner: Criterion


Criterion = HasKey | KeyPrefix | RangeTest | Not | AnyOf | AllOf | Chain | Has


def matches(criterion: Criterion, index: dict[str, Any]) -> bool:
    """Return whether a candidate's index document satisfies `criterion`.

    Raises ValueError for an unresolved `Chain`/`Has`.
    """
    return _match(criterion, frozenset(index.get("k", ())), index)


def _match(c: Criterion, keys: frozenset[str], index: dict[str, Any]) -> bool:
    if isinstance(c, HasKey):
        return any(k in keys for k in c.keys)
    if isinstance(c, AllOf):
        return all(_match(x, keys, index) for x in c.children)
    if isinstance(c, AnyOf):
        return any(_match(x, keys, index) for x in c.children)
    if isinstance(c, Not):
        return not _match(c.child, keys, index)
    if isinstance(c, KeyPrefix):
        size = len(c.prefix)
        return any(k.startswith(c.prefix) and c.needle in k[size:] for k in keys)
    if isinstance(c, RangeTest):
        entries = [e for e in index.get("r", ()) if e.get("p") == c.param]
        if c.op == "ne":
            return bool(entries) and not any(_range(c, e, "eq") for e in entries)
        return any(_range(c, e, c.op) for e in entries)
    raise ValueError(f"unresolved criterion {c!r}")


def _range(c: RangeTest, entry: dict[str, Any], op: str) -> bool:
    if c.code is not None:
        if c.system is not None:
            if entry.get("sys") != c.system or entry.get("code") != c.code:
                return False
        elif c.code not in (entry.get("code"), entry.get("unit")):
            return False
    tlo, thi = entry.get("lo"), entry.get("hi")
    if c.value is None:  # dates: fixed-width strings, closed intervals
        return _date_compare(op, tlo or "", thi or HIGH, c.lo, c.hi)
    lo = -math.inf if tlo is None else tlo
    hi = math.inf if thi is None else thi
    v = c.value
    if op == "eq":  # the target lies within the implicit precision range [lo, hi)
        return bool(c.lo <= lo and hi < c.hi)
    if op == "ap":
        slack = abs(v) * 0.1
        return bool(lo <= v + slack and hi >= v - slack)
    tests = {"gt": hi > v, "lt": lo < v, "ge": hi >= v, "le": lo <= v, "sa": lo > v, "eb": hi < v}
    return bool(tests.get(op, False))


def _date_compare(op: str, lo: str, hi: str, slo: str, shi: str) -> bool:
    # Spec semantics for ranges: `gt` = part of the target lies after the search range, etc.
    within = slo <= lo and hi <= shi
    if op == "eq":
        return within
    if op == "gt":
        return hi > shi
    if op == "lt":
        return lo < slo
    if op == "ge":
        return hi > shi or within
    if op == "le":
        return lo < slo or within
    if op == "sa":
        return lo > shi
    if op == "eb":
        return hi < slo
    if op == "ap":  # overlap: the search range was already widened when parsed
        return lo <= shi and hi >= slo
    return False


def driving_lookup(criterion: Criterion,
                   rename: Mapping[str, str] = EMPTY) -> KeyLookup | None:
    """Return the most selective index lookup implied by `criterion`, or None for a full scan.

    Preference: `_id` keys, then other exact keys (tokens, references, uris), then prefixes
    (longest first), then date bounds, then presence keys.
    """
    best: tuple[tuple[int, int], KeyLookup] | None = None
    children = criterion.children if isinstance(criterion, AllOf) else (criterion,)
    for child in children:
        option = _lookup(child, rename)
        if option is not None and (best is None or option[0] < best[0]):
            best = option
    return best[1] if best else None


def _lookup(c: Criterion, rename: Mapping[str, str]) -> tuple[tuple[int, int], KeyLookup] | None:
    if isinstance(c, HasKey) and c.keys:
        if all(k.startswith("_id|") for k in c.keys):
            return (0, len(c.keys)), KeyLookup(ids=tuple(sorted(k[4:] for k in c.keys)))
        forms = {driver_form(k, rename) for k in c.keys}
        if None in forms:
            return None
        return (1, len(forms)), KeyLookup(keys=tuple(sorted(k for k in forms if k)))
    if isinstance(c, AnyOf) and c.children and all(isinstance(x, HasKey) for x in c.children):
        keys = tuple(k for x in c.children for k in x.keys)  # type: ignore[union-attr]
        return _lookup(HasKey(keys), rename)
    if isinstance(c, AllOf) and c.children:
        found = driving_lookup(c, rename)
        return ((5, 0), found) if found else None
    if isinstance(c, KeyPrefix) and c.drivable and not c.needle:
        prefix = driver_prefix(c.prefix, rename)
        return ((2, -len(prefix)), KeyLookup.prefix(prefix)) if prefix else None
    if isinstance(c, RangeTest) and c.value is None:
        return _date_lookup(c, rename)
    return None


def _date_lookup(c: RangeTest,
                 rename: Mapping[str, str]) -> tuple[tuple[int, int], KeyLookup] | None:
    # Lower bounds `p>lo` (fixed width) are driver keys, so these ops map to key ranges;
    # upper bounds `p<hi` are not indexed (see `server.search.lookup.driver_form`).
    driver = rename.get(c.param, c.param)
    if not driver and c.param == "_lastUpdated":
        return _updated_lookup(c)
    if not driver:
        return None  # not driven: see `server.search.lookup.driver_form`
    lo_key, end = f"{driver}>", "~"
    bounds = {
        "eq": (lo_key + c.lo, lo_key + c.hi + end),
        "lt": (lo_key, lo_key + c.lo),
        "le": (lo_key, lo_key + c.hi + end),
        "sa": (lo_key + c.hi + end, lo_key + HIGH),
    }.get(c.op)
    if bounds is None:
        return None
    return (3, 0), KeyLookup(lo=bounds[0], hi=bounds[1])


_MS = timedelta(milliseconds=1)  # the store keeps `ts` to the millisecond: widen by one


def _updated_lookup(c: RangeTest) -> tuple[tuple[int, int], KeyLookup] | None:
    # A version's `_lastUpdated` range starts at its `ts`: bound `ts` as `matches` bounds that
    # range, one millisecond wider (a superset; every candidate is tested again).
    lo, hi = datetime.fromisoformat(c.lo), datetime.fromisoformat(c.hi)
    bounds = {"eq": (lo - _MS, hi + _MS), "ap": (lo - _MS, hi + _MS), "lt": (None, lo + _MS),
              "eb": (None, lo + _MS), "le": (None, hi + _MS), "gt": (hi - _MS, None),
              "sa": (hi - _MS, None), "ge": (lo - _MS, None)}.get(c.op)
    if bounds is None:
        return None
    return (3, 0), KeyLookup(since=bounds[0], before=bounds[1])
