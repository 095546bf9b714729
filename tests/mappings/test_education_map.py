"""The education map (mappings/education/map.json): every sample (school census extracts and
children missing education notifications) against its golden file, the invariants, and round
trips (samples and generated pupils).

The map has two record kinds: `pupil` (SchoolCensus/Pupils/PupilOnRoll) and `missing`
(CMENotification/Children/CMEChild); each resource map runs for one kind.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import xmltodict
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from server.mapping import paths
from server.mapping.forward import records as native_records
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

NAME = "education"
SAMPLES = samples(NAME)
CENSUS = [s for s in SAMPLES if s["file"].startswith("census-")]
CME = [s for s in SAMPLES if s["file"].startswith("cme-")]
PUPIL = "/SchoolCensus/Pupils/PupilOnRoll"
CME_CHILD = "/CMENotification/Children/CMEChild"
IRT = "https://cradle.example/fhir/CodeSystem/irt-concern"
SEN_TYPE = "https://cradle.example/fhir/CodeSystem/education-sen-type"
DFE_SEN_TYPE = "https://cradle.example/fhir/CodeSystem/dfe-sen-type"


def _read(file: str) -> Any:
    return agency(NAME).format.read((MAPPINGS / NAME / "samples" / file).read_bytes())


def _pupils(tree: Any) -> list[Any]:
    return [item for kind in agency(NAME).mapping.records if kind.name == "pupil"
            for item, _ in paths.each(tree, kind.path)]


def _cme_children(tree: Any) -> list[Any]:
    return [item for item, _ in paths.each(tree, paths.parse("CMENotification.Children.CMEChild"))]


def _needs(pupil: Any) -> list[tuple[str, str]]:
    found = paths.each(pupil, paths.parse("SpecialEducationalNeeds.SENneeds.SENneed"))
    return [(str(need["SENtype"]), str(need["SENtypeRank"])) for need, _ in found]


def test_errors_point_at_the_element() -> None:
    record = run(NAME, "census-spr25-bad-upn-check-letter-maisie.xml")[0]
    errors = [i for i in record.issues if i.severity == "error"]
    assert [i.message_id for i in errors] == ["invariant-upn-2"]
    assert errors[0].native == f"{PUPIL}/PupilIdentifiers/UPN"
    assert errors[0].expression and "identifier" in errors[0].expression
    record = run(NAME, "census-spr25-impossible-dob-reuben.xml")[0]
    assert [(i.message_id, i.native) for i in record.issues if i.severity == "error"] == \
        [("map-bad-value", f"{PUPIL}/PupilIdentifiers/DOB")]


def test_schema_errors_point_at_the_element() -> None:
    record = run(NAME, "census-spr25-uk-format-dob-amelia.xml")[0]
    assert [i.native for i in record.issues if i.severity == "error"] == \
        [f"{PUPIL}/PupilIdentifiers/DOB"]


def test_schema_rejects_are_rejected_by_the_schema() -> None:
    for file in ("census-spr25-uk-format-dob-amelia.xml", "census-spr25-missing-upn-kacper.xml"):
        record = run(NAME, file)[0]
        assert record.rejected and not record.resources
        assert {i.message_id for i in record.issues} == {"map-native-schema"}


def test_content_checks_reject_a_pupil_and_name_the_element() -> None:
    tree = _read("census-spr25-mill-lane-amelia-okafor.xml").tree
    status = tree["SchoolCensus"]["Pupils"]["PupilOnRoll"]["PupilStatus"]
    status["EntryDate"], status["LeavingDate"] = "2018-09-05", "2018-07-01"
    record = _map(tree)[0]
    assert [(i.message_id, i.native) for i in record.issues if i.severity == "error"] == \
        [("map-check-leaving-after-entry", f"{PUPIL}/PupilStatus/LeavingDate")]
    status["EntryDate"], status["LeavingDate"] = "2018-02-30", None
    record = _map(tree)[0]
    assert [i.message_id for i in record.issues if i.severity == "error"] == \
        ["map-check-entry-date-real"]
    status["EntryDate"] = "2025-02-01"  # after the file was produced (2025-01-17)
    record = _map(tree)[0]
    assert [i.message_id for i in record.issues if i.severity == "error"] == \
        ["map-check-entry-not-after-file"]


def test_unknown_sen_type_is_kept_and_reported_not_guessed() -> None:
    record = run(NAME, "census-spr25-unknown-sen-type-zara.xml")[0]
    need = next(r.resource for r in record.resources if r.name == "senNeed")
    assert need["valueCodeableConcept"] == {"coding": [{"system": SEN_TYPE, "code": "DYS"}]}
    assert [(i.message_id, i.native) for i in record.issues if i.severity == "warning"] == \
        [("map-unmapped-code", f"{PUPIL}/SpecialEducationalNeeds/SENneeds/SENneed/SENtype")]
    assert not record.rejected


def test_sen_needs_are_ranked_observations_of_the_child() -> None:
    records = run(NAME, "census-spr25-northshire-academy-two-pupils.xml")
    reuben = records[0]
    child = next(r for r in reuben.resources if r.name == "child")
    needs = [r.resource for r in reuben.resources if r.name == "senNeed"]
    assert [(n["valueCodeableConcept"]["coding"][0], n["component"][0]["valueInteger"])
            for n in needs] == [
        ({"system": DFE_SEN_TYPE, "code": "ASD", "display": "Autistic spectrum disorder"}, 1),
        ({"system": DFE_SEN_TYPE, "code": "SEMH",
          "display": "Social, emotional and mental health"}, 2)]
    assert {n["subject"]["reference"] for n in needs} == {child.reference}
    assert len({n["id"] for n in needs}) == 2
    jayden = records[1]
    assert not [r for r in jayden.resources if r.name == "senNeed"]
    provision = next(r.resource for r in jayden.resources if r.name == "senProvision")
    assert provision["valueCodeableConcept"]["coding"][0]["code"] == "N"


def test_two_pupils_give_two_children_keyed_and_located_by_pupil() -> None:
    records = run(NAME, "census-spr25-northshire-academy-two-pupils.xml")
    assert [r.key for r in records] == ["A201103510006", "B201100709002"]
    assert [r.location for r in records] == [f"{PUPIL}[1]", f"{PUPIL}[2]"]
    children = [x for r in records for x in r.resources if x.name == "child"]
    assert len(children) == 2 and children[0].reference != children[1].reference
    assert children[1].resource["identifier"] == [
        {"system": "https://cradle.example/fhir/Id/upn", "value": "B201100709002"},
        {"system": "https://cradle.example/fhir/Id/uln", "value": "6739709342"}]


def test_child_demographics() -> None:
    child = next(r for r in run(NAME, "census-spr25-extended-ethnicity-maisie.xml")[0].resources
                 if r.name == "child").resource
    assert child["name"] == [{"use": "official", "family": "Kowalczyk", "given": ["Maisie"]},
                             {"use": "usual", "given": ["Maisy"]}]
    assert child["gender"] == "female" and child["birthDate"] == "2016-09-05"
    ethnicity = {e["url"].rsplit("/", 1)[1]: e["valueCodeableConcept"]["coding"]
                 for e in child["extension"]}
    assert [c["code"] for c in ethnicity["Extension-DfEEthnicity"]] == ["WOTH", "WEEU"]
    assert [c["code"] for c in ethnicity["Extension-UKCore-EthnicCategory"]] == ["C"]
    assert child["address"] == [{"use": "home", "line": ["14 Queens Road", "Northshire"],
                                 "postalCode": "NS5 6AB"}]
    jaydon = next(r for r in run(NAME, "census-spr25-same-child-jaydon-whitfield-reid.xml")[0]
                  .resources if r.name == "child")
    assert {"use": "old", "family": "Whitfield"} in jaydon.resource["name"]
    assert jaydon.match == ("https://fhir.nhs.uk/Id/nhs-number",
                            "https://cradle.example/fhir/Id/upn",
                            "https://cradle.example/fhir/Id/uln")


def test_fields_without_a_target_are_reported() -> None:
    record = run(NAME, "census-spr25-extended-ethnicity-maisie.xml")[0]
    carried_not = {i.native for i in record.issues if i.message_id == "map-not-carried"}
    assert carried_not == {f"{PUPIL}/PupilCharacteristics/FirstLanguage",
                           f"{PUPIL}/PupilStatus/EnrolStatus", f"{PUPIL}/PupilStatus/EntryDate",
                           f"{PUPIL}/PupilStatus/NCyearActual"}


def _assert_pupil_round_trip(native_doc: Any, native: Any, record: Any) -> None:
    rendered = render_back(NAME, record)
    fmt = agency(NAME).format
    reparsed = fmt.read(fmt.render(rendered)).tree  # the rendered XML reads back
    for tree in (rendered, reparsed):
        pupils = _pupils(tree)
        assert len(pupils) == 1
        assert_round_trip(NAME, native, pupils[0])
        assert _needs(pupils[0]) == _needs(native)  # `each` items, left to us by the harness
        if any(r.name.startswith("sen") for r in record.resources):  # census day rides on SEN
            reference = paths.parse("SchoolCensus.Header.CollectionDetails.ReferenceDate")
            assert paths.get(tree, reference) is not None
            assert paths.get(tree, reference)[0] == paths.get(native_doc, reference)[0]


@pytest.mark.parametrize("sample", [s for s in CENSUS if s["expected"] == "accept"],
                         ids=lambda s: s["file"])
def test_round_trip(sample: dict) -> None:
    document = _read(sample["file"])
    natives = native_records(agency(NAME).mapping, document)
    records = run(NAME, sample["file"])
    for (native, _), record in zip(natives, records, strict=True):
        _assert_pupil_round_trip(document.tree, native, record)


def test_rendered_pupil_identity_meets_the_native_schema() -> None:
    """The identity part of a rendered pupil is schema-valid (PupilStatus is not carried, so a
    whole rendered pupil is not: see the map's `unmapped`)."""
    schema = agency(NAME).schema
    identifiers = {"$defs": schema["$defs"],
                   **schema["$defs"]["PupilOnRoll"]["properties"]["PupilIdentifiers"]}
    for sample in [s for s in CENSUS if s["expected"] == "accept"]:
        for record in run(NAME, sample["file"]):
            pupil = _pupils(render_back(NAME, record))[0]
            errors = list(Draft202012Validator(identifiers).iter_errors(
                pupil["PupilIdentifiers"]))
            assert not errors, (sample["file"], [e.message for e in errors])


def _named(record: Any, name: str) -> list[Any]:
    return [r for r in record.resources if r.name == name]


def test_cme_child_gets_a_missing_education_concern() -> None:
    record = run(NAME, "cme-zahra-hussain-whereabouts-unknown.xml")[0]
    assert record.kind == "missing" and record.key == "V201101411003"
    assert record.location == CME_CHILD and not record.rejected
    child, = _named(record, "missingChild")
    concern, = (r.resource for r in _named(record, "missingConcern"))
    assert not _named(record, "child") and not _named(record, "senProvision")
    assert concern["category"] == [{"coding": [
        {"system": IRT, "code": "missing-education", "display": "Child missing education"},
        {"system": "https://cradle.example/fhir/CodeSystem/education-cme-reason",
         "code": "CME02"}]}]
    assert concern["code"]["coding"][0] == {
        "system": "https://cradle.example/fhir/CodeSystem/education-cme-reason", "code": "CME02"}
    assert concern["subject"] == {"reference": child.reference}
    assert concern["author"] == {"reference": "Organization/test-agency"}
    assert concern["period"] == {"start": "2025-03-21"}
    assert {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "7111868293"} in \
        child.resource["identifier"]
    assert child.match == ("https://fhir.nhs.uk/Id/nhs-number",
                           "https://cradle.example/fhir/Id/upn",
                           "https://cradle.example/fhir/Id/uln")


def test_cme_bad_nhs_number_is_rejected_at_the_element() -> None:
    record = run(NAME, "cme-maisie-kowalczyk-bad-nhs-number.xml")[0]
    errors = [i for i in record.issues if i.severity == "error"]
    assert [(i.message_id, i.native) for i in errors] == \
        [("invariant-nhs-2", f"{CME_CHILD}/ChildIdentifiers/NHSNumber")]
    assert errors[0].expression and "identifier" in errors[0].expression


def test_two_cme_children_give_two_children_and_two_concerns() -> None:
    records = run(NAME, "cme-two-children-excluded-and-missing-from-home.xml")
    assert [r.key for r in records] == ["A201103510006", "B201100709002"]
    assert [r.location for r in records] == [f"{CME_CHILD}[1]", f"{CME_CHILD}[2]"]
    children = [c for r in records for c in _named(r, "missingChild")]
    concerns = [c for r in records for c in _named(r, "missingConcern")]
    assert len(children) == 2 and len(concerns) == 2
    assert len({c.reference for c in children}) == 2
    for record in records:
        child, = _named(record, "missingChild")
        concern, = _named(record, "missingConcern")
        assert concern.resource["subject"] == {"reference": child.reference}
    reuben, jayden = (c.resource for c in children)
    assert "extension" in reuben  # no NHS number: the reason why not (child-1)
    assert {e["valueCodeableConcept"]["coding"][0]["code"] for e in reuben["extension"]} == \
        {"nhs-number-not-known"}
    assert "extension" not in jayden
    # A reason the ConceptMap sends to two concerns (CME06) gives both, beside the local code.
    codes = [[c["code"] for c in x.resource["category"][0]["coding"] if c["system"] == IRT]
             for x in concerns]
    assert codes == [["missing-education"], ["missing-education", "missing-from-home"]]


def test_cme_reason_without_a_concern_category_raises_no_concern() -> None:
    tree = _read("cme-zahra-hussain-whereabouts-unknown.xml").tree
    child = tree["CMENotification"]["Children"]["CMEChild"]
    child["CMEReason"] = "CME03"  # elective home education: unmapped on purpose
    record = _map(tree)[0]
    assert not record.rejected and not _named(record, "missingConcern")
    assert len(_named(record, "missingChild")) == 1
    assert f"{CME_CHILD}/CMEReason" in {i.native for i in record.issues
                                        if i.message_id == "map-not-carried"}
    child["CMEReason"] = "CME99"
    record = _map(tree)[0]
    assert [(i.message_id, i.native) for i in record.issues if i.severity == "warning"
            and i.message_id.startswith("map-")] == \
        [("map-check-cme-reason-known", f"{CME_CHILD}/CMEReason")]
    child["CMEReason"], child["ChildIdentifiers"]["DOB"] = "CME02", "2021-01-01"
    record = _map(tree)[0]
    assert [(i.message_id, i.native) for i in record.issues if i.severity == "error"] == \
        [("map-check-cme-compulsory-school-age", f"{CME_CHILD}/ChildIdentifiers/DOB")]


@pytest.mark.parametrize("sample", [s for s in CME if s["expected"] == "accept"],
                         ids=lambda s: s["file"])
def test_cme_round_trip(sample: dict) -> None:
    document = _read(sample["file"])
    natives = native_records(agency(NAME).mapping, document)
    records = run(NAME, sample["file"])
    fmt = agency(NAME).format
    for (native, _), record in zip(natives, records, strict=True):
        rendered = render_back(NAME, record)
        reparsed = fmt.read(fmt.render(rendered)).tree
        assert list(reparsed) == ["CMENotification"]
        for tree in (rendered, reparsed):
            children = _cme_children(tree)
            assert len(children) == 1
            assert_round_trip(NAME, native, children[0])
            for key in ("CMEReason", "DateIdentified"):
                assert children[0][key] == native[key]
            assert children[0]["ChildIdentifiers"]["UPN"] == native["ChildIdentifiers"]["UPN"]


def _map(tree: Any) -> list[Any]:
    codes, validator = tools()
    return map_native(agency(NAME), xmltodict.unparse(tree).encode(), codes, validator, "t")


UPNS = ["G201100014001", "A201103510006", "B201100709002", "U201104219007", "V201102816005"]
SEXES = ["M", "F", "U"]
ETHNICITIES = ["WBRI", "WEEU", "BAFR", "MWBC", "APKN", "AMPK", "NOBT", "REFU"]
SEN_TYPES = ["SPLD", "ASD", "SEMH", "NSA", "OTH", "MLD"]
names = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz' -", min_size=1,
                max_size=20).filter(str.strip).map(str.strip)
