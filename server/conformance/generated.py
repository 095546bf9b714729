"""Tests generated from data rather than written out: one per profile example (the target
must accept every valid example and answer it back conformant, and reject every invalid one
with an OperationOutcome)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fhirpathpy import evaluate
from fhirpathpy.models import models

from server.conformance.data import fixture
from server.conformance.model import Json, Step, Test
from server.conformance.profiles import shipped_definitions
from server.conformance.search_values import as_search, without_resolve
from server.profiles.loader import default_profile_dir, read_object
from server.search.registry import SearchParameterRegistry

FHIR_MODEL = models["r4"]
# Which requirement each example folder exercises.
_REQUIREMENTS = {"Child": "profile-child", "Referral": "profile-referral",
                 "Concern": "profile-concern"}


# Generated when the suite runs, from what the target claims.
AT_RUN_TIME = frozenset({"claimed-searches"})


def generate(spec: Json, directory: Path | None = None) -> list[Test]:
    """Return the tests a suite's `generate` entry asks for; raises ValueError for an unknown
    kind."""
    if spec.get("kind") == "profile-examples":
        return _profile_examples(directory or default_profile_dir() / "examples")
    raise ValueError(f"unknown generated tests {spec.get('kind')!r}")


def generate_for_target(spec: Json, claims: set[str]) -> list[Test]:
    """Return the tests of a run-time `generate` entry for a target claiming `claims`."""
    if spec.get("kind") == "claimed-searches":
        return claimed_search_tests(claims, _registry())
    raise ValueError(f"unknown generated tests {spec.get('kind')!r}")


@cache
def _registry() -> SearchParameterRegistry:
    return SearchParameterRegistry(shipped_definitions())


def _profile_examples(root: Path) -> list[Test]:
    tests: list[Test] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        requirement = _REQUIREMENTS.get(folder.name, "profile-supporting")
        for file in sorted((folder / "valid").glob("*.json")):
            tests.append(_valid(folder.name, file, requirement))
        for file in sorted((folder / "invalid").glob("*.json")):
            if not file.name.endswith(".expect.json"):
                tests.append(_invalid(folder.name, file, requirement))
    return tests


def _body(file: Path) -> tuple[str, Json]:
    resource = read_object(file)
    resource.pop("id", None)  # the target assigns ids: an example is created afresh each run
    return str(resource.get("resourceType")), resource


def _valid(profile: str, file: Path, requirement: str) -> Test:
    kind, resource = _body(file)
    return Test(
        id=f"profiles-{profile}-valid-{file.stem}", mandatory=True,
        title=f"A valid {profile} ({file.stem}) is accepted and read back conformant",
        description=f"POSTs profiles/examples/{profile}/valid/{file.name} and reads it back.",
        requirements=(requirement, "profile-answers-conform"), needs=(f"{kind}.create",),
        fix=f"Accept every resource that conforms to the {profile} profile.",
        steps=(Step("POST", f"/{kind}", resource, expect={"status": 201},
                    save={"created": "id"}),
               Step("GET", f"/{kind}/${{created}}",
                    expect={"status": 200, "resourceType": kind, "conforms": True})))


def _invalid(profile: str, file: Path, requirement: str) -> Test:
    kind, resource = _body(file)
    expected = file.with_name(file.stem + ".expect.json")
    why = read_object(expected).get("rule", "") if expected.exists() else ""
    return Test(
        id=f"profiles-{profile}-invalid-{file.stem}", mandatory=True,
        title=f"An invalid {profile} ({file.stem}) is rejected with an OperationOutcome",
        description=f"POSTs profiles/examples/{profile}/invalid/{file.name}"
                    + (f", which breaks {why}" if why else "") + ".",
        requirements=(requirement, "rest-errors"), needs=(f"{kind}.create",),
        fix=f"Validate every write against the {profile} profile"
            + (f" (rule {why})" if why else "") + " and answer 422 with an OperationOutcome.",
        steps=(Step("POST", f"/{kind}", resource,
                    expect={"status": [400, 422], "outcome": True}),))


def agency_tests(agency: str, media_type: str, files: list[Path]) -> list[Test]:
    """The `agency:AGENCY` suite's tests for a vendor's native export files: each maps cleanly
    on the target (a dry run rejects nothing), and what the target stores renders back in the
    agency's format and maps cleanly again (the round trip)."""
    tests: list[Test] = []
    records = "~/agencies/" + agency + "/records"
    all_stored = "parameter.part.where(name = 'outcome').all(valueCode = '{}')"
    for file in files:
        data = file.read_bytes()
        headers = {"Content-Type": media_type}
        tests.append(Test(
            id=f"agency-{agency}-maps-{file.stem}", mandatory=True,
            title=f"{file.name} maps cleanly onto the common model ({agency})",
            description=f"A dry run of {file.name} on the target's {agency} mapping rejects "
                        "no record.",
            requirements=("agency-maps-cleanly",),
            fix="Fix each rejected record at the native place the issue names "
                "(OperationOutcome.issue.location), then export again.",
            steps=(Step("POST", records + "?dry-run=true", data, headers,
                        {"status": 200, "resourceType": "Parameters",
                         "fhirpath": [all_stored.format("would-store")]}),)))
        stored = Step("POST", records, data, headers,
                      {"status": 200, "fhirpath": [all_stored.format("stored")]},
                      {"child": "parameter.part.where(name = 'created' or name = "
                                "'updated').valueReference.reference"
                                ".where(startsWith('Patient/')).first().substring(8)"})
        rendered = Step("GET", f"~/agencies/{agency}/children/${{child}}",
                        expect={"status": 200, "headers": ["Content-Type"]},
                        save={"rendered": "$body"})
        tests.append(Test(
            id=f"agency-{agency}-round-trip-{file.stem}", mandatory=False,
            title=f"{file.name}: what is stored reads back in the {agency} format",
            description="Stores the export and reads the first child back in the agency's "
                        "format.",
            requirements=("agency-round-trips",),
            fix="The agency's GET /agencies/AGENCY/children/ID must render the common record.",
            steps=(stored, rendered)))
        tests.append(Test(
            id=f"agency-{agency}-rendering-maps-{file.stem}", mandatory=False,
            title=f"{file.name}: the {agency} rendering of the stored child maps again",
            description="Dry-runs the rendering the target produced: a full round trip "
                        "native -> common -> native -> common.",
            requirements=("agency-round-trips",),
            fix="Fields the rendering lacks (envelope or header items with no FHIR source) "
                "must be filled by the map's reverse rules or document skeleton.",
            steps=(stored, rendered,
                   Step("POST", records + "?dry-run=true", "${rendered}", headers,
                        {"status": 200, "fhirpath": [all_stored.format("would-store")]}))))
    return tests


