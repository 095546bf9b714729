"""Checks on the profile data in `profiles/` that need no snapshot generator or profile validator.

Every JSON file parses; conformance resources carry their identity; code systems copy the
domain code sets exactly; every canonical a differential or value set refers to is defined here or
in R4; examples are valid base R4 (except invalid ones marked `"base": true`); and the FHIRPath
invariants (identifier check digits, Child/Concern/Referral rules) give the right answer on the
examples when evaluated with fhirpathpy and the R4 model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhirpathpy import evaluate
from fhirpathpy.models import models

from server.definitions.registry import load_r4
from server.validation.validator import ResourceValidator

ROOT = Path(__file__).resolve().parents[2] / "profiles"
DOMAIN = Path(__file__).resolve().parents[3] / "shared" / "domain"  # ../shared beside the repo
Json = dict[str, Any]

ALL_FILES = sorted(ROOT.rglob("*.json"))
CONFORMANCE = [p for p in ALL_FILES if "examples" not in p.parts and p.parent != ROOT]
SETTINGS = [p for p in ALL_FILES if p.parent == ROOT]  # e.g. enforcement.json
EXAMPLES = [p for p in ALL_FILES if "examples" in p.parts and not p.name.endswith(".expect.json")]
VALID = [p for p in EXAMPLES if p.parent.name == "valid"]
INVALID = [p for p in EXAMPLES if p.parent.name == "invalid"]


def load(path: Path) -> Json:
    """Return the parsed JSON object in `path`."""
    data: Json = json.loads(path.read_text(encoding="utf-8"))
    return data


def local() -> dict[str, Json]:
    """Return every conformance resource in `profiles/`, keyed by canonical URL."""
    return {load(p)["url"]: load(p) for p in CONFORMANCE}


def resolves(url: str) -> bool:
    """True when a canonical (optionally `|version`) is defined in `profiles/` or in R4."""
    bare = url.split("|")[0]
    return bare in local() or load_r4().by_url.get(bare) is not None


def constraints(profile: str) -> dict[str, tuple[str, str]]:
    """Return the profile's constraints as key -> (element id, FHIRPath expression)."""
    sd = load(ROOT / "StructureDefinition" / f"{profile}.json")
    return {c["key"]: (e["id"], c["expression"])
            for e in sd["differential"]["element"] for c in e.get("constraint", [])}


def holds(node: Any, expression: str) -> bool:
    """Evaluate an invariant on `node` the way FHIR does (R4 model; empty counts as true)."""
    result = evaluate(node, expression, None, models["r4"])
    return result == [] or result == [True]


def test_every_file_parses_and_profiles_exist() -> None:
    assert len(ALL_FILES) > 80
    for path in ALL_FILES:
        assert isinstance(load(path), dict), path
    for profile in ("Child", "Concern", "Referral", "Agency", "AgencyPractitionerRole",
                    "Involvement", "SharingAgreement"):
        assert len(list((ROOT / "examples" / profile / "valid").glob("*.json"))) >= 3
        invalid = [p for p in (ROOT / "examples" / profile / "invalid").glob("*.json")
                   if not p.name.endswith(".expect.json")]
        assert len(invalid) >= 5, profile


@pytest.mark.parametrize("path", CONFORMANCE, ids=lambda p: p.stem)
def test_conformance_resource_identity(path: Path) -> None:
    res = load(path)
    for key in ("resourceType", "url", "status", "version", "name", "id"):
        assert res.get(key), f"{path.name} lacks {key}"
    if res["resourceType"] == "StructureDefinition":
        assert res["fhirVersion"] == "4.0.1" and res["derivation"] == "constraint"
        assert "snapshot" not in res and res["id"] == path.stem
        assert res["baseDefinition"] == "http://hl7.org/fhir/StructureDefinition/" + res["type"]
    elif res["url"].startswith("https://cradle.example/fhir/"):
        assert res["url"].endswith(f"/{res['resourceType']}/{res['id']}")


@pytest.mark.parametrize("path", CONFORMANCE, ids=lambda p: p.stem)
def test_conformance_resource_is_valid_base_r4(path: Path) -> None:
    issues = ResourceValidator(load_r4()).validate(load(path))
    assert [i for i in issues if i.severity in ("error", "fatal")] == []


