"""The compiled validity check (jsonschema-rs) never lets through what jsonschema rejects."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.mapping.formats import ReadError
from server.mapping.native_schema import _validators, schema_issues
from tests.mappings.harness import MAPPINGS, agency

AGENCIES = sorted(p.parent.name for p in MAPPINGS.glob("*/map.json"))


def _trees(name: str) -> list[tuple[str, Any]]:
    found = []
    for path in sorted((MAPPINGS / name / "samples").iterdir()):
        if path.name == "index.json":
            continue
        try:
            tree = agency(name).format.read(path.read_bytes()).tree
        except ReadError:
            continue
        found += ([(f"{path.name}[{i}]", row) for i, row in enumerate(tree)]
                  if isinstance(tree, list) else [(path.name, tree)])
    return found


@pytest.mark.parametrize("name", AGENCIES)
def test_both_validators_agree_on_every_sample(name: str) -> None:
    validators = _validators(agency(name).schema)
    trees = _trees(name)
    assert trees
    verdicts = {label: (validators.quick.is_valid(tree),
                        not any(validators.explaining.iter_errors(tree)))
                for label, tree in trees}
    assert {label: v for label, v in verdicts.items() if v[0] != v[1]} == {}
    assert any(not quick for quick, _ in verdicts.values()), "no sample breaks the schema"


ROW_CELLS = st.text(alphabet=st.sampled_from("0123456789/ -ABNMFWX\n"), max_size=14)


@settings(max_examples=150, deadline=None)
@given(cells=st.dictionaries(st.integers(0, 27), ROW_CELLS, max_size=4))
def test_a_row_the_compiled_check_passes_has_no_schema_error(cells: dict[int, str]) -> None:
    connexions = agency("connexions")
    sample = (MAPPINGS / "connexions" / "samples" / "ccis-2503-monthly-extract-three-rows.csv")
    [row, *_] = connexions.format.read(sample.read_bytes()).tree
    columns = list(row)
    changed = {**row, **{columns[i]: text for i, text in cells.items()}}
    validators = _validators(connexions.schema)
    if validators.quick.is_valid(changed):
        assert list(validators.explaining.iter_errors(changed)) == []
    # And the issues reported are exactly jsonschema's, whichever answered first.
    document = connexions.format.read(sample.read_bytes())
    document.tree[0] = changed
    issues = schema_issues(connexions.schema, document, [(0,)], per_row=True)
    assert len(issues.get((0,), [])) == len(list(validators.explaining.iter_errors(changed)))