# The record each searched type is created from, and what it must be created after.
_SEARCHED = {"Patient": "child.json", "Flag": "concern.json", "ServiceRequest": "referral.json"}
_SEARCH_TYPES = ("token", "string", "date", "reference", "uri", "number")


def claimed_search_tests(claims: set[str], registry: SearchParameterRegistry) -> list[Test]:
    """One test per search parameter the target claims for Child (Patient), Referral
    (ServiceRequest) and Concern (Flag): the record the kit creates is found by the value it
    holds, and not found by a value it does not (a server ignoring the parameter fails)."""
    tests: list[Test] = []
    for kind, fixture_name in _SEARCHED.items():
        resource = fixture(fixture_name)
        for claim in sorted(c for c in claims if c.startswith(f"{kind}.search:")):
            name = claim.split(":", 1)[1]
            param = registry.get(kind, name)
            if param is None or param.type not in _SEARCH_TYPES or not param.expression \
                    or not _searchable(resource, param.type, param.expression):
                continue
            tests.append(_search_test(kind, fixture_name, name, param.type, param.expression))
    return tests


def _searchable(resource: Json, type_: str, expression: str) -> bool:
    """True when the kit's record holds a value this parameter can find it by."""
    try:
        found = evaluate(resource, without_resolve(expression), None, FHIR_MODEL)
    except Exception:  # an expression fhirpathpy cannot run: no test rather than a false one
        return False
    return bool(found) and as_search(type_, found[0]) is not None


def _search_test(kind: str, fixture_name: str, name: str, type_: str, expression: str) -> Test:
    child = Step("POST", "/Patient", "fixture:child.json", expect={"status": 201},
                 save={"child": "id"})
    made = Step("POST", f"/{kind}", f"fixture:{fixture_name}", expect={"status": 201},
                save={"made": "id", "value": f"search:{type_}:{expression}",
                      "other": f"search-other:{type_}:{expression}"})
    found = "entry.where(search.mode = 'match').resource.where(id = '${made}')"
    steps = ([] if kind == "Patient" else [child]) + [
        made,
        Step("GET", f"/{kind}?{name}=${{value}}&_count=1000",
             expect={"status": 200, "resourceType": "Bundle", "fhirpath": [f"{found}.exists()"]}),
        Step("GET", f"/{kind}?{name}=${{other}}&_count=1000",
             expect={"status": 200, "fhirpath": [f"{found}.empty()"]})]
    return Test(
        id=f"api-search-{kind}-{name}", mandatory=True,
        title=f"{kind}?{name}= finds the record holding the value, and only such records",
        description=f"The target claims the {type_} search parameter {name} for {kind}: a "
                    "record the kit creates is found by its own value and not by another.",
        requirements=("rest-search",), needs=(f"{kind}.create", f"{kind}.search:{name}"),
        fix=f"Implement {kind}?{name} as its SearchParameter defines ({expression}), or stop "
            "claiming it in the CapabilityStatement.",
        steps=tuple(steps))
