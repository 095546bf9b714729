"""The social care map (mappings/social-care/map.json): every sample against its golden file,
the invariants, targeted behaviour (located errors, unmapped local codes, dropped identifiers,
purges, SQL datetimes) and round trips (samples and generated children)."""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from server.mapping.forward import MappedRecord
from server.mapping.pipeline import map_native
from tests.mappings.harness import (
    MAPPINGS,
    agency,
    assert_round_trip,
    render_back,
    run,
    samples,
    tools,
)
from tests.mappings.invariants import check_invariants

NAME = "social-care"
SAMPLES = samples(NAME)
SD = "https://cradle.example/fhir/StructureDefinition/"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
SQL_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?$")


def resources(record: MappedRecord, name: str) -> list[dict[str, Any]]:
    return [r.resource for r in record.resources if r.name == name]


def extension(resource: dict[str, Any], url: str) -> dict[str, Any] | None:
    return next((e for e in resource.get("extension", []) if e["url"] == url), None)


def native(file: str) -> Any:
    return agency(NAME).format.read((MAPPINGS / NAME / "samples" / file).read_bytes()).tree


def dates_only(tree: Any) -> Any:
    """The native tree with SQL datetime forms cut to their date part (their declared loss)."""
    if isinstance(tree, dict):
        return {k: dates_only(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [dates_only(v) for v in tree]
    if isinstance(tree, str) and (found := SQL_DATETIME.match(tree)):
        return found.group(1)
    return tree


def ethnicity(child: dict[str, Any]) -> list[str]:
    found = extension(child, SD + "Extension-DfEEthnicity")
    return [c["code"] for c in found["valueCodeableConcept"]["coding"]] if found else []


def test_errors_point_at_the_field() -> None:
    record = run(NAME, "sc-10-kowalczyk-bad-date.json")[0]
    errors = [i for i in record.issues if i.severity == "error"]
    assert errors
    assert {i.native for i in errors} == {"/Children/social_care_episodes/0/referral_date"}
    assert all(i.message_id == "map-bad-value" and "2026-06-31" in i.message for i in errors)
    record = run(NAME, "sc-12-turner-wrong-types.json")[0]
    located = {i.native for i in record.issues if i.severity == "error"}
    assert {"/la_code", "/Children/child_details",
            "/Children/social_care_episodes/0/referral_no_further_action_flag",
            "/Children/social_care_episodes/0/child_and_family_assessments/0/factors"} <= located
    record = run(NAME, "sc-11-okafor-no-la-child-id.json")[0]
    assert [i.native for i in record.issues if i.severity == "error"] == ["/Children"]
    record = run(NAME, "sc-13-hussain-end-before-start.json")[0]
    assert sorted(i.message_id for i in record.issues if i.severity == "error") == \
        ["map-check-cp-plan-ends-before-start", "map-check-episode-closed-before-referral"]


def test_unknown_local_codes_are_reported_not_guessed() -> None:
    record = run(NAME, "sc-06-nowak-unknown-local-codes.json")[0]
    assert not record.rejected
    child = resources(record, "child")[0]
    assert extension(child, SD + "Extension-DfEEthnicity") is None  # never WOTH
    referral = resources(record, "referral")[0]
    assert extension(referral, SD + "Extension-ReferralOutcome") is None
    assert referral["status"] == "completed"  # closed RC7
    warnings = [i for i in record.issues if i.severity == "warning"]
    outcome = "/Children/social_care_episodes/0/referral_outcome"
    assert any(i.message_id == "map-unmapped-code" and "MASH_STEP_UP" in i.message
               and i.native == outcome for i in warnings)
    assert any(i.message_id == "map-check-ethnicity-mapped"
               and i.native == "/Children/child_details/ethnicity" for i in warnings)


def test_ambiguous_ethnicity_sets_no_dfe_code() -> None:
    tree = native("sc-01-okafor-cp-plan.json")
    tree["Children"]["child_details"]["ethnicity"] = "GYPSY_ROMA_TRAVELLER"
    record = map_tree(tree)
    assert not record.rejected
    assert extension(resources(record, "child")[0], SD + "Extension-DfEEthnicity") is None
    assert any(i.message_id == "map-check-ethnicity-mapped" for i in record.issues)


def test_known_codes_are_translated_and_national_codes_carried() -> None:
    record = run(NAME, "sc-04-turner-cp-plan-neglect.json")[0]
    child = resources(record, "child")[0]
    assert child["gender"] == "female"
    assert extension(child, SD + "Extension-DfEEthnicity")["valueCodeableConcept"]["coding"][0] \
        == {"system": "https://cradle.example/fhir/CodeSystem/dfe-ethnicity", "code": "WBRI"}
    referral = resources(record, "referral")[0]
    assert referral["reasonCode"][0]["coding"][0]["code"] == "N1"
    assert extension(referral, SD + "Extension-ReferralSource")["valueCodeableConcept"][
        "coding"][0]["code"] == "3B"
    outcome = extension(referral, SD + "Extension-ReferralOutcome")["extension"]
    assert outcome[0]["valueCodeableConcept"]["coding"][0]["code"] == "Assessment required"
    plan = resources(record, "cpPlanConcern")[0]
    assert plan["category"][0]["coding"][0]["code"] == "MUL"  # latest, not initial NEG
    assert plan["status"] == "active" and plan["period"] == {"start": "2025-11-19"}
    factors = resources(record, "assessmentConcern")[0]
    assert [c["coding"][0]["code"] for c in factors["category"]] == ["16A", "2B"]
    subject = extension(factors, SD + "Extension-ConcernSubject")["valueCodeableConcept"]
    assert [c["code"] for c in subject["coding"]] == ["child", "parent-carer"]


def test_bad_nhs_number_is_dropped_with_a_warning() -> None:
    record = run(NAME, "sc-07-adeyemi-bad-nhs-number.json")[0]
    assert not record.rejected
    child = resources(record, "child")[0]
    assert not [i for i in child["identifier"] if i["system"] == NHS]
    assert extension(child, "https://fhir.hl7.org.uk/StructureDefinition/"
                     "Extension-UKCore-NHSNumberUnavailableReason") is not None
    assert [i.native for i in record.issues if i.message_id == "map-check-nhs-modulus-11"] == \
        ["/Children/child_details/nhs_number"]
    # the same child as sc-03: the same Child id (keyed by la_child_id) and UPN
    other = resources(run(NAME, "sc-03-adeyemi-cin-plan.json")[0], "child")[0]
    assert child["id"] == other["id"]


def test_spaced_nhs_number_and_sql_datetimes() -> None:
    child = resources(run(NAME, "sc-09-whitfield-same-child.json")[0], "child")[0]
    assert [i["value"] for i in child["identifier"] if i["system"] == NHS] == ["5976717233"]
    assert child["name"] == [{"family": "Whitfield", "given": ["Jaden"]}]
    record = run(NAME, "sc-08-hussain-sql-datetimes.json")[0]
    assert resources(record, "child")[0]["birthDate"] == "2011-07-23"
    referral = resources(record, "referral")[0]
    assert referral["authoredOn"].startswith("2026-10-05T09:42:17")
    assert referral["occurrencePeriod"]["end"].startswith("2026-10-06T16:05:00")


def test_bad_sql_birth_date_is_rejected_at_the_field() -> None:
    tree = native("sc-08-hussain-sql-datetimes.json")
    tree["Children"]["child_details"]["date_of_birth"] = "2011-02-30 00:00:00.000"
    record = map_tree(tree)
    assert [i.native for i in record.issues if i.severity == "error"] == \
        ["/Children/child_details/date_of_birth"]


def test_purges_create_nothing_live() -> None:
    record = run(NAME, "sc-14-turner-purged-duplicate-episode.json")[0]
    referral = resources(record, "referral")[0]
    assert referral["status"] == "entered-in-error"
    assert extension(referral, SD + "Extension-ReferralOutcome") is None
    first = resources(run(NAME, "sc-04-turner-cp-plan-neglect.json")[0], "child")[0]
    assert resources(record, "child")[0]["id"] == first["id"]
    record = run(NAME, "sc-03-adeyemi-cin-plan.json")[0]
    assert "CINP-2026-00131" not in json.dumps([r.resource for r in record.resources])
    tree = native("sc-01-okafor-cp-plan.json")
    tree["Children"]["social_care_episodes"][0]["purge"] = True
    record = map_tree(tree)
    assert not record.rejected, record.issues
    statuses = {r.name: r.resource["status"] for r in record.resources if r.name != "child"}
    assert set(statuses.values()) == {"entered-in-error"}
    tree["Children"]["purge"] = True
    assert [i.message_id for i in map_tree(tree).issues if i.severity == "error"] == \
        ["map-check-child-purge"]


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s["expected"] == "accept"],
                         ids=lambda s: s["file"])
