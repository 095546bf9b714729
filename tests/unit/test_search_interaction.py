"""The search interaction over an in-memory fake store: filters, chains, _has, includes, paging."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest

from server.errors import Invalid
from server.interactions.search import search
from server.search.index import SearchIndexer
from server.search.lookup import KeyLookup
from server.store.model import Candidate, StoredResource
from tests.unit.search_support import registry

BASE = "http://cradle.test/fhir"


class FakeStore:
    """`candidates`/`read_many` over a dict, honouring the lookup like the real store."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        indexer = SearchIndexer(registry())
        self.rows: dict[tuple[str, str], tuple[dict[str, Any], Candidate]] = {}
        self.lookups: list[KeyLookup | None] = []
        start = datetime(2024, 1, 1, tzinfo=UTC)
        for n, res in enumerate(resources):
            moment = start + timedelta(minutes=n)
            res = {**res, "meta": {**res.get("meta", {}), "versionId": "1",
                                   "lastUpdated": moment.isoformat().replace("+00:00", "Z")}}
            cand = Candidate(res["resourceType"], res["id"], 1, moment, indexer.build_index(res))
            self.rows[(res["resourceType"], res["id"])] = (res, cand)

    async def candidates(self, resource_type: str | None,
                         lookup: KeyLookup | None) -> list[Candidate]:
        self.lookups.append(lookup)
        out = []
        for (rtype, _), (_, cand) in self.rows.items():
            if resource_type not in (None, rtype):
                continue
            keys = cand.index["d"]  # the real store indexes driver keys only
            if lookup is None or (lookup.keys and set(lookup.keys) & set(keys)) or (
                    lookup.lo is not None and lookup.hi is not None
                    and any(lookup.lo <= k < lookup.hi for k in keys)) or (
                    cand.id in lookup.ids) or (
                    (lookup.since or lookup.before) and _within(cand.last_updated, lookup)):
                out.append(cand)
        return out

    async def read_many(self, refs: Iterable[tuple[str, str]]) -> list[StoredResource]:
        out = []
        for ref in refs:
            if ref in self.rows:
                res, cand = self.rows[ref]
                out.append(StoredResource(ref[0], ref[1], 1, cand.last_updated, False,
                                          orjson.dumps(res)))
        return out


def _within(moment: datetime, lookup: KeyLookup) -> bool:
    return (lookup.since is None or moment >= lookup.since) and (
        lookup.before is None or moment < lookup.before)


def patient(pid: str, family: str, gender: str, birth: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": family}],
            "gender": gender, "birthDate": birth, **extra}


def obs(oid: str, subject: str, code: str, value: float, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": subject},
            "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org",
                              "code": "mg"}, **extra}


STORE_DATA = [
    patient("p1", "Smith", "male", "1980-05-12", generalPractitioner=[
        {"reference": "Practitioner/d1"}]),
    patient("p2", "Smythe", "female", "1990-01-01"),
    patient("p3", "Jones", "female", "2001-07-30", telecom=[{"system": "email",
                                                               "value": "j@x.org"}]),
    {"resourceType": "Practitioner", "id": "d1", "name": [{"family": "Who"}]},
    obs("o1", "Patient/p1", "1234-5", 5.4),
    obs("o2", "Patient/p2", "1234-5", 100),
    obs("o3", "Patient/p1", "9999-9", 0.2),
    {"resourceType": "Provenance", "id": "v1", "target": [{"reference": "Observation/o1"}],
     "recorded": "2024-01-01T00:00:00Z", "agent": [{"who": {"reference": "Practitioner/d1"}}]},
]


def run(rtype: str | None, params: list[tuple[str, str]], strict: bool = False,
        store: FakeStore | None = None) -> dict[str, Any]:
    return asyncio.run(search(store or FakeStore(STORE_DATA), registry(), rtype, params, BASE,
                              strict))


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


@pytest.mark.parametrize(("params", "expected"), [
    ([("gender", "female")], {"p2", "p3"}),
    ([("gender:not", "female")], {"p1"}),
    ([("name", "sm")], {"p1", "p2"}),
    ([("name", "SMI")], {"p1"}),
    ([("name:exact", "Smith")], {"p1"}),
    ([("name:exact", "smith")], set()),
    ([("name:contains", "yth")], {"p2"}),
    ([("family", "smith,jones")], {"p1", "p3"}),
    ([("family", "sm"), ("gender", "female")], {"p2"}),
    ([("birthdate", "1980")], {"p1"}),
    ([("birthdate", "ge1990-01-01")], {"p2", "p3"}),
    ([("birthdate", "lt1990")], {"p1"}),
    ([("birthdate", "sa1990")], {"p3"}),
    ([("birthdate", "eb1990-01-01")], {"p1"}),
    ([("birthdate", "ne1990-01-01")], {"p1", "p3"}),
    ([("email:missing", "false")], {"p3"}),
    ([("email:missing", "true")], {"p1", "p2"}),
    ([("_id", "p1,p3")], {"p1", "p3"}),
    ([("general-practitioner", "d1")], {"p1"}),
    ([("general-practitioner:Practitioner", "d1")], {"p1"}),
    ([("general-practitioner:Practitioner.name", "who")], {"p1"}),
    ([("_has:Observation:patient:code", "9999-9")], {"p1"}),
    ([("_has:Observation:patient:code", "1234-5")], {"p1", "p2"}),
    ([("_has:Observation:subject:_has:Provenance:target:agent", "Practitioner/d1")], {"p1"}),
    ([("_lastUpdated", "ge2024-01-01T00:01:00Z")], {"p2", "p3"}),
])
def test_patient_search(params: list[tuple[str, str]], expected: set[str]) -> None:
    assert set(ids(run("Patient", params))) == expected