def test_code_systems_match_domain_sources() -> None:
    by_url = {load(p)["url"]: load(p) for p in (ROOT / "CodeSystem").glob("*.json")}
    matched = 0
    for source in DOMAIN.glob("*.json"):
        domain = load(source)
        url = domain.get("system") or f"https://cradle.example/fhir/CodeSystem/{source.stem}"
        cs = by_url.get(url)
        if cs is None:
            continue
        matched += 1
        want = [(c["code"], c["display"], c.get("definition")) for c in domain["codes"]]
        got = [(c["code"], c["display"], c.get("definition")) for c in cs["concept"]]
        assert got == want, source.name
        assert domain["source"] in cs["description"] and cs["count"] == len(want)
    assert matched == 16
    for cs in by_url.values():
        codes = [c["code"] for c in cs["concept"]]
        assert len(codes) == len(set(codes)), cs["url"]


def test_value_set_includes_resolve() -> None:
    for path in (ROOT / "ValueSet").glob("*.json"):
        for inc in load(path)["compose"]["include"]:
            if "system" in inc:
                assert inc["system"] in local() or load_r4().code_system(inc["system"]), path.name
            for vs in inc.get("valueSet", []):
                assert resolves(vs), vs


def test_differential_references_resolve() -> None:
    for path in (ROOT / "StructureDefinition").glob("*.json"):
        sd = load(path)
        assert resolves(sd["baseDefinition"])
        for e in sd["differential"]["element"]:
            assert e["id"].split(":")[0].split(".")[0] == sd["type"], e["id"]
            if "binding" in e:
                assert resolves(e["binding"]["valueSet"]), (path.name, e["id"])
            for t in e.get("type", []):
                for url in t.get("profile", []) + t.get("targetProfile", []):
                    assert resolves(url), (path.name, e["id"], url)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parts[-3]}-{p.stem}")
def test_examples_against_base_r4(path: Path) -> None:
    example = load(path)
    profile = path.parts[-3]
    assert example["meta"]["profile"] == [f"https://cradle.example/fhir/StructureDefinition/{profile}"]
    errors = [i for i in ResourceValidator(load_r4()).validate(example)
              if i.severity in ("error", "fatal")]
    if path.parent.name == "valid":
        assert errors == []
        return
    expect = load(path.with_name(path.stem + ".expect.json"))
    assert expect["severity"] == "error" and expect["rule"] and expect["expression"]
    if expect.get("base"):
        assert [i.expression for i in errors] == [expect["expression"]]
    else:
        assert errors == []


# Identifier invariants are checked on each identifier of their slice (discriminator: system).
SLICES = {"nhs": "https://fhir.nhs.uk/Id/nhs-number", "upn": "https://cradle.example/fhir/Id/upn",
          "uln": "https://cradle.example/fhir/Id/uln",
          "lacid": "https://cradle.example/fhir/Id/la-child-id"}


def violated(profile: str, resource: Json) -> set[str]:
    """Return the keys of the profile's invariants (root, slice or element) that fail on it."""
    failed = set()
    for key, (element, expression) in constraints(profile).items():
        prefix = key.split("-")[0]
        if prefix in SLICES:
            nodes = [i for i in resource.get("identifier", []) if i.get("system") == SLICES[prefix]]
        elif element == "Patient.address":
            nodes = resource.get("address", [])
        else:
            nodes = [resource]
        if not all(holds(node, expression) for node in nodes):
            failed.add(key)
    return failed


@pytest.mark.parametrize("profile", ["Child", "Concern", "Referral", "Involvement",
                                     "SharingAgreement"])
def test_profile_invariants_on_examples(profile: str) -> None:
    for path in (ROOT / "examples" / profile / "valid").glob("*.json"):
        assert violated(profile, load(path)) == set(), path.name
    for path in (ROOT / "examples" / profile / "invalid").glob("*.json"):
        if path.name.endswith(".expect.json"):
            continue
        rule = load(path.with_name(path.stem + ".expect.json"))["rule"]
        key = rule.split(":")[0]
        expected = {key} if key in constraints(profile) else set()
        assert violated(profile, load(path)) == expected, path.name


