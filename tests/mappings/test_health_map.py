"""The health map (mappings/health/map.json): every HL7 v2 sample against its golden file, the
invariants, targeted checks, and round trips (samples and generated ADT messages)."""

from __future__ import annotations

import copy
from datetime import date, time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.mapping import paths
from server.mapping.forward import MappedRecord
from server.mapping.pipeline import map_native
from tests.mappings.harness import (
    MAPPINGS,
    agency,
    assert_round_trip,
    render_back,
    run,
    same_meaning,
    samples,
    tools,
)
from tests.mappings.invariants import check_invariants

NAME = "health"
SAMPLES = samples(NAME)
ACCEPTED = [s for s in SAMPLES if s["expected"] == "accept"]
NHS = "https://fhir.nhs.uk/Id/nhs-number"


def read(file: str) -> Any:
    return agency(NAME).format.read((MAPPINGS / NAME / "samples" / file).read_bytes()).tree


def resources(record: MappedRecord, name: str) -> list[dict[str, Any]]:
    return [r.resource for r in record.resources if r.name == name]


def map_message(text: str) -> list[MappedRecord]:
    codes, validator = tools()
    return map_native(agency(NAME), text.replace("\n", "\r").encode(), codes, validator, "t")


def test_errors_point_at_the_field() -> None:
    errors = [i for i in run(NAME, "adt-a28-reuben-bad-nhs-check-digit.hl7")[0].issues
              if i.severity == "error"]
    assert [i.message_id for i in errors] == ["invariant-nhs-2"]
    assert errors[0].native.startswith("PID-3") and "identifier" in (errors[0].expression or "")
    errors = [i for i in run(NAME, "adt-a28-jayden-impossible-dob.hl7")[0].issues
              if i.severity == "error"]
    assert [(i.message_id, i.native) for i in errors] == [("map-bad-value", "PID-7")]
    errors = [i for i in run(NAME, "adt-a28-maisie-uk-format-dob.hl7")[0].issues
              if i.severity == "error"]
    assert any(i.message_id == "map-native-schema" and i.native == "PID-7" for i in errors)
    errors = [i for i in run(NAME, "ref-i12-zara-dob-after-referral.hl7")[0].issues
              if i.severity == "error"]
    assert {(i.message_id, i.native) for i in errors} == {
        ("map-check-dob-not-after-message", "PID-7"), ("map-check-dob-not-after-referral", "PID-7")}
    errors = [i for i in run(NAME, "ref-i12-tyler-missing-rf1.hl7")[0].issues
              if i.severity == "error"]
    assert [i.message_id for i in errors] == ["map-native-schema"]


def test_unknown_ethnic_code_is_reported_not_guessed() -> None:
    record = run(NAME, "adt-a31-reuben-unknown-ethnic-code.hl7")[0]
    child = resources(record, "child")[0]
    assert "extension" not in child
    assert any(i.message_id == "map-unmapped-code" and "'W9'" in i.message and i.native == "PID-22"
               for i in record.issues)


def test_unknown_referral_reason_keeps_the_text_and_raises_no_concern() -> None:
    record = run(NAME, "ref-i12-reuben-unknown-reason.hl7")[0]
    assert not record.rejected
    referral = resources(record, "referral")[0]
    assert referral["reasonCode"] == [{"text": "Online contact with unknown adult"}]
    assert not resources(record, "concern")
    assert any(i.message_id == "map-check-reason-has-concern" and i.native == "RF1-10"
               and i.severity == "warning" for i in record.issues)


def test_referral_and_concerns() -> None:
    record = run(NAME, "ref-i12-jayden-whitfield-ed-injury.hl7")[0]
    child, = resources(record, "child")
    referral, = resources(record, "referral")
    concern, = resources(record, "concern")
    assert referral["subject"] == concern["subject"] == {"reference": f"Patient/{child['id']}"}
    assert referral["priority"] == "urgent"
    assert referral["authoredOn"] == "2025-06-02T23:10:00+01:00"
    assert referral["requester"] == {"reference": "Organization/test-agency"}
    assert concern["category"][0]["coding"][0]["code"] == "PHY"
    record = run(NAME, "ref-i12-lily-mae-escapes-trailing-fields.hl7")[0]
    assert [c["code"]["coding"][0]["code"] for c in resources(record, "concern")] == \
        ["SG02", "SG10"]
    note = resources(record, "referral")[0]["note"][0]["text"]
    assert "little food & unsafe" in note and "ok | don't" in note and "threshold ^ level" in note


THREE_REASONS = ("SG02^Suspected neglect^L~SG10^Was not brought^L"
                 "~SG06^Risk of child sexual exploitation^L")


