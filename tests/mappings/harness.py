"""Running an agency's map over its samples, offline, the way `cradle map` does: shared by
the per-agency map tests (golden files, invariants, round trips)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from server.mapping import reverse
from server.mapping.catalog import Agency, load_agencies
from server.mapping.codes import Codes
from server.mapping.conversions import CONVERSIONS, ConversionError
from server.mapping.forward import MappedRecord
from server.mapping.pipeline import map_native
from server.profiles.loader import build_definitions, default_profile_dir, load_enforcement
from server.terminology.expansion import Terminology
from server.validation import ResourceValidator

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
GOLDEN = Path(__file__).resolve().parent / "golden"
AGENCY_ID = "test-agency"  # the submitting agency's Organization id in expressions
UPDATE = os.environ.get("CRADLE_UPDATE_GOLDEN") == "1"  # rewrite golden files, then review


@cache
def required() -> dict[str, str]:
    """The profile each type must conform to, as the server enforces it."""
    return load_enforcement(default_profile_dir())


@cache
def tools() -> tuple[Codes, ResourceValidator]:
    definitions = build_definitions()
    for agency in load_agencies().values():
        for resource in agency.codes:
            definitions.add(resource)
    return Codes(Terminology(definitions)), ResourceValidator(definitions)


def agency(name: str) -> Agency:
    return load_agencies()[name]


def samples(name: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(
        (MAPPINGS / name / "samples" / "index.json").read_text())["samples"]
    return entries


def run(name: str, file: str) -> list[MappedRecord]:
    codes, validator = tools()
    data = (MAPPINGS / name / "samples" / file).read_bytes()
    return map_native(agency(name), data, codes, validator, AGENCY_ID, required())


def summary(records: list[MappedRecord]) -> list[dict[str, Any]]:
    """What a golden file holds: per record, its key, outcome, resources and issues."""
    return [{"key": r.key, "location": r.location, "rejected": r.rejected,
             "resources": [x.resource for x in r.resources],
             "issues": [i.as_fhir() for i in r.issues]} for r in records]


def check_golden(name: str, file: str, records: list[MappedRecord]) -> None:
    path = GOLDEN / name / (file + ".json")
    actual = summary(records)
    if UPDATE or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n")
    assert json.loads(path.read_text()) == json.loads(json.dumps(actual)), \
        f"{name}/{file} differs from its golden file (CRADLE_UPDATE_GOLDEN=1 rewrites it)"


def render_back(name: str, record: MappedRecord) -> Any:
    """Return the native tree the map renders from `record`'s resources."""
    codes, _ = tools()
    by_name: dict[str, list[dict[str, Any]]] = {}
    for resource in record.resources:
        by_name.setdefault(resource.name, []).append(resource.resource)
    return reverse.render(agency(name).mapping, [by_name], codes, AGENCY_ID).tree


def same_meaning(fmt: str, a: Any, b: Any) -> bool:
    """Native values equal once read with `fmt` (9/4/2007 and 09/04/2007 are one date)."""
    if a == b:
        return True
    try:
        return bool(CONVERSIONS[fmt].to_fhir(a) == CONVERSIONS[fmt].to_fhir(b))
    except ConversionError:
        return False


def assert_round_trip(name: str, native: Any, rendered: Any) -> None:
    """Every value a two-way rule read from `native` comes back from `rendered` with the same
    meaning; rules with a declared `loss`, `oneWay` rules and repeated (`each`) items are left
    to the agency's own tests."""
    from server.mapping import paths

    mapping = agency(name).mapping
    for resource_map in mapping.resources:
        if resource_map.each:
            continue
        for rule in resource_map.rules:
            if rule.native is None or rule.loss or rule.one_way or rule.native.root:
                continue
            if rule.expression is not None and rule.reverse is None:
                continue
            before = paths.get(native, rule.native)
            if before is None or before[0] in (None, "") or \
                    (isinstance(before[0], str) and not before[0].strip()):
                continue  # blank is empty: nothing to carry
            after = paths.get(rendered, rule.native)
            assert after is not None, f"{name}: {rule.native.text} lost in the round trip"
            assert same_meaning(rule.format, before[0], after[0]), \
                f"{name}: {rule.native.text} was {before[0]!r}, came back {after[0]!r}"
