"""Map expressions run on the compiled FHIRPath subset where it can: it must answer exactly as
fhirpathpy does, for every expression every map evaluates on every sample, both directions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.mapping import expressions
from server.mapping.formats import ReadError
from server.validation.fhirpath_values import Env, Undecidable, plain
from tests.mappings.harness import MAPPINGS, render_back, run

AGENCIES = sorted(p.parent.name for p in MAPPINGS.glob("*/map.json"))


def _as_text(values: list[Any]) -> str:
    return json.dumps(values, default=str, sort_keys=True)


@pytest.mark.parametrize("name", AGENCIES)
def test_compiled_and_fhirpathpy_agree_on_every_sample(name: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    compared: set[str] = set()
    original = expressions._run

    def both(expression: str, node: Any, variables: dict[str, Any]) -> list[Any]:
        answer = original(expression, node, variables)
        fast = expressions._fast(expression)
        wrapped = node if isinstance(node, dict) else {"value": node}
        wrapped = wrapped if "resourceType" in wrapped else {"resourceType": "NativeRecord",
                                                             **wrapped}
        reference = list(expressions._compiled(expression)(wrapped, variables))
        assert _as_text(answer) == _as_text(reference), (expression, variables)
        if fast is not None and not node and all(
                expressions._text(v) for v in variables.values()):
            try:
                fast([wrapped], Env(wrapped, wrapped, wrapped, variables))
            except Undecidable:
                return answer
            compared.add(expression)
            assert _as_text([plain(v) for v in fast([wrapped], Env(
                wrapped, wrapped, wrapped, variables))]) == _as_text(reference), expression
        return answer

    monkeypatch.setattr(expressions, "_run", both)
    expressions._remembered.cache_clear()  # every expression evaluated, not recalled
    for sample in sorted((MAPPINGS / name / "samples").iterdir()):
        if sample.name == "index.json":
            continue
        try:
            records = run(name, sample.name)
        except ReadError:
            continue
        for record in records:
            if not record.rejected:
                render_back(name, record)
    assert compared, f"no {name} expression ran compiled"