def with_reasons(reasons: str) -> str:
    """The health visitor's referral (a sample) with RF1-10 replaced by `reasons`."""
    text = (MAPPINGS / NAME / "samples" / "ref-i12-lily-mae-escapes-trailing-fields.hl7") \
        .read_text()
    assert "SG02^Suspected neglect^L~SG10^Was not brought^L" in text
    return text.replace("SG02^Suspected neglect^L~SG10^Was not brought^L", reasons)


def test_every_reason_is_a_concern() -> None:
    record = map_message(with_reasons(THREE_REASONS))[0]
    assert not record.rejected, record.issues
    check_invariants([record], children=1)
    child, = resources(record, "child")
    concerns = resources(record, "concern")
    assert [c["code"]["coding"][0]["code"] for c in concerns] == ["SG02", "SG10", "SG06"]
    assert [c["code"]["text"] for c in concerns] == \
        ["Suspected neglect", "Was not brought", "Risk of child sexual exploitation"]
    assert [c["category"][0]["coding"][0]["code"] for c in concerns] == ["NEG", "NEG", "11A"]
    assert concerns[2]["code"]["coding"][1]["system"] == "http://snomed.info/sct"
    assert len({c["id"] for c in concerns}) == 3
    assert all(c["subject"] == {"reference": f"Patient/{child['id']}"} for c in concerns)
    assert resources(record, "referral")[0]["reasonCode"] == [{"text": "Suspected neglect"}]
    assert not [i for i in record.issues
                if i.severity in ("error", "warning") and i.message_id.startswith("map-")]
    # the reasons the Concerns carry are not reported as dropped
    assert not [i for i in record.issues
                if i.message_id == "map-not-carried" and i.native.startswith("RF1-10")
                and "coding system L" not in i.message]


def test_an_unmapped_reason_among_several_raises_no_concern() -> None:
    record = map_message(with_reasons("SG02^Suspected neglect^L"
                                      "~SG77^Online contact with unknown adult^L"
                                      "~SG10^Was not brought^L"))[0]
    assert not record.rejected, record.issues
    assert [c["code"]["coding"][0]["code"] for c in resources(record, "concern")] == \
        ["SG02", "SG10"]
    warnings = [i for i in record.issues
                if i.severity == "warning" and i.message_id.startswith("map-")]
    assert [(i.message_id, i.native) for i in warnings] == \
        [("map-check-reason-has-concern", "RF1-10")]


def test_three_reasons_round_trip() -> None:
    record = map_message(with_reasons(THREE_REASONS))[0]
    rendered = render_back(NAME, record)
    field = paths.get(rendered, paths.parse("segments[id=RF1].fields[9]"))
    assert field is not None
    assert [r[:2] for r in field[0]] == [["SG02", "Suspected neglect"],
                                         ["SG10", "Was not brought"],
                                         ["SG06", "Risk of child sexual exploitation"]]
    text = agency(NAME).format.render(stamped(rendered, ["REF", "I12"])).decode()
    assert "|SG02^Suspected neglect~SG10^Was not brought~SG06^Risk of child sexual" in text
    again = map_message(text)[0]
    assert not again.rejected, again.issues
    assert without_ids(again)["concern"] == without_ids(record)["concern"]


def test_nhs_number_from_every_place_it_is_sent() -> None:
    for file, number in [("adt-a31-zara-hussain-pid2-nhs.hl7", "7111868293"),
                         ("adt-a28-lily-mae-turner-timestamps.hl7", "6238956860"),
                         ("adt-a28-maisie-minimal.hl7", "9510693332")]:
        child = resources(run(NAME, file)[0], "child")[0]
        assert [i["value"] for i in child["identifier"] if i["system"] == NHS] == [number]


def test_birth_time_and_same_child_from_another_system() -> None:
    child = resources(run(NAME, "adt-a28-lily-mae-turner-timestamps.hl7")[0], "child")[0]
    assert child["birthDate"] == "2019-12-01"
    assert child["_birthDate"]["extension"][0]["valueDateTime"] == "2019-12-01T03:42:00+00:00"
    pas = resources(run(NAME, "adt-a28-amelia-okafor.hl7")[0], "child")[0]
    chis = resources(run(NAME, "adt-a28-amelia-okafur-spelling.hl7")[0], "child")[0]
    assert pas["id"] == chis["id"] and chis["gender"] == "female"
    assert chis["name"][0]["family"] == "OKAFUR"


