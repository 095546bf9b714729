"""The kit's search tests are generated from what a target claims: one per searchable claimed
parameter of Patient, ServiceRequest and Flag, each finding the kit's record by its own value."""

from __future__ import annotations

import pytest

from server.conformance.generated import _registry, claimed_search_tests
from server.conformance.search_values import as_search


@pytest.mark.parametrize(("type_", "value", "expected"), [
    ("token", {"system": "s", "value": "v"}, "s|v"),
    ("token", {"coding": [{"system": "s", "code": "c"}]}, "s|c"),
    ("token", True, "true"),
    ("token", {"text": "no code"}, None),
    ("reference", {"reference": "Patient/1"}, "Patient/1"),
    ("date", "2025-03-01T10:00:00+00:00", "2025-03-01"),
    ("date", {"start": "2025-03-01"}, "ge2025-03-01"),
    ("string", {"family": "Ames", "given": ["Kit"]}, "Ames"),
])
def test_values_become_the_search_that_finds_them(type_: str, value: object,
                                                  expected: str | None) -> None:
    assert as_search(type_, value) == expected


def test_one_test_per_claimed_searchable_parameter() -> None:
    claims = {"Patient.search:identifier", "Patient.search:birthdate", "Flag.search:patient",
              "Flag.search:category", "ServiceRequest.search:code",
              "Patient.search:no-such-parameter"}
    tests = {t.id: t for t in claimed_search_tests(claims, _registry())}
    # code: the kit's Referral has only code.text, which no token search can find
    assert set(tests) == {"api-search-Patient-identifier", "api-search-Patient-birthdate",
                          "api-search-Flag-patient", "api-search-Flag-category"}
    steps = tests["api-search-Flag-patient"].steps
    assert [s.method for s in steps] == ["POST", "POST", "GET", "GET"]
    assert tests["api-search-Flag-patient"].mandatory