lines = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij0123456789 ,'-", min_size=1,
                max_size=30).filter(str.strip).map(str.strip)


@settings(max_examples=40, deadline=None)
@given(upn=st.sampled_from(UPNS), family=names, given_=names, middle=st.none() | names,
       preferred=st.none() | names,
       dob=st.dates(min_value=date(2005, 9, 1), max_value=date(2020, 8, 31)),
       sex=st.sampled_from(SEXES), ethnicity=st.none() | st.sampled_from(ETHNICITIES),
       needs=st.lists(st.sampled_from(SEN_TYPES), max_size=3, unique=True),
       address=st.lists(lines, max_size=5), postcode=st.sampled_from([None, "NS1 2AB", "NS12 9ZZ"]))
def test_generated_pupils_round_trip(upn: str, family: str, given_: str, middle: str | None,
                                     preferred: str | None, dob: date, sex: str,
                                     ethnicity: str | None, needs: list[str],
                                     address: list[str], postcode: str | None) -> None:
    identifiers = {"UPN": upn, "Surname": family, "Forename": given_, "MiddleNames": middle,
                   "PreferredForename": preferred, "DOB": dob.isoformat(), "Sex": sex}
    pupil: dict[str, Any] = {
        "PupilIdentifiers": {k: v for k, v in identifiers.items() if v is not None},
        "PupilStatus": {"EnrolStatus": "C", "EntryDate": "2024-09-04", "NCyearActual": "6"}}
    if ethnicity:
        pupil["PupilCharacteristics"] = {"Ethnicity": ethnicity}
    if needs:
        listed = [{"SENtypeRank": str(i + 1), "SENtype": t} for i, t in enumerate(needs)]
        pupil["SpecialEducationalNeeds"] = {
            "SENprovision": "K", "SENneeds": {"SENneed": listed[0] if len(listed) == 1
                                              else listed}}
    if address or postcode:
        home: dict[str, Any] = {}
        if address:
            home["AddressLines"] = {"AddressLine": address[0] if len(address) == 1 else address}
        if postcode:
            home["PostCode"] = postcode
        pupil["HomeInformation"] = {"Address": home}
    tree = {"SchoolCensus": {
        "Header": {"CollectionDetails": {"Collection": "SC", "Term": "SPR", "Year": "2025",
                                         "ReferenceDate": "2025-01-16"},
                   "Source": {"SourceLevel": "S", "LEA": "201", "Estab": "2001",
                              "DateTime": "2025-01-17T09:42:10"}},
        "Pupils": {"PupilOnRoll": pupil}}}
    records = _map(tree)
    assert len(records) == 1
    record = records[0]
    assert not record.rejected, record.issues
    check_invariants(records, children=1)
    warned = [i.native for i in record.issues if i.severity == "warning"]
    assert len(warned) == (1 if "NSA" in needs else 0), record.issues
    _assert_pupil_round_trip(tree, pupil, record)
