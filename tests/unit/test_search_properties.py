"""Property tests: date prefixes, number precision, string normalisation, driving lookups."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from server.search.criteria import AllOf, driving_lookup, matches
from server.search.normalise import date_interval, normalise, number_range
from server.search.query import parse_search
from tests.unit.search_support import indexer, registry

dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
precisions = st.sampled_from([4, 7, 10])  # year, month, day


def criterion(param: str, value: str) -> AllOf:
    return parse_search(registry(), "Patient", [(param, value)], True).criteria


def lookup_admits(query: AllOf, keys: list[str]) -> bool:
    lookup = driving_lookup(query)
    if lookup is None:
        return True
    if lookup.keys:
        return bool(set(lookup.keys) & set(keys))
    assert lookup.lo is not None and lookup.hi is not None
    return any(lookup.lo <= k < lookup.hi for k in keys)


@settings(max_examples=300, deadline=None)
@given(birth=dates, search=dates, precision=precisions)
def test_date_eq_is_interval_containment(birth: date, search: date, precision: int) -> None:
    index = indexer().build_index({"resourceType": "Patient", "id": "x",
                                   "birthDate": birth.isoformat()})
    value = search.isoformat()[:precision]
    expected = birth.isoformat()[:precision] == value
    query = criterion("birthdate", f"eq{value}")
    assert matches(query, index) == expected
    if expected:
        assert lookup_admits(query, index["k"])


@settings(max_examples=300, deadline=None)
@given(birth=dates, search=dates, precision=precisions,
       op=st.sampled_from(["ge", "lt", "gt", "le", "sa", "eb", "ne"]))
def test_date_prefixes_partition_and_lookup_is_superset(birth: date, search: date,
                                                        precision: int, op: str) -> None:
    index = indexer().build_index({"resourceType": "Patient", "id": "x",
                                   "birthDate": birth.isoformat()})
    value = search.isoformat()[:precision]
    ge, lt = (matches(criterion("birthdate", f"{p}{value}"), index) for p in ("ge", "lt"))
    assert ge != lt  # a day always lies before, within or after a coarser calendar period
    gt, le = (matches(criterion("birthdate", f"{p}{value}"), index) for p in ("gt", "le"))
    assert gt != le
    query = criterion("birthdate", f"{op}{value}")
    if matches(query, index):
        assert lookup_admits(query, index["k"])


@given(day=dates)
def test_day_interval_is_one_day(day: date) -> None:
    interval = date_interval(day.isoformat())
    assert interval is not None
    assert interval[0].startswith(day.isoformat())
    assert interval[1].startswith(day.isoformat()) and interval[1].endswith("23:59:59.999999Z")
    nxt = date_interval((day + timedelta(days=1)).isoformat()) if day < date(2100, 1, 1) else None
    if nxt:
        assert interval[1] < nxt[0]


@given(st.text())
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert once == once.strip() and "  " not in once


@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20))
def test_string_search_matches_own_prefixes(text: str) -> None:
    prefix = text[: max(1, len(text) // 2)]
    if not normalise(prefix) or "," in prefix or "\\" in prefix:
        return
    index = indexer().build_index({"resourceType": "Patient", "id": "x",
                                   "name": [{"family": text}]})
    query = criterion("family", prefix)
    assert matches(query, index) == normalise(text).startswith(normalise(prefix))
    assert matches(criterion("family:exact", text), index) is ("," not in text)


@given(st.decimals(min_value=-10**6, max_value=10**6, allow_nan=False, places=3))
def test_number_precision_contains_value(value: object) -> None:
    parsed = number_range(str(value))
    assert parsed is not None
    number, lo, hi = parsed
    assert lo <= number < hi
