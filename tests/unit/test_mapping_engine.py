"""The mapping engine's parts, property-tested: the path language (what is assigned is read
back), value conversions (native -> FHIR -> native keeps the meaning), and the HL7 v2 and CSV
readers (what the writers render reads back the same)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from server.mapping import paths
from server.mapping.conversions import CONVERSIONS, LONDON, ConversionError
from server.mapping.formats import FORMATS, ReadError
from server.mapping.ids import resource_id

names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True)
values = st.text(min_size=1, max_size=20)


@given(st.lists(names, min_size=1, max_size=4), values)
def test_assigned_values_read_back(keys: list[str], value: str) -> None:
    path = paths.parse(".".join(keys))
    tree: dict = {}
    pointer = paths.assign(tree, path, value)
    assert paths.get(tree, path) == (value, pointer)


@given(st.sampled_from(["https://fhir.nhs.uk/Id/nhs-number", "https://x.example/a.b/c"]),
       values, values)
def test_match_selectors_create_and_find_the_same_element(system: str, a: str, b: str) -> None:
    tree: dict = {}
    paths.assign(tree, paths.parse(f"identifier[system={system}].value"), a)
    paths.assign(tree, paths.parse("identifier[system=other].value"), b)
    paths.assign(tree, paths.parse(f"identifier[system={system}].value"), b)
    assert tree == {"identifier": [{"system": system, "value": b},
                                   {"system": "other", "value": b}]}


def test_single_values_stand_for_lists_of_one() -> None:
    one = {"Subjects": {"Child": {"Name": "A"}}}
    two = {"Subjects": {"Child": [{"Name": "A"}, {"Name": "B"}]}}
    assert [v for v, _ in paths.each(one, paths.parse("Subjects.Child"))] == [{"Name": "A"}]
    assert len(paths.each(two, paths.parse("Subjects.Child"))) == 2
    assert paths.get(two, paths.parse("Subjects.Child[1].Name")) == \
        ("B", ("Subjects", "Child", 1, "Name"))
    hl7 = {"fields": ["x", [["1", "", "", "NHS"], ["2", "", "", "MR"]], ["3", "", "", "NHS"]]}
    assert paths.get(hl7, paths.parse("fields[1][3=MR][0]"))[0] == "2"
    assert paths.get(hl7, paths.parse("fields[2][3=NHS][0]"))[0] == "3"
    assert paths.get(hl7, paths.parse("fields[0][0]"))[0] == "x"


@pytest.mark.parametrize("bad", ["a..b", "a[", "a[x]", "[=1]"])
def test_malformed_paths_are_refused(bad: str) -> None:
    with pytest.raises(paths.PathError):
        paths.parse(bad)


days = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))


@given(days)
def test_date_formats_round_trip(day: date) -> None:
    for name in ("date:DD/MM/YYYY", "date:YYYY-MM-DD", "date:YYYYMMDD"):
        conversion = CONVERSIONS[name]
        native = conversion.to_native(day.isoformat())
        assert conversion.to_fhir(native) == day.isoformat()


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1))
       .map(lambda d: d.replace(second=0, microsecond=0)))
def test_uk_local_times_round_trip(moment: datetime) -> None:
    local = moment.replace(tzinfo=LONDON)
    assume(local.astimezone(UTC).astimezone(LONDON).replace(tzinfo=None) == moment)
    for name in ("datetime:DD/MM/YYYY HH:MM", "datetime:HL7"):
        conversion = CONVERSIONS[name]
        fhir = conversion.to_fhir(conversion.to_native(moment.isoformat()))
        assert conversion.to_native(fhir) == conversion.to_native(moment.isoformat())


@pytest.mark.parametrize(("name", "bad"), [("date:DD/MM/YYYY", "31/02/2025"),
                                           ("datetime:DD/MM/YYYY HH:MM", "29/03/2026 01:30"),
                                           ("datetime:HL7", "202403310100"),
                                           ("date:DD/MM/YYYY", "2025-01-01"),
                                           ("datetime:HL7", "2025133"),
                                           ("boolean:Y/N", "yes"), ("integer", "1.5")])
def test_unreadable_values_are_refused(name: str, bad: str) -> None:
    with pytest.raises(ConversionError):
        CONVERSIONS[name].to_fhir(bad)


# HL7 v2 has no escape for line breaks (segment ends): real field text has none.
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")),
                max_size=15)


# python-hl7 trims the message's ends, so a field's surrounding blanks are not kept.
@given(st.lists(st.lists(texts.map(str.strip), min_size=1, max_size=4), min_size=1,
                max_size=5))
def test_hl7_segments_render_and_read_back(fields: list[list[str]]) -> None:
    message = {"segments": [
        {"id": "MSH", "fields": ["|", "^~\\&", "APP", "ORG", "", "", "20250101", "",
                                 ["ADT", "A28"], "1", "P", "2.4"]},
        {"id": "ZXY", "fields": [f if len(f) > 1 else f[0] for f in fields]}]}
    hl7 = FORMATS["hl7v2"]
    again = hl7.read(hl7.render(message)).tree
    expected = [_trimmed(f) for f in message["segments"][1]["fields"]]
    got = again["segments"][1]["fields"]
    while expected and expected[-1] in ("", []):
        expected.pop()
    assert [_trimmed(f) for f in got][:len(expected)] == expected


def _trimmed(value: object) -> object:
    if isinstance(value, list):
        items = list(value)
        while items and items[-1] == "":
            items.pop()
        return items[0] if len(items) == 1 else items if items else ""
    return value


def test_hl7_reader_tolerates_framing_and_line_ends() -> None:
    raw = (b"\x0b\xef\xbb\xbfMSH|^~\\&|A|B|C|D|20250101||ADT^A28|1|P|2.4\r\n\r\n"
           b"PID|1||123^^^NHS^NH||DOE\\S\\X^JO\n\x1c\r")
    tree = FORMATS["hl7v2"].read(raw).tree
    assert [s["id"] for s in tree["segments"]] == ["MSH", "PID"]
    assert tree["segments"][1]["fields"][4] == ["DOE^X", "JO"]
    with pytest.raises(ReadError):
        FORMATS["hl7v2"].read(b"PID|1")


@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "c"]), texts, min_size=3),
                min_size=1, max_size=4))
def test_csv_rows_render_and_read_back(rows: list[dict[str, str]]) -> None:
    rows = [{k: v.replace("\r", "") for k, v in row.items()} for row in rows]
    csv = FORMATS["csv"]
    assert csv.read(csv.render(rows, ["a", "b", "c"])).tree == rows


@given(st.tuples(texts, texts, texts, texts), st.tuples(texts, texts, texts, texts))
def test_ids_are_deterministic_and_collision_safe(one: tuple, two: tuple) -> None:
    assert resource_id(*one) == resource_id(*one)
    if one != two:
        assert resource_id(*one) != resource_id(*two)
    assert len(resource_id(*one)) <= 64


@given(st.lists(st.tuples(texts, texts), min_size=1, max_size=12), st.integers(1, 5))
def test_csv_read_in_chunks_is_the_csv_read_whole(rows: list[tuple[str, str]],
                                                  size: int) -> None:
    csv = FORMATS["csv"]
    body = csv.render([{"a": a.replace("\r", ""), "b": b.replace("\r", "")} for a, b in rows],
                      ["a", "b"])
    whole = csv.read(body)
    chunks = list(csv.documents(io.BytesIO(body), size))
    assert [row for chunk in chunks for row in chunk.tree] == whole.tree
    places = [chunk.locate((i, "b")) for chunk in chunks for i in range(len(chunk.tree))]
    assert places == [whole.locate((i, "b")) for i in range(len(whole.tree))]


def test_hl7_repetitions_are_one_or_many() -> None:
    one = {"f": ["SG02", "Neglect", "L"]}
    two = {"f": [["SG02", "Neglect", "L"], ["SG10", "Was not brought", "L"]]}
    path = paths.parse("f[~]")
    assert [v for v, _ in paths.each(one, path)] == [["SG02", "Neglect", "L"]]
    assert [v[0] for v, _ in paths.each(two, path)] == ["SG02", "SG10"]
    written: dict = {}
    paths.assign(written, path, [["A", "a"], ["B", "b"]])
    assert written == {"f": [["A", "a"], ["B", "b"]]}


def test_a_field_sent_once_is_its_own_only_repetition() -> None:
    one = {"f": ["SG02", "Neglect", "L"]}
    assert paths.each(one, paths.parse("f[~]")) == [(["SG02", "Neglect", "L"], ("f",))]
    assert paths.get(one, paths.parse("f[~][0][1]")) == ("Neglect", ("f", 1))
    assert paths.get(one, paths.parse("f[~][1]")) is None
    two = {"f": [["A", "a"], ["B", "b"]]}
    assert paths.get(two, paths.parse("f[~][1][0]")) == ("B", ("f", 1, 0))