@pytest.mark.parametrize(("params", "expected"), [
    ([("code", "http://loinc.org|1234-5")], {"o1", "o2"}),
    ([("code", "|1234-5")], set()),
    ([("code", "http://loinc.org|")], {"o1", "o2", "o3"}),
    ([("value-quantity", "5.4")], {"o1"}),
    ([("value-quantity", "5")], {"o1"}),  # 5 means [4.5, 5.5)
    ([("value-quantity", "5.0")], set()),
    ([("value-quantity", "gt5")], {"o1", "o2"}),
    ([("value-quantity", "le5.4|http://unitsofmeasure.org|mg")], {"o1", "o3"}),
    ([("value-quantity", "lt1000||kg")], set()),
    ([("value-quantity", "1e2")], {"o2"}),
    ([("value-quantity", "ap100")], {"o2"}),
    ([("subject", "Patient/p1")], {"o1", "o3"}),
    ([("subject:Patient.name", "smy")], {"o2"}),
    ([("subject:Patient.general-practitioner:Practitioner.name", "who")], {"o1", "o3"}),
    ([("patient.gender", "male")], {"o1", "o3"}),
])
def test_observation_search(params: list[tuple[str, str]], expected: set[str]) -> None:
    assert set(ids(run("Observation", params))) == expected


def test_driving_lookup_is_used() -> None:
    store = FakeStore(STORE_DATA)
    run("Patient", [("name", "sm"), ("_id", "p2")], store=store)
    assert store.lookups[-1] == KeyLookup(ids=("p2",))  # the store's own `Type/id` key
    run("Patient", [("birthdate", "lt1990")], store=store)
    assert store.lookups[-1] is not None and store.lookups[-1].hi == (
        "birthdate>1990-01-01T00:00:00.000000Z")
    # Upper bounds are not driver keys: `ge` scans the type, then filters.
    run("Patient", [("birthdate", "ge1990")], store=store)
    assert store.lookups[-1] is None
    run("Patient", [("identifier", "http://example.org/mrn|123")], store=store)
    assert store.lookups[-1] == KeyLookup(keys=("identifier||123",))
    # `_lastUpdated` is the store's `ts`, bounded a millisecond wider than asked.
    for query, since, before in (("ge2024-01-01T00:03:00Z", "2024-01-01T00:02:59.999", None),
                                 ("lt2024-01-01T00:03:00Z", None, "2024-01-01T00:03:00.001"),
                                 ("2024-01-01", "2023-12-31T23:59:59.999",
                                  "2024-01-02T00:00:00.000999")):
        bundle = run("Patient", [("_lastUpdated", query)], store=store)
        lookup = store.lookups[-1]
        assert lookup is not None and not lookup.keys and lookup.lo is None, query
        assert (lookup.since and lookup.since.isoformat(timespec="milliseconds")[:23]) == (
            since and since[:23]), query
        assert (lookup.before and lookup.before.isoformat()[:len(before or "")]) == before
        assert bundle["total"] == {"ge": 0, "lt": 3}.get(query[:2], 3), query


def test_sort_and_paging_links() -> None:
    bundle = run("Patient", [("_sort", "-birthdate"), ("_count", "2")])
    assert ids(bundle) == ["p3", "p2"]
    assert bundle["total"] == 3
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    assert set(links) == {"self", "first", "next"}
    nxt = urlsplit(links["next"])
    assert nxt.path == "/fhir/Patient"
    query = dict(parse_qsl(nxt.query))
    assert query == {"_sort": "-birthdate", "_count": "2", "_offset": "2"}
    second = run("Patient", list(parse_qsl(nxt.query)))
    assert ids(second) == ["p1"]
    assert {link["relation"] for link in second["link"]} == {"self", "first", "previous"}
    assert ids(run("Patient", [("_sort", "family,-gender")])) == ["p3", "p1", "p2"]


