"""The Connexions map (mappings/connexions/map.json): every sample against its golden file,
the invariants, and round trips (samples and generated rows)."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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

NAME = "connexions"
SAMPLES = samples(NAME)


def test_errors_point_at_the_cell() -> None:
    records = run(NAME, "ccis-2503-iso-dob-schema-reject.csv")
    assert any(i.native == "line 2, column 10 (DOB)" for i in records[0].issues)
    records = run(NAME, "ccis-2503-bad-nhs-number.csv")
    located = [i for i in records[0].issues if i.severity == "error"]
    assert located and located[0].native == "line 2, column 7 (NHSNumber)"
    assert located[0].expression and "identifier" in located[0].expression
    records = run(NAME, "ccis-2503-under-13-out-of-cohort.csv")
    assert [i.message_id for i in records[0].issues if i.severity == "error"] == \
        ["map-check-cohort-age"]


def test_unknown_activity_is_kept_and_reported_not_guessed() -> None:
    record = run(NAME, "ccis-2504-unknown-activity-code.csv")[0]
    activity = next(r.resource for r in record.resources if r.name == "activity")
    assert activity["code"]["coding"] == [
        {"system": "https://cradle.example/fhir/CodeSystem/connexions-activity", "code": "575"}]
    assert any(i.message_id == "map-unmapped-code" and "575" in i.message
               for i in record.issues)


def test_neet_rows_raise_a_concern_and_lapsed_ones_are_inactive() -> None:
    record = run(NAME, "ccis-2503-tyler-brennan-neet-seeking.csv")[0]
    assert [r.resource["status"] for r in record.resources if r.name == "neet"] == ["active"]
    record = run(NAME, "ccis-2503-kacper-nowak-apprenticeship.csv")[0]
    assert not [r for r in record.resources if r.name == "neet"]


def test_fields_without_a_target_are_reported() -> None:
    record = run(NAME, "ccis-2503-tyler-brennan-neet-seeking.csv")[0]
    carried_not = {i.native for i in record.issues if i.message_id == "map-not-carried"}
    assert "line 2, column 19 (YouthOffender)" in carried_not


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s["expected"] == "accept"],
                         ids=lambda s: s["file"])
def test_round_trip(sample: dict) -> None:
    native = agency(NAME).format.read(
        (MAPPINGS / NAME / "samples" / sample["file"]).read_bytes()).tree
    records = run(NAME, sample["file"])
    for row, record in zip(native, records, strict=True):
        assert_round_trip(NAME, row, render_back(NAME, record))


CODES = ["110", "310", "330", "530L", "619", "619J", "540"]
dates = st.dates(min_value=date(2024, 9, 1), max_value=date(2025, 2, 28))


@settings(max_examples=40, deadline=None)
@given(family=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ' -abcdefghij", min_size=1, max_size=20)
       .filter(str.strip), code=st.sampled_from(CODES), ascertained=dates,
       gender=st.sampled_from(["M", "F", "U", ""]), note=st.text(max_size=40))
def test_generated_rows_round_trip(family: str, code: str, ascertained: date, gender: str,
                                   note: str) -> None:
    row = {"YoungPersonsID": "2010000040039", "LACode": "201", "ACADYR": "2024/25",
           "MonthNo": "3", "UPN": "", "ULN": "", "NHSNumber": "2151485463",
           "Surname": family.strip(), "Forename": "Tyler", "DOB": "30/01/2008",
           "Gender": gender, "Ethnicity": "WIRI", "Postcode": "", "SENDStatus": "",
           "LookedAfter": "", "CareLeaver": "", "YoungCarer": "", "TeenageParent": "",
           "YouthOffender": "", "ActivityCode": code, "ActivityStartDate": "",
           "DateAscertained": ascertained.strftime("%d/%m/%Y"), "DateVerified": "",
           "ReviewDate": "", "LapseDate": "30/06/2025", "EstablishmentLAESTAB": "",
           "ProviderUKPRN": "", "Notes": note.replace("\x00", "")}
    out = io.StringIO()
    writer = csv.DictWriter(out, list(row))
    writer.writeheader()
    writer.writerow(row)
    codes, validator = tools()
    records = map_native(agency(NAME), out.getvalue().encode(), codes, validator, "t")
    assert len(records) == 1
    record = records[0]
    assert not record.rejected, record.issues
    check_invariants(records, children=1)
    assert_round_trip(NAME, row, render_back(NAME, record))


@pytest.mark.parametrize(("month", "dob", "in_cohort"), [
    (3, "01/04/2012", True),  # 13 on 1 April 2025, the day after the March extract ends
    (3, "02/04/2012", False),
    (3, "01/04/2005", False),  # 20 on that day
    (3, "02/04/2005", True),
    (2, "29/02/2012", True),  # 13 on 28 February 2025 (no 29th), by 1 March
    (1, "29/02/2012", False),
])
def test_the_cohort_is_13_to_19_at_the_end_of_the_extract_month(month: int, dob: str,
                                                                  in_cohort: bool) -> None:
    lines = (MAPPINGS / NAME / "samples" / "ccis-2503-under-13-out-of-cohort.csv").read_text()
    header, row = lines.splitlines()[:2]
    cells = row.split(",")
    cells[3], cells[9] = str(month), dob
    codes, validator = tools()
    [record] = map_native(agency(NAME), f"{header}\r\n{','.join(cells)}\r\n".encode(), codes,
                          validator, "ccis", None)
    failed = [i.message_id for i in record.issues if i.message_id == "map-check-cohort-age"]
    assert failed == ([] if in_cohort else ["map-check-cohort-age"])
