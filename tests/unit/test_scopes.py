"""SMART v2 system scopes: parsing, printing, `permits` and narrowing (property tests)."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.security.scopes import (
    ACTIONS,
    BREAK_GLASS,
    Scope,
    Scopes,
    parse_scope,
)

TYPES = ["*", "Patient", "Flag", "ServiceRequest", "AuditEvent", "EpisodeOfCare", "Consent"]
CONCRETE = [t for t in TYPES if t != "*"]
ACTION_SETS = ["".join(c) for n in range(1, 6) for c in combinations(ACTIONS, n)]

scope = st.builds(Scope, st.sampled_from(TYPES), st.sampled_from(ACTION_SETS))
scopes = st.builds(Scopes, st.frozensets(scope, max_size=6),
                   st.frozensets(st.just(BREAK_GLASS)))
action = st.sampled_from(list(ACTIONS))


@pytest.mark.parametrize(("text", "expected"), [
    ("system/Patient.rs", Scope("Patient", "rs")),
    ("system/*.cruds", Scope("*", "cruds")),
    ("system/Flag.c", Scope("Flag", "c")),
    ("system/ServiceRequest.cud", Scope("ServiceRequest", "cud")),
    # SMART v1 spellings
    ("system/Patient.read", Scope("Patient", "rs")),
    ("system/Patient.write", Scope("Patient", "cud")),
    ("system/*.*", Scope("*", "cruds")),
    ("system/*.read", Scope("*", "rs")),
])
def test_parse_scope(text: str, expected: Scope) -> None:
    assert parse_scope(text) == expected


@pytest.mark.parametrize("text", [
    "", "system/Patient.", "system/Patient.sr", "system/Patient.rr", "system/Patient.rsx",
    "system/Patient.x", "system/Patient.READ", "system/patient.rs", "system/Patient",
    "patient/Patient.rs", "user/*.cruds", "system/*.cruds ", " system/*.cruds",
    "system/Observation.rs?category=laboratory", "system/Pat-ient.rs", "openid",
    "cradle/break-glass", "launch/patient", "system/**.rs", "system/Patient.rs.rs",
])
def test_parse_scope_refuses_what_is_not_granted(text: str) -> None:
    assert parse_scope(text) is None


def test_scopes_parse_keeps_grantable_words_only() -> None:
    parsed = Scopes.parse("openid system/Flag.rs  cradle/break-glass cradle/other "
                          "system/Observation.rs?category=x patient/*.read system/Flag.rs")
    assert parsed.resources == frozenset({Scope("Flag", "rs")})
    assert parsed.special == frozenset({BREAK_GLASS})
    assert parsed.break_glass
    assert str(parsed) == "system/Flag.rs cradle/break-glass"
    assert not Scopes.parse("")
    assert not Scopes.parse("openid profile patient/*.read")
    assert Scopes.parse("cradle/break-glass")  # a special scope alone is not nothing
    assert not Scopes.parse("system/*.rs").break_glass


def test_str_is_sorted_and_stable() -> None:
    parsed = Scopes.parse("cradle/break-glass system/Patient.rs system/*.cruds system/Flag.c")
    assert str(parsed) == "system/*.cruds system/Flag.c system/Patient.rs cradle/break-glass"
    assert str(Scopes()) == ""


def test_everything_permits_every_action_on_every_type() -> None:
    everything = Scopes.everything()
    assert all(everything.permits(t, a) for t in TYPES for a in ACTIONS)
    assert everything.break_glass


@pytest.mark.parametrize(("granted", "resource_type", "action", "allowed"), [
    ("system/Patient.rs", "Patient", "r", True),
    ("system/Patient.rs", "Patient", "s", True),
    ("system/Patient.rs", "Patient", "u", False),
    ("system/Patient.rs", "Flag", "r", False),
    ("system/*.rs", "Flag", "s", True),
    ("system/*.rs", "Flag", "c", False),
    ("system/*.c system/Flag.d", "Flag", "d", True),
    ("system/*.c system/Flag.d", "Patient", "d", False),
    ("system/Patient.read", "Patient", "s", True),
    ("system/Patient.write", "Patient", "r", False),
    ("cradle/break-glass", "Patient", "r", False),
    ("", "Patient", "r", False),
])
def test_permits(granted: str, resource_type: str, action: str, allowed: bool) -> None:
    assert Scopes.parse(granted).permits(resource_type, action) is allowed


@settings(max_examples=300, deadline=None)
@given(scope)
def test_scope_round_trips_through_text(one: Scope) -> None:
    assert parse_scope(str(one)) == one


@settings(max_examples=300, deadline=None)
@given(scopes)
def test_scopes_round_trip_through_text(granted: Scopes) -> None:
    assert Scopes.parse(str(granted)) == granted
    assert str(Scopes.parse(str(granted))) == str(granted)
    assert bool(granted) == bool(str(granted))


@settings(max_examples=300, deadline=None)
@given(scopes, st.sampled_from(TYPES), action)
def test_permits_means_some_scope_names_the_type_and_action(granted: Scopes,
                                                            resource_type: str,
                                                            wanted: str) -> None:
    expected = any(wanted in s.actions and s.resource_type in ("*", resource_type)
                   for s in granted.resources)
    assert granted.permits(resource_type, wanted) is expected
    assert not Scopes(frozenset(), granted.special).permits(resource_type, wanted)


@settings(max_examples=500, deadline=None)
@given(scopes, scopes, st.sampled_from(TYPES), action)
def test_narrow_grants_exactly_what_both_allow(allowed: Scopes, requested: Scopes,
                                               resource_type: str, wanted: str) -> None:
    granted = allowed.narrow(requested)
    both = allowed.permits(resource_type, wanted) and requested.permits(resource_type, wanted)
    # Never more than either (a subset of both) ...
    if granted.permits(resource_type, wanted):
        assert both
    # ... and, for a named type, nothing both allow is lost.
    if resource_type != "*" and both:
        assert granted.permits(resource_type, wanted)
    assert granted.special == allowed.special & requested.special
    assert granted.break_glass == (allowed.break_glass and requested.break_glass)


@settings(max_examples=200, deadline=None)
@given(scopes, scopes)
def test_narrow_is_symmetric_and_idempotent_in_effect(allowed: Scopes,
                                                      requested: Scopes) -> None:
    one, other = allowed.narrow(requested), requested.narrow(allowed)
    again = allowed.narrow(one)
    for resource_type in TYPES:
        for wanted in ACTIONS:
            permitted = one.permits(resource_type, wanted)
            assert other.permits(resource_type, wanted) == permitted
            assert again.permits(resource_type, wanted) == permitted
    assert Scopes.parse(str(one)) == one  # what is granted can be printed into a token


@settings(max_examples=200, deadline=None)
@given(scopes)
def test_narrow_by_itself_or_by_everything_keeps_the_grant(allowed: Scopes) -> None:
    for requested in (allowed, Scopes.everything()):
        granted = allowed.narrow(requested)
        for resource_type in CONCRETE:
            for wanted in ACTIONS:
                assert granted.permits(resource_type, wanted) == allowed.permits(
                    resource_type, wanted)
    assert not allowed.narrow(Scopes())
    assert not Scopes().narrow(allowed)


@pytest.mark.parametrize(("allowed", "requested", "granted"), [
    ("system/Flag.rs", "system/*.cruds", "system/Flag.rs"),
    ("system/*.cruds", "system/Patient.rs", "system/Patient.rs"),
    ("system/*.rs", "system/*.cruds", "system/*.rs"),
    ("system/Flag.rs", "system/Patient.rs", ""),
    ("system/Flag.rs", "system/Flag.cud", ""),
    ("system/Patient.cruds", "system/Patient.read", "system/Patient.rs"),
    ("system/*.cruds", "system/*.cruds cradle/break-glass", "system/*.cruds"),
    ("system/*.cruds cradle/break-glass", "system/Flag.r cradle/break-glass",
     "system/Flag.r cradle/break-glass"),
])
def test_narrow_examples(allowed: str, requested: str, granted: str) -> None:
    assert str(Scopes.parse(allowed).narrow(Scopes.parse(requested))) == granted
