"""Search over HTTP against the embedded database (parameter types, modifiers, paging...)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.builders import TEST_SYSTEM, observation, patient


def ids(bundle: dict[str, Any], mode: str = "match") -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", [])
            if e.get("search", {}).get("mode", "match") == mode}


def find(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset"
    return body


def make(client: httpx.Client, body: dict[str, Any]) -> str:
    response = client.post(f"/{body['resourceType']}", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_string_token_and_date(client: httpx.Client, tag: str) -> None:
    a = make(client, patient(tag, name=[{"family": f"Ödegaard{tag}", "given": ["Zoë"]}],
                             birthDate="2012-06-01"))
    b = make(client, patient(tag, name=[{"family": f"Odell{tag}"}], gender="male",
                             birthDate="2016-01-20"))
    assert ids(find(client, "/Patient", family=f"odegaard{tag}")) == {a}
    assert ids(find(client, "/Patient", name="ode")) >= {a, b}
    assert ids(find(client, "/Patient", **{"family:exact": f"Ödegaard{tag}"})) == {a}
    assert ids(find(client, "/Patient", **{"family:exact": f"odegaard{tag}"})) == set()
    assert ids(find(client, "/Patient", **{"family:contains": f"DELL{tag}"})) == {b}
    assert ids(find(client, "/Patient", identifier=f"{TEST_SYSTEM}|{tag}")) == {a, b}
    assert ids(find(client, "/Patient", identifier=tag, gender="male")) == {b}
    assert ids(find(client, "/Patient", identifier=tag, **{"gender:not": "male"})) == {a}
    assert ids(find(client, "/Patient", identifier=tag, birthdate="2012")) == {a}
    assert ids(find(client, "/Patient", identifier=tag, birthdate="ge2013-01-01")) == {b}
    assert ids(find(client, "/Patient", identifier=tag, birthdate="lt2013")) == {a}
    assert ids(find(client, "/Patient", identifier=tag, birthdate="eb2016-01")) == {a}
    assert ids(find(client, "/Patient", identifier=tag, birthdate="sa2015")) == {b}
    assert ids(find(client, "/Patient", identifier=tag, birthdate="ne2012-06-01")) == {b}
    both = client.get("/Patient", params=[("identifier", tag), ("birthdate", "ge2012"),
                                          ("birthdate", "le2012-12-31")]).json()
    assert ids(both) == {a}


def test_or_values_missing_and_id(client: httpx.Client, tag: str) -> None:
    a = make(client, patient(tag))
    b = make(client, {"resourceType": "Patient", "identifier": [{"value": tag}]})
    assert ids(find(client, "/Patient", identifier=tag, **{"gender:missing": "true"})) == {b}
    assert ids(find(client, "/Patient", identifier=tag, **{"gender:missing": "false"})) == {a}
    assert ids(find(client, "/Patient", _id=f"{a},{b}")) == {a, b}
    assert ids(find(client, "/Patient", identifier=tag, gender="female,male")) == {a}


def test_last_updated_alone_and_with_other_criteria(client: httpx.Client, tag: str) -> None:
    # `_lastUpdated` is served by the store's timestamp index, not by search keys.
    first = client.post("/Patient", json=patient(tag)).json()
    second = client.post("/Patient", json=patient(tag, gender="male")).json()
    at, later = first["meta"]["lastUpdated"], second["meta"]["lastUpdated"]
    assert at < later
    assert ids(find(client, "/Patient", identifier=tag, _lastUpdated=at)) == {first["id"]}
    assert ids(find(client, "/Patient", identifier=tag, _lastUpdated=f"gt{at}")) == {
        second["id"]}
    assert ids(find(client, "/Patient", identifier=tag, _lastUpdated=f"le{at}")) == {
        first["id"]}
    found = ids(find(client, "/Patient", _lastUpdated=f"ge{at}", _count=1000))
    assert {first["id"], second["id"]} <= found
    assert first["id"] not in ids(find(client, "/Patient", _lastUpdated=f"sa{at}", _count=1000))


def test_reference_chain_has_and_includes(client: httpx.Client, tag: str) -> None:
    pat = make(client, patient(tag, name=[{"family": f"Chain{tag}"}]))
    obs = make(client, observation(tag, f"Patient/{pat}"))
    assert ids(find(client, "/Observation", subject=f"Patient/{pat}")) == {obs}
    assert ids(find(client, "/Observation", patient=pat)) == {obs}
    assert ids(find(client, "/Observation", **{"subject:Patient.name": f"chain{tag}"})) == {obs}
    assert ids(find(client, "/Patient", **{"_has:Observation:subject:identifier": tag})) == {pat}
    included = find(client, "/Observation", identifier=tag, _include="Observation:subject")
    assert ids(included) == {obs} and ids(included, "include") == {pat}
    rev = find(client, "/Patient", _id=pat, _revinclude="Observation:subject")
    assert ids(rev) == {pat} and ids(rev, "include") == {obs}
    assert rev["total"] == 1


def test_quantity_number_and_uri(client: httpx.Client, tag: str) -> None:
    pat = make(client, patient(tag))
    heavy = make(client, observation(tag, f"Patient/{pat}"))
    light = make(client, observation(tag, f"Patient/{pat}", valueQuantity={
        "value": 3.2, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}))
    found = find(client, "/Observation", identifier=tag, **{"value-quantity": "gt10"})
    assert ids(found) == {heavy}
    found = find(client, "/Observation", identifier=tag,
                 **{"value-quantity": "3.2|http://unitsofmeasure.org|kg"})
    assert ids(found) == {light}
    risk = make(client, {"resourceType": "RiskAssessment", "status": "final",
                         "subject": {"reference": f"Patient/{pat}"},
                         "prediction": [{"probabilityDecimal": 0.8}]})
    assert ids(find(client, "/RiskAssessment", subject=f"Patient/{pat}",
                    probability="ge0.5")) == {risk}
    url = f"https://cradle.example/fhir/ValueSet/{tag}"
    vs = make(client, {"resourceType": "ValueSet", "status": "draft", "url": url})
    assert ids(find(client, "/ValueSet", url=url)) == {vs}


def test_paging_sort_total_summary_elements(client: httpx.Client, tag: str) -> None:
    made = [make(client, patient(tag, birthDate=f"201{n}-01-01")) for n in range(5)]
    page = find(client, "/Patient", identifier=tag, _count=2, _sort="birthdate")
    assert page["total"] == 5 and len(page["entry"]) == 2
    seen = [e["resource"]["id"] for e in page["entry"]]
    links = {link["relation"]: link["url"] for link in page["link"]}
    while "next" in links:
        page = client.get(links["next"]).json()
        seen += [e["resource"]["id"] for e in page["entry"]]
        links = {link["relation"]: link["url"] for link in page["link"]}
    assert seen == made
    desc = find(client, "/Patient", identifier=tag, _sort="-birthdate")
    assert [e["resource"]["id"] for e in desc["entry"]] == made[::-1]
    count = find(client, "/Patient", identifier=tag, _summary="count")
    assert count["total"] == 5 and not count.get("entry")
    assert "total" not in find(client, "/Patient", identifier=tag, _total="none")
    trimmed = find(client, "/Patient", identifier=tag, _elements="gender")
    resource = trimmed["entry"][0]["resource"]
    assert "gender" in resource and "name" not in resource and "birthDate" not in resource


def test_unknown_parameters_warn_or_fail_under_strict(client: httpx.Client, tag: str) -> None:
    lenient = find(client, "/Patient", identifier=tag, colour="blue")
    outcomes = [e for e in lenient.get("entry", []) if e["search"]["mode"] == "outcome"]
    assert outcomes and outcomes[0]["resource"]["issue"][0]["severity"] == "warning"
    strict = client.get("/Patient", params={"colour": "blue"},
                        headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    assert strict.json()["issue"][0]["expression"] == ["colour"]


def test_post_search(client: httpx.Client, tag: str) -> None:
    pid = make(client, patient(tag))
    response = client.post("/Patient/_search", content=f"identifier={tag}",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200 and ids(response.json()) == {pid}