def test_z_segments_are_tolerated() -> None:
    record = run(NAME, "adt-a31-kacper-nowak-zsegments.hl7")[0]
    assert not record.rejected
    ignored = {i.native for i in record.issues if i.message_id == "map-not-carried"}
    # A segment the map declares unmapped is reported once, not once per value in it.
    assert {"ZU1", "ZCP"} <= ignored
    assert not [n for n in ignored if n.startswith(("ZU1-", "ZCP-", "NK1-", "PV1-"))]


def test_verification_status_from_pid_32() -> None:
    message = ("MSH|^~\\&|PAS|R9Z|CRADLE|LA201|20250314101502||ADT^A28^ADT_A05|X1|P|2.4\n"
               "EVN|A28|20250314101502\n"
               "PID|1||7149709400^^^NHS^NH||OKAFOR^AMELIA||20140312|F" + "|" * 24 + "NSTS02")
    record = map_message(message)[0]
    assert not record.rejected, record.issues
    nhs = next(i for i in resources(record, "child")[0]["identifier"] if i["system"] == NHS)
    assert nhs["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "02"
    rendered = render_back(NAME, record)
    assert paths.get(rendered, paths.parse("segments[id=PID].fields[31][0]"))[0] == "NSTS02"


def test_training_messages_are_not_stored() -> None:
    message = ("MSH|^~\\&|PAS|R9Z|CRADLE|LA201|20250314101502||ADT^A28^ADT_A05|X1|T|2.4\n"
               "EVN|A28|20250314101502\nPID|1||7149709400^^^NHS^NH||OKAFOR^AMELIA||20140312|F")
    record = map_message(message)[0]
    assert [(i.message_id, i.native) for i in record.issues if i.severity == "error"] == \
        [("map-check-processing-id", "MSH-11")]


# Round trips. The map's native paths start at the document root (//: one message is the
# whole document), which the shared assert_round_trip leaves out, so the same check is made
# here for rooted paths too.

def assert_rooted_round_trip(native: Any, record: MappedRecord, rendered: Any) -> None:
    made = {r.name for r in record.resources}
    for resource_map in agency(NAME).mapping.resources:
        if resource_map.name not in made:  # its `when` did not hold: nothing to send back
            continue
        if resource_map.each:  # per-item paths: the Concerns' own round trip checks them
            continue
        for rule in resource_map.rules:
            if rule.native is None or rule.loss or rule.one_way:
                continue
            if rule.expression is not None and rule.reverse is None:
                continue
            before = paths.get(native, rule.native)
            if before is None or before[0] in (None, ""):
                continue
            after = paths.get(rendered, rule.native)
            assert after is not None, f"{rule.native.text} lost in the round trip"
            assert same_meaning(rule.format, before[0], after[0]), \
                f"{rule.native.text} was {before[0]!r}, came back {after[0]!r}"


def stamped(tree: Any, message_type: list[str]) -> Any:
    """What the outbound interface adds before sending: MSH-7, MSH-10 and EVN (ADT) or
    a PRD (REF), so the rendered message passes the native schema again."""
    tree = copy.deepcopy(tree)
    msh = tree["segments"][0]["fields"]
    assert msh[8][:2] == message_type  # MSH-9 follows the resources rendered
    msh[6], msh[9] = "20251001120000", "CRADLE-1"
    if message_type[0] == "ADT":
        tree["segments"].insert(1, {"id": "EVN", "fields": ["", "20251001120000"]})
    else:
        tree["segments"].append({"id": "PRD", "fields": [["RP", "Referring provider"]]})
    return tree


def without_ids(record: MappedRecord) -> dict[str, list[Any]]:
    ids = {r.reference: r.name for r in record.resources}
    out: dict[str, list[Any]] = {}
    for r in record.resources:
        body = {k: v for k, v in r.resource.items() if k != "id"}
        for key in ("subject",):
            if key in body:
                body[key] = ids.get(body[key]["reference"])
        out.setdefault(r.name, []).append(body)
    return out


@pytest.mark.parametrize("sample", ACCEPTED, ids=lambda s: s["file"])
def test_round_trip(sample: dict) -> None:
    native = read(sample["file"])
    record = run(NAME, sample["file"])[0]
    rendered = render_back(NAME, record)
    assert_round_trip(NAME, native, rendered)
    assert_rooted_round_trip(native, record, rendered)
    reread = agency(NAME).format.read(agency(NAME).format.render(rendered)).tree
    assert_rooted_round_trip(native, record, reread)  # the values survive the HL7 writer too
    # Mapping the rendered message again gives the same resources (ids aside: a child whose
    # NHS number came in PID-2 or with an OID gets the NHS number as key once rendered).
    message_type = ["REF", "I12"] if native["segments"][0]["fields"][8][0] == "REF" \
        else ["ADT", "A31"]
    again = map_native(agency(NAME), agency(NAME).format.render(stamped(rendered, message_type)),
                       *tools(), "test-agency")
    assert not again[0].rejected, again[0].issues
    expected, again_ids = without_ids(record), without_ids(again[0])
    for child in [*expected["child"], *again_ids["child"]]:  # declared losses on the way back
        child.pop("gender", None)
        child.pop("extension", None)
    if "concern" not in expected:  # an unmapped reason is carried only as text: not sent back
        for referral in expected.get("referral", []):
            referral.pop("reasonCode", None)
    assert again_ids == expected


names = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ' -", min_size=1, max_size=20).map(str.strip).filter(
    lambda s: s and s[0].isalpha())