def test_default_order_count_zero_and_total_none() -> None:
    assert ids(run("Patient", [])) == ["p3", "p2", "p1"]  # newest first
    bundle = run("Patient", [("_count", "0")])
    assert "entry" not in bundle and bundle["total"] == 3
    assert "total" not in run("Patient", [("_total", "none")])
    counted = run("Patient", [("_summary", "count")])
    assert counted["total"] == 3 and "entry" not in counted


def test_includes() -> None:
    bundle = run("Observation", [("code", "9999-9"), ("_include", "Observation:subject")])
    assert ids(bundle) == ["o3"] and ids(bundle, "include") == ["p1"]
    bundle = run("Observation", [("_id", "o3"), ("_include", "Observation:subject"),
                                 ("_include:iterate", "Patient:general-practitioner")])
    assert set(ids(bundle, "include")) == {"p1", "d1"}
    bundle = run("Patient", [("_id", "p1"), ("_revinclude", "Observation:subject")])
    assert set(ids(bundle, "include")) == {"o1", "o3"}
    bundle = run("Observation", [("_id", "o1"), ("_revinclude", "Provenance:target")])
    assert ids(bundle, "include") == ["v1"]
    bundle = run("Observation", [("_id", "o1"), ("_include", "*")])
    assert ids(bundle, "include") == ["p1"]


def test_summary_and_elements() -> None:
    bundle = run("Patient", [("_id", "p1"), ("_elements", "gender")])
    res = bundle["entry"][0]["resource"]
    assert set(res) == {"resourceType", "id", "meta", "gender"}
    assert any(t["code"] == "SUBSETTED" for t in res["meta"]["tag"])
    res = run("Patient", [("_id", "p1"), ("_summary", "true")])["entry"][0]["resource"]
    assert "birthDate" in res and "generalPractitioner" not in res
    res = run("Observation", [("_id", "o1"), ("_elements", "value")])["entry"][0]["resource"]
    assert "valueQuantity" in res and "status" in res  # status is mandatory
    res = run("Patient", [("_id", "p1"), ("_summary", "data")])["entry"][0]["resource"]
    assert "text" not in res


def test_unknown_parameters_warn_or_fail() -> None:
    bundle = run("Patient", [("nonsense", "1"), ("gender", "male")])
    assert ids(bundle) == ["p1"]
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome and outcome[0]["resource"]["issue"][0]["expression"] == ["nonsense"]
    assert "nonsense" not in bundle["link"][0]["url"]
    for params in ([("nonsense", "1")], [("gender:exact", "male")],
                   [("_include", "Patient:nope")], [("_sort", "nope")]):
        with pytest.raises(Invalid) as err:
            run("Patient", params, strict=True)
        assert err.value.issues[0].expression == params[0][0]


@pytest.mark.parametrize("params", [
    [("birthdate", "1980-13")], [("birthdate", "xx1980")], [("value-quantity", "abc")],
    [("_count", "-1")], [("_total", "maybe")], [("_summary", "yes")],
    [("subject.name", "x")], [("email:missing", "maybe")],
    [("general-practitioner.name", "who")],
])
def test_malformed_values_are_invalid(params: list[tuple[str, str]]) -> None:
    rtype = "Observation" if params[0][0] in ("value-quantity", "subject.name") else "Patient"
    with pytest.raises(Invalid):
        run(rtype, params)


def test_system_level_search() -> None:
    bundle = run(None, [("_id", "p1,o1")])
    assert set(ids(bundle)) == {"p1", "o1"}
    assert bundle["link"][0]["url"].startswith(BASE + "?")


MORE = [
    {"resourceType": "ValueSet", "id": "vs1", "status": "active",
     "url": "http://example.org/fhir/ValueSet/child-risk"},
    {"resourceType": "ValueSet", "id": "vs2", "status": "active",
     "url": "http://example.org/fhir/other"},
    {**obs("o9", "Patient/p1", "1234-5", 1),
     "code": {"coding": [{"code": "x", "display": "Head Lice"}]},
     "performer": [{"identifier": {"system": "http://gmc", "value": "G1"}}]},
]


@pytest.mark.parametrize(("rtype", "params", "expected"), [
    ("ValueSet", [("url", "http://example.org/fhir/other")], {"vs2"}),
    ("ValueSet", [("url:below", "http://example.org/fhir/ValueSet")], {"vs1"}),
    ("ValueSet", [("url:above", "http://example.org/fhir/ValueSet/child-risk/v2")], {"vs1"}),
    ("Observation", [("code:text", "head")], {"o9"}),
    ("Observation", [("performer:identifier", "http://gmc|G1")], {"o9"}),
    ("Observation", [("performer:identifier", "G1")], {"o9"}),
])
def test_more_modifiers(rtype: str, params: list[tuple[str, str]], expected: set[str]) -> None:
    assert set(ids(run(rtype, params, store=FakeStore(MORE)))) == expected