def test_round_trip(sample: dict) -> None:
    tree = native(sample["file"])
    record = run(NAME, sample["file"])[0]
    rendered = render_back(NAME, record)
    assert_round_trip(NAME, dates_only(tree), rendered)
    # the rendered document is JSON the format writes and reads back
    again = agency(NAME).format.read(agency(NAME).format.render(rendered)).tree
    assert again == rendered
    episodes = tree["Children"].get("social_care_episodes", [])
    assert [e["social_care_episode_id"] for e in again["Children"]["social_care_episodes"]] == \
        [e["social_care_episode_id"] for e in episodes]
    for before, after in zip(episodes, again["Children"]["social_care_episodes"], strict=True):
        assert after["referral_date"] == dates_only(before)["referral_date"]
        for key in ("referral_source", "primary_need_code", "closure_date"):
            assert dates_only(before).get(key) == after.get(key)


def map_tree(tree: Any) -> MappedRecord:
    codes, validator = tools()
    records = map_native(agency(NAME), json.dumps(tree).encode(), codes, validator, "t")
    assert len(records) == 1
    return records[0]


SEX = ["M", "F", "U"]
ETHNICITY = ["WHITE_BRITISH", "WHITE_IRISH", "ASIAN_PAKISTANI", "BLACK_CARIBBEAN", "CHINESE"]
FACTORS = ["1A", "2B", "3C", "4B", "7A", "10A", "16A", "24A"]
dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 6, 30))


