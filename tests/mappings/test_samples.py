"""Every agency's samples through its map, as `samples/index.json` says: accepted records meet
the invariants with the children the index names, rejected ones have every error located in
the native record, and each sample's whole result matches its golden file."""

from __future__ import annotations

import pytest

from tests.mappings.harness import check_golden, run, samples
from tests.mappings.invariants import check_invariants

AGENCIES = ("connexions", "education", "health", "police", "social-care")
CASES = [(agency, sample) for agency in AGENCIES for sample in samples(agency)]


@pytest.mark.parametrize(("agency", "sample"), CASES,
                         ids=[f"{a}/{s['file']}" for a, s in CASES])
def test_sample_maps_as_its_index_says(agency: str, sample: dict) -> None:
    records = run(agency, sample["file"])
    assert records, "no records read"
    if sample["expected"] == "accept":
        assert not [r for r in records if r.rejected], [i for r in records for i in r.issues]
        # `children` names the cast; `childCount` counts children outside it too
        check_invariants(records, children=sample.get("childCount", len(sample["children"])))
    else:
        rejected = [r for r in records if r.rejected]
        assert rejected
        errors = [i for r in rejected for i in r.issues if i.severity == "error"]
        assert errors and all(i.native and i.native != "/" for i in errors), \
            "every error names its place in the native record"
    check_golden(agency, sample["file"], records)


@pytest.mark.parametrize(("agency", "sample"), [c for c in CASES if c[1]["expected"] == "accept"],
                         ids=[f"{a}/{s['file']}" for a, s in CASES if s["expected"] == "accept"])
def test_resending_a_sample_gives_the_same_ids(agency: str, sample: dict) -> None:
    first, again = run(agency, sample["file"]), run(agency, sample["file"])
    assert [r.reference for x in first for r in x.resources] == \
        [r.reference for x in again for r in x.resources]