births = st.dates(min_value=date(2005, 1, 1), max_value=date(2025, 1, 1))


@settings(max_examples=40, deadline=None)
@given(family=names, given_name=names, born=births, sex=st.sampled_from(["M", "F", "U", "O", ""]),
       # from 03:00: a time in the spring-forward gap (01:00-02:00 one Sunday in March) does
       # not exist in Europe/London and comes back an hour later
       born_at=st.one_of(st.none(), st.times(time(3)).map(lambda t: t.strftime("%H%M"))),
       ethnic=st.sampled_from(["A", "J", "N", "S", "Z", "99", ""]))
def test_generated_adt_round_trip(family: str, given_name: str, born: date, sex: str,
                                  born_at: str | None, ethnic: str) -> None:
    dob = born.strftime("%Y%m%d") + (born_at or "")
    pid = ["1", "", ["7149709400", "", "", "NHS", "NH"], "", [family, given_name], "", dob, sex,
           "", "", ["1 HIGH STREET", "", "NORTHSHIRE", "", "NS1 2AB", "GBR", "H"],
           *[""] * 10, ethnic]
    tree = {"segments": [
        {"id": "MSH", "fields": ["|", "^~\\&", "PAS", "R9Z", "CRADLE", "LA201",
                                 "20250314101502", "", ["ADT", "A31", "ADT_A05"], "X1", "P",
                                 "2.4"]},
        {"id": "EVN", "fields": ["A31", "20250314101502"]},
        {"id": "PID", "fields": pid}]}
    data = agency(NAME).format.render(tree)
    codes, validator = tools()
    records = map_native(agency(NAME), data, codes, validator, "t")
    record = records[0]
    assert not record.rejected, record.issues
    check_invariants(records, children=1)
    child = resources(record, "child")[0]
    assert child["birthDate"] == born.isoformat()
    assert child["name"][0]["family"] == family
    native = agency(NAME).format.read(data).tree
    rendered = render_back(NAME, record)
    assert_round_trip(NAME, native, rendered)
    assert_rooted_round_trip(native, record, rendered)
    if sex:
        assert child["gender"] in ("male", "female", "unknown", "other")
    if ethnic in ("A", "S"):  # codes no legacy code shares come back as they went
        assert paths.get(rendered, paths.parse("segments[id=PID].fields[21][0]"))[0] == ethnic


def test_two_referrals_for_one_child_keep_their_own_concerns() -> None:
    text = (MAPPINGS / NAME / "samples" / "ref-i12-lily-mae-escapes-trailing-fields.hl7") \
        .read_text()
    first = map_message(text)[0]
    second = map_message(text.replace("R9Z-SG-2025-00452", "R9Z-SG-2025-00999"))[0]
    ids = [{r.reference for r in record.resources if r.name == "concern"}
           for record in (first, second)]
    assert len(ids[0]) == 2 and len(ids[1]) == 2
    assert not ids[0] & ids[1], "a second referral must not overwrite the first's Concerns"


@pytest.mark.parametrize(("dob", "message_time", "after"), [
    ("20250314", "20250314101502", False),  # born the day of the message
    ("20250315", "20250314101502", True),
    ("202503140930", "20250314101502", False),  # a time of birth: the day counts
    ("20241231", "20250101000000", False),
    ("20250101", "20241231235959", True),
])
def test_a_birth_after_the_message_date_is_a_keying_error(dob: str, message_time: str,
                                                          after: bool) -> None:
    text = (MAPPINGS / NAME / "samples" / "adt-a28-amelia-okafor.hl7").read_text()
    text = text.replace("|20140312|", f"|{dob}|").replace("20250314101502", message_time)
    [record] = map_message(text.replace("\r", "\n"))
    failed = [i.message_id for i in record.issues
              if i.message_id == "map-check-dob-not-after-message"]
    assert failed == (["map-check-dob-not-after-message"] if after else [])
