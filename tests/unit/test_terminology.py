"""Terminology: expansion, $validate-code, $lookup, $translate and binding strengths."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.definitions.registry import Definitions, load_r4
from server.errors import NotFound, NotSupported
from server.terminology import (
    Terminology,
    expand,
    lookup,
    translate,
    validate_code,
    validate_code_in_system,
)
from server.validation.bindings import ValueSetExpander, check_binding

Json = dict[str, Any]
GENDER = "http://hl7.org/fhir/ValueSet/administrative-gender"
GENDER_CS = "http://hl7.org/fhir/administrative-gender"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
MARITAL = "http://hl7.org/fhir/ValueSet/marital-status"
MARITAL_CS = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"


@pytest.fixture(scope="module")
def tx() -> Terminology:
    return Terminology(load_r4())


def codes(vs: Json) -> list[str]:
    return [c["code"] for c in vs["expansion"].get("contains", [])]


def param(params: Json, name: str) -> Any:
    values = [next(v for k, v in p.items() if k.startswith("value"))
              for p in params["parameter"] if p["name"] == name and "part" not in p]
    return values[0] if values else None


# --- expansion -------------------------------------------------------------------------


def test_expand_administrative_gender(tx: Terminology) -> None:
    vs = expand(tx, GENDER)
    assert vs["url"] == GENDER and vs["resourceType"] == "ValueSet"
    exp = vs["expansion"]
    assert exp["total"] == 4 and exp["offset"] == 0
    assert exp["identifier"].startswith("urn:uuid:") and exp["timestamp"]
    assert sorted(codes(vs)) == ["female", "male", "other", "unknown"]
    female = next(c for c in exp["contains"] if c["code"] == "female")
    assert female == {"system": GENDER_CS, "version": "4.0.1", "code": "female",
                      "display": "Female"}


def test_expand_v3_is_a_filter(tx: Terminology) -> None:
    vs = expand(tx, "http://terminology.hl7.org/ValueSet/v3-ActConsentType")
    got = codes(vs)
    cs = tx.code_system(ACT_CODE)
    assert cs is not None
    assert set(got) == {"_ActConsentType", *cs.descendants("_ActConsentType")}
    assert "ICOL" in got and "IDSCL" in got and "_ActPrivacyPolicy" not in got
    root = vs["expansion"]["contains"][got.index("_ActConsentType")]
    assert root["abstract"] is True


def test_expand_descendent_of_excludes_root(tx: Terminology) -> None:
    got = codes(expand(tx, "http://hl7.org/fhir/ValueSet/inactive"))
    assert "_ActMoodPredicate" not in got and "EVN.CRT" in got


def test_expand_nested_value_set_import(tx: Terminology) -> None:
    vs = expand(tx, "http://hl7.org/fhir/ValueSet/consent-category")
    contains = vs["expansion"]["contains"]
    systems = {c["system"] for c in contains}
    assert {ACT_CODE, "http://loinc.org"} <= systems
    assert {"ICOL", "59284-0", "IDSCL"} <= set(codes(vs))
    assert vs["expansion"]["total"] == len(contains) == len(set(codes(vs)))


def test_expand_filter_and_paging(tx: Terminology) -> None:
    vs = expand(tx, GENDER, filter="FEM")
    assert codes(vs) == ["female"] and vs["expansion"]["total"] == 1
    assert {"name": "filter", "valueString": "FEM"} in vs["expansion"]["parameter"]
    full = codes(expand(tx, GENDER))
    page = expand(tx, GENDER, offset=1, count=2)
    assert codes(page) == full[1:3] and page["expansion"]["total"] == 4
    assert {"name": "count", "valueInteger": 2} in page["expansion"]["parameter"]
    assert {"name": "offset", "valueInteger": 1} in page["expansion"]["parameter"]
    assert "contains" not in expand(tx, GENDER, offset=10)["expansion"]


def test_snomed_value_set_is_not_supported(tx: Terminology) -> None:
    with pytest.raises(NotSupported, match=re.escape("http://snomed.info/sct")):
        expand(tx, "http://hl7.org/fhir/ValueSet/clinical-findings")
    with pytest.raises(NotFound):
        expand(tx, "http://example.org/ValueSet/nothing")


def local_defs() -> tuple[Definitions, Json]:
    cs: Json = {"resourceType": "CodeSystem", "url": "http://ex.org/cs", "version": "1",
                "content": "complete", "concept": [
                    {"code": "a", "display": "Alpha", "concept": [
                        {"code": "a1", "display": "Alpha one",
                         "property": [{"code": "colour", "valueCode": "red"}]},
                        {"code": "a2", "display": "Alpha two"}]},
                    {"code": "B7", "display": "Bravo"}]}
    vs: Json = {"resourceType": "ValueSet", "url": "http://ex.org/vs", "compose": {
        "include": [{"system": "http://ex.org/cs"}],
        "exclude": [{"system": "http://ex.org/cs", "concept": [{"code": "a2"}]}]}}
    return Definitions([cs, vs]), cs


def test_exclude_filters_and_invalidate() -> None:
    defs, cs = local_defs()
    tx = Terminology(defs)
    assert codes(expand(tx, "http://ex.org/vs")) == ["a", "a1", "B7"]
    def by(flt: Json) -> list[str]:
        vs = {"resourceType": "ValueSet", "compose": {
            "include": [{"system": "http://ex.org/cs", "filter": [flt]}]}}
        return codes(expand(tx, vs))
    assert by({"property": "code", "op": "regex", "value": "[A-Z][0-9]"}) == ["B7"]
    assert by({"property": "colour", "op": "=", "value": "red"}) == ["a1"]
    assert by({"property": "concept", "op": "in", "value": "a2,B7"}) == ["a2", "B7"]
    assert by({"property": "concept", "op": "is-a", "value": "a"}) == ["a", "a1", "a2"]
    # A new version added at runtime is seen once the cache is invalidated.
    newer = copy.deepcopy(cs)
    newer["version"] = "2"
    newer["concept"].append({"code": "c", "display": "Charlie"})
    defs.add(newer)
    tx.invalidate()
    assert codes(expand(tx, "http://ex.org/vs")) == ["a", "a1", "B7", "c"]


# --- $validate-code and $lookup -------------------------------------------------------


def test_validate_code(tx: Terminology) -> None:
    ok = validate_code(tx, GENDER, "male", GENDER_CS)
    assert param(ok, "result") is True and param(ok, "display") == "Male"
    assert param(ok, "message") is None
    bad = validate_code(tx, GENDER, "M", GENDER_CS)
    assert param(bad, "result") is False and f"{GENDER_CS}#M" in param(bad, "message")
    assert param(validate_code(tx, GENDER, "male", "http://x.org"), "result") is False
    wrong = validate_code(tx, GENDER, "male", GENDER_CS, display="Man")
    assert param(wrong, "result") is True and "Man" in param(wrong, "message")
    assert param(wrong, "display") == "Male"
    in_cs = validate_code_in_system(tx, GENDER_CS, "other")
    assert param(in_cs, "result") is True
    assert param(validate_code_in_system(tx, GENDER_CS, "x"), "result") is False


def test_lookup_with_properties_and_parents(tx: Terminology) -> None:
    out = lookup(tx, ROLE_CODE, "DAUADOPT")
    assert param(out, "display") == "adopted daughter"
    assert param(out, "version") == "2018-08-12" and param(out, "abstract") is False
    props = [(p["part"][0]["valueCode"], p["part"][1]) for p in out["parameter"]
             if p["name"] == "property"]
    parents = {v["valueCode"] for k, v in props if k == "parent"}
    assert "DAUC" in parents  # from DAUC's `child` property (the v3 poly-hierarchy)
    top = lookup(tx, ROLE_CODE, "_PersonalRelationshipRoleType")
    assert param(top, "abstract") is True
    assert ("notSelectable", {"name": "value", "valueBoolean": True}) in [
        (p["part"][0]["valueCode"], p["part"][1]) for p in top["parameter"]
        if p["name"] == "property"]
    with pytest.raises(NotFound, match="nonsense"):
        lookup(tx, ROLE_CODE, "nonsense")
    with pytest.raises(NotSupported, match="snomed"):
        lookup(tx, "http://snomed.info/sct", "123")
    example = lookup(tx, "http://hl7.org/fhir/CodeSystem/example", "chol-mmol")
    designation = next(p for p in example["parameter"] if p["name"] == "designation")
    assert {"name": "value", "valueString": "From ACME POC Testing"} in designation["part"]


# --- $translate ------------------------------------------------------------------------

CONCEPT_MAP: Json = {
    "resourceType": "ConceptMap", "url": "http://ex.org/cm", "group": [{
        "source": "http://ex.org/agency", "target": GENDER_CS, "element": [
            {"code": "F", "display": "Girl", "target": [
                {"code": "female", "display": "Female", "equivalence": "equivalent"}]},
            {"code": "X", "target": [{"code": "other", "equivalence": "wider"}]},
            {"code": "Z", "target": [{"equivalence": "unmatched"}]}]}]}


def matches(params: Json) -> list[tuple[str, Json]]:
    return [(p["part"][0]["valueCode"], p["part"][1]["valueCoding"])
            for p in params["parameter"] if p["name"] == "match"]


def test_translate_forward_reverse_unmapped(tx: Terminology) -> None:
    out = translate(tx, CONCEPT_MAP, "F", "http://ex.org/agency")
    assert param(out, "result") is True
    assert matches(out) == [("equivalent", {"system": GENDER_CS, "code": "female",
                                            "display": "Female"})]
    source = next(p for p in out["parameter"] if p["name"] == "match")["part"][2]
    assert source == {"name": "source", "valueUri": "http://ex.org/cm"}
    back = translate(tx, CONCEPT_MAP, "other", GENDER_CS, reverse=True)
    assert matches(back) == [("narrower", {"system": "http://ex.org/agency", "code": "X"})]
    for code in ("Z", "nope"):
        none = translate(tx, CONCEPT_MAP, code, "http://ex.org/agency")
        assert param(none, "result") is False and matches(none) == []
        assert code in param(none, "message")
    elsewhere = translate(tx, CONCEPT_MAP, "F", "http://ex.org/agency", target_system="x:y")
    assert param(elsewhere, "result") is False
    with pytest.raises(NotFound):
        translate(tx, "http://ex.org/unknown-map", "F", "http://ex.org/agency")


# --- binding strengths -------------------------------------------------------------------


@pytest.fixture(scope="module")
def expander(tx: Terminology) -> ValueSetExpander:
    return ValueSetExpander(tx.definitions, tx)


def ids(issues: list[Any]) -> list[tuple[str, str, str]]:
    return [(i.severity, i.message_id, i.expression) for i in issues]


def test_extensible_binding_warns(expander: ValueSetExpander) -> None:
    def check(value: Any, type_code: str = "CodeableConcept") -> list[tuple[str, str, str]]:
        return ids(check_binding(expander, MARITAL, "extensible", value, type_code, "P.m"))
    warn = "code-not-in-valueset-extensible"
    assert check({"coding": [{"system": MARITAL_CS, "code": "M"}]}) == []
    assert check({"coding": [{"system": MARITAL_CS, "code": "ZZ"}]}) == [
        ("warning", warn, "P.m.coding[0].code")]
    assert check({"coding": [{"system": "http://x.org", "code": "ZZ"}]}) == [
        ("warning", warn, "P.m")]
    assert check({"coding": [{"system": "http://x.org", "code": "ZZ"}], "text": "wed"}) == []
    assert check({"text": "married"}) == []
    assert check({"system": MARITAL_CS, "code": "ZZ"}, "Coding") == [
        ("warning", warn, "P.m.code")]
    assert check({"system": "http://x.org", "code": "ZZ"}, "Coding") == []


def test_other_binding_strengths(expander: ValueSetExpander) -> None:
    bad = {"coding": [{"system": MARITAL_CS, "code": "ZZ"}]}
    assert ids(check_binding(expander, MARITAL, "required", bad, "CodeableConcept", "P.m")) == [
        ("error", "code-not-in-valueset", "P.m.coding[0].code")]
    assert check_binding(expander, MARITAL, "preferred", bad, "CodeableConcept", "P.m") == []
    assert check_binding(expander, MARITAL, "example", bad, "CodeableConcept", "P.m") == []
    assert ids(check_binding(expander, GENDER, "required", "M", "code", "P.g")) == [
        ("error", "code-not-in-valueset", "P.g")]
    snomed = "http://hl7.org/fhir/ValueSet/clinical-findings"
    assert check_binding(expander, snomed, "required", "123", "code", "P.x") == []


# --- properties --------------------------------------------------------------------------

_TX = Terminology(load_r4())


def _expandable() -> list[str]:
    out = []
    for url in sorted(_TX.definitions.value_sets):
        try:
            if _TX.expansion(url).entries:
                out.append(url)
        except (NotFound, NotSupported):
            pass
    return out


EXPANDABLE = _expandable()


@settings(max_examples=150, deadline=None)
@given(url=st.sampled_from(EXPANDABLE), data=st.data(),
       noise=st.text(min_size=1, max_size=12))
def test_every_expanded_code_validates(url: str, data: st.DataObject, noise: str) -> None:
    entries = _TX.expansion(url).entries
    entry = data.draw(st.sampled_from(entries))
    result = validate_code(_TX, url, entry.code, entry.system, display=entry.display)
    assert param(result, "result") is True and param(result, "message") is None
    stranger = f"{noise}\u00a7not-a-code"
    assert param(validate_code(_TX, url, stranger, entry.system), "result") is False
    assert param(validate_code(_TX, url, stranger), "result") is False
