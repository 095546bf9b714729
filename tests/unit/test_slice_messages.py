"""Slicing messages name every candidate and the discriminator it failed."""

from __future__ import annotations

from server.errors import Issue
from tests.unit.test_validation_profiles import NHS, VALIDATOR, child


def _only(resource: dict[str, object], message_id: str) -> Issue:
    issues = [i for i in VALIDATOR.validate(resource) if i.message_id == message_id]
    assert len(issues) == 1, issues
    return issues[0]


def test_item_in_no_slice_of_a_closed_slicing_lists_each_slice_and_why() -> None:
    p = child()
    p["telecom"].append({"system": "fax", "value": "1"})
    issue = _only(p, "no-matching-slice")
    assert issue.expression == "Patient.telecom[2]"
    assert issue.diagnostics == ("Patient.telecom is closed and no slice matched this item: "
                                 "phone (system is fax, not phone); "
                                 "email (system is fax, not email)")


def test_missing_required_slice_lists_each_item_and_why() -> None:
    p = child()
    p["identifier"][1]["system"] = "https://example.org/other"
    issue = _only(p, "slice-cardinality")
    assert issue.expression == "Patient.identifier"
    assert issue.diagnostics == (
        "Slice Patient.identifier:nhsNumber needs 1..1 items, found 0; no item matched: "
        f"identifier[0] (system is urn:oid:1.2.3, not {NHS}); "
        f"identifier[1] (system is https://example.org/other, not {NHS})")


def test_missing_discriminator_value_is_named() -> None:
    p = child()
    del p["identifier"][1]["system"]
    issue = _only(p, "slice-cardinality")
    assert f"identifier[1] (system is missing, must be {NHS})" in issue.diagnostics


def test_absent_sliced_element() -> None:
    p = child()
    del p["identifier"]
    assert _only(p, "slice-cardinality").diagnostics.endswith("; identifier is absent")
