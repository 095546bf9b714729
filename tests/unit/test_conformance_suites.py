"""The shipped suites load, every test is described for vendors and names catalogued
requirements, and each suite compiles to a valid FHIR R4 TestScript."""

from __future__ import annotations

import pytest

from server.conformance.profiles import profile_validator
from server.conformance.suites import as_testscript, load_requirements, load_suite, suite_names


@pytest.mark.parametrize("name", suite_names())
def test_suite_is_complete_and_compiles_to_a_valid_testscript(name: str) -> None:
    suite = load_suite(name)
    requirements = load_requirements()
    ids = [t.id for t in suite.tests]
    assert len(ids) == len(set(ids)), "test ids are unique"
    for test in suite.tests:
        assert test.title and test.steps
        assert test.requirements and set(test.requirements) <= set(requirements), test.id
    script = as_testscript(suite)
    assert script["resourceType"] == "TestScript"
    assert [t["id"] for t in script["test"]] == ids
    assert profile_validator()(script) == []


def test_every_requirement_has_a_source_and_level() -> None:
    for requirement in load_requirements().values():
        assert requirement["level"] in ("SHALL", "SHOULD", "MAY")
        assert requirement["source"] and requirement["text"]
