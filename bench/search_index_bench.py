"""Print SearchIndexer.build_index throughput for a typical ~2.4 KB Patient."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.definitions.registry import load_r4
from server.search.index import SearchIndexer
from server.search.registry import SearchParameterRegistry

PATIENT = {
    "resourceType": "Patient", "id": "example-0001",
    "meta": {"versionId": "3", "lastUpdated": "2024-05-01T10:11:12.345Z",
             "profile": ["https://cradle.example/fhir/StructureDefinition/child"],
             "tag": [{"system": "https://cradle.example/tags", "code": "agency-a"}],
             "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                           "code": "R"}]},
    "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">"
             "Amelia Jane Thompson-Okafor, born 12 March 2015</div>"},
    "identifier": [
        {"use": "official", "system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919",
         "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                              "code": "NH", "display": "National Health number"}]}},
        {"use": "secondary", "system": "https://cradle.example/Id/case", "value": "CASE-00042"},
        {"use": "secondary", "system": "https://cradle.example/Id/school", "value": "SCH-8812",
         "period": {"start": "2020-09-01"}, "assigner": {"display": "Leeds Primary"}},
    ],
    "extension": [
        {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
         "valueAddress": {"city": "Bradford", "country": "GB"}},
        {"url": "https://cradle.example/fhir/StructureDefinition/agency-flag",
         "valueCodeableConcept": {"coding": [{
             "system": "https://cradle.example/flags", "code": "cp-plan",
             "display": "Child protection plan"}]}},
    ],
    "active": True,
    "name": [
        {"use": "official", "family": "Thompson-Okafor", "given": ["Amelia", "Jane"],
         "prefix": ["Miss"]},
        {"use": "nickname", "given": ["Millie"]},
    ],
    "telecom": [
        {"system": "phone", "value": "+44 113 496 0000", "use": "home"},
        {"system": "email", "value": "carer@example.org", "use": "home"},
    ],
    "gender": "female", "birthDate": "2015-03-12", "deceasedBoolean": False,
    "address": [
        {"use": "home", "line": ["14 Acacia Avenue", "Flat 2"], "city": "Leeds",
         "district": "West Yorkshire", "postalCode": "LS1 4AP", "country": "GB",
         "period": {"start": "2019-06-01"}},
    ],
    "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                                  "code": "U", "display": "unmarried"}]},
    "contact": [
        {"relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131",
                                       "code": "N", "display": "Next-of-Kin"}]}],
         "name": {"family": "Okafor", "given": ["Grace"]},
         "telecom": [{"system": "phone", "value": "+44 7700 900123"}]},
    ],
    "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en-GB"}]},
                       "preferred": True}],
    "generalPractitioner": [{"reference": "Practitioner/gp-17", "display": "Dr A Patel"}],
    "managingOrganization": {"reference": "Organization/leeds-cc", "display": "Leeds CC"},
    "link": [{"other": {"reference": "RelatedPerson/rp-1"}, "type": "seealso"}],
}


def main() -> None:
    indexer = SearchIndexer(SearchParameterRegistry(load_r4()))
    indexer.build_index(PATIENT)  # compile the plan once
    n = 20000
    start = time.perf_counter()
    for _ in range(n):
        indexer.build_index(PATIENT)
    elapsed = time.perf_counter() - start
    size = len(orjson.dumps(PATIENT))
    print(f"Patient {size} bytes: {n / elapsed:,.0f} build_index/s "
          f"({elapsed / n * 1e6:.1f} us each)")


if __name__ == "__main__":
    main()