@settings(max_examples=30, deadline=None)
@given(family=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ' -abcdefghij", min_size=1, max_size=20)
       .filter(str.strip), sex=st.sampled_from(SEX), ethnicity_code=st.sampled_from(ETHNICITY),
       referred=dates, days_open=st.integers(0, 400), closed=st.booleans(),
       factors=st.lists(st.sampled_from(FACTORS), min_size=1, max_size=5, unique=True),
       sql=st.booleans())
def test_generated_children_round_trip(family: str, sex: str, ethnicity_code: str,
                                       referred: date,
                                       days_open: int, closed: bool, factors: list[str],
                                       sql: bool) -> None:
    referral_date = referred.isoformat() + (" 10:30:00.000" if sql else "")
    closure = date.fromordinal(referred.toordinal() + days_open).isoformat()
    episode: dict[str, Any] = {
        "social_care_episode_id": "EP-GEN-1", "referral_date": referral_date,
        "referral_source": "2A", "primary_need_code": "N2", "referral_outcome": "CFA",
        "child_and_family_assessments": [{"child_and_family_assessment_id": "CFA-GEN-1",
                                          "start_date": referred.isoformat(),
                                          "authorisation_date": referred.isoformat(),
                                          "factors": factors}]}
    if closed:
        episode |= {"closure_date": closure, "closure_reason": "RC1"}
    tree = {"la_code": 201, "Children": {
        "la_child_id": "LA20140039",
        "child_details": {"unique_pupil_number": "G201102108004", "first_name": "Tyler",
                          "surname": family.strip(), "date_of_birth": "2008-01-30",
                          "sex": sex, "ethnicity": ethnicity_code, "nhs_number": "2151485463"},
        "social_care_episodes": [episode]}}
    assert not list(Draft202012Validator(agency(NAME).schema).iter_errors(tree))
    record = map_tree(copy.deepcopy(tree))
    assert not record.rejected, record.issues
    check_invariants([record], children=1)
    child = resources(record, "child")[0]
    assert any(i["system"] == "https://cradle.example/fhir/Id/la-child-id" for i in
               child["identifier"])
    rendered = render_back(NAME, record)
    assert_round_trip(NAME, dates_only(tree), rendered)
    # what comes back is a valid native record that maps to the same resources
    assert not list(Draft202012Validator(agency(NAME).schema).iter_errors(rendered))
    again = map_tree(rendered)
    assert not again.rejected, again.issues
    assert [r.reference for r in again.resources] == [r.reference for r in record.resources]
    details = rendered["Children"]["child_details"]
    assert (details["ethnicity"], details["nhs_number"], details["unique_pupil_number"]) == \
        (ethnicity_code, "2151485463", "G201102108004")
    assert rendered["Children"]["la_child_id"] == "LA20140039"
    assert len(ethnicity(child)) == 2  # DfE code and the local one beside it
    back = rendered["Children"]["social_care_episodes"][0]
    assert back["child_and_family_assessments"][0]["factors"] == factors
    assert back["referral_date"] == referred.isoformat()