def extension_invariants(resource: Json) -> set[str]:
    """Return the keys of extension-level invariants failing on the resource's extensions."""
    failed = set()
    for path in (ROOT / "StructureDefinition").glob("Extension-*.json"):
        sd = load(path)
        for c in sd["differential"]["element"][0].get("constraint", []):
            for ext in resource.get("extension", []):
                if ext["url"] == sd["url"] and not holds(ext, c["expression"]):
                    failed.add(c["key"])
    return failed


def test_extension_invariants_on_examples() -> None:
    for path in VALID:
        assert extension_invariants(load(path)) == set(), path.name
    fails = {p.stem: extension_invariants(load(p)) for p in INVALID}
    assert fails["priority-without-grade"] == {"cpr-1"}
    assert fails["parents-not-informed-without-reason"] == {"pin-1"}
    assert sum(bool(v) for v in fails.values()) == 2


@pytest.mark.parametrize(("key", "value", "ok"), [
    ("nhs-2", "9434765919", True), ("nhs-2", "6541003238", True),
    ("nhs-2", "9912003899", False),  # CP-IS draft example: computed check digit is 6
    ("nhs-2", "9434765918", False), ("nhs-1", "943476591", False), ("nhs-1", "94347659AB", False),
    ("upn-2", "H801200001001", True),  # DfE UPN guide worked example
    ("upn-2", "U80120000100A", True),  # temporary UPN: final letter counts at its alphabet index
    ("upn-2", "A801200001001", False), ("upn-1", "H80120000100I", False),
    ("uln-2", "9999999998", True), ("uln-2", "9999999993", False),
    ("uln-1", "999999999", False),
])
def test_identifier_check_algorithms(key: str, value: str, ok: bool) -> None:
    _, expression = constraints("Child")[key]
    assert holds({"system": "x", "value": value}, expression) is ok


def nhs_check(digits: str) -> bool:
    """Reference Modulus 11 check, written independently of the FHIRPath."""
    total = sum(int(d) * (10 - i) for i, d in enumerate(digits[:9]))
    check = (11 - total % 11) % 11
    return check != 10 and check == int(digits[9])


def test_nhs_constraint_agrees_with_reference_on_many_numbers() -> None:
    _, expression = constraints("Child")["nhs-2"]
    for n in range(400):
        value = f"{(n * 7919 + 943476591) % 10**10:010d}"
        assert holds({"value": value}, expression) is nhs_check(value), value


def test_concept_map_codes_exist() -> None:
    cm = load(ROOT / "ConceptMap" / "dfe-ethnicity-to-nhs.json")
    codes = {url: {c["code"] for c in cs["concept"]}
             for url, cs in local().items() if cs["resourceType"] == "CodeSystem"}
    for group in cm["group"]:
        sources = [e["code"] for e in group["element"]]
        assert set(sources) == codes[group["source"]]
        targets = {t["code"] for e in group["element"] for t in e["target"]}
        assert targets <= codes[group["target"]]


@pytest.mark.parametrize(("param", "example", "want"), [
    ("concern-priority", "Concern/valid/cp-plan-neglect-red", "Red"),
    ("concern-priority", "Concern/valid/assessment-factor-parent-alcohol", "Medium"),
    ("referral-outcome", "Referral/valid/police-referral-closed-nfa", "No Further Action"),
    ("referral-source", "Referral/valid/school-to-mash-urgent", "2A"),
    ("child-cp-category", "Child/valid/unborn-child", "EMO"),
    ("child-legal-status", "Child/valid/young-person-without-nhs-number", "V2"),
])
def test_search_parameter_expressions(param: str, example: str, want: str) -> None:
    sp = load(ROOT / "SearchParameter" / f"{param}.json")
    resource = load(ROOT / "examples" / f"{example}.json")
    found = evaluate(resource, sp["expression"], None, models["r4"])
    assert [c["code"] for cc in found for c in cc["coding"]] == [want]


def test_enforced_profiles_exist() -> None:
    required = load(ROOT / "enforcement.json")["required"]
    assert set(required) == {"Patient", "ServiceRequest", "Flag"}
    for resource_type, url in required.items():
        assert local()[url]["type"] == resource_type
