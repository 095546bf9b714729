"""Checking profile examples: valid ones must pass, invalid ones must fail as expected.

Examples live in `profiles/examples/<Profile>/valid/*.json` and `.../invalid/*.json`,
where `<Profile>` is a profile's `name` (or `id`). Each invalid example has a sidecar
`<name>.expect.json`: `{"rule": ..., "expression": ..., "severity": "error", "base": ...}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.errors import Invalid, Issue, is_error
from server.profiles.loader import read_json, read_object
from server.validation import ResourceValidator

Json = dict[str, Any]

_INDEX = re.compile(r"\[\d+\]")


@dataclass(frozen=True, slots=True)
class ExampleResult:
    """The outcome of one example: `surprises` says what went against expectations."""

    path: Path
    profile: str
    valid: bool  # the folder the example is in: valid/ or invalid/
    surprises: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when the example behaved as its folder (and sidecar) say it should."""
        return not self.surprises


def check_examples(directory: Path, profiles: list[Json],
                   validator: ResourceValidator) -> list[ExampleResult]:
    """Return one result per example under `directory/examples`, in path order.

    `profiles` are the StructureDefinitions the example folders are named after.
    """
    urls = {key: sd["url"] for sd in profiles if sd.get("resourceType") == "StructureDefinition"
            for key in (sd.get("name"), sd.get("id")) if key}
    results: list[ExampleResult] = []
    for folder in sorted(p for p in (directory / "examples").glob("*") if p.is_dir()):
        for valid in (True, False):
            for path in sorted((folder / ("valid" if valid else "invalid")).glob("*.json")):
                if path.name.endswith(".expect.json"):
                    continue
                url = urls.get(folder.name)
                if url is None:
                    results.append(ExampleResult(path, folder.name, valid,
                                                 [f"no profile named {folder.name}"]))
                    continue
                results.append(ExampleResult(path, folder.name, valid,
                                             _surprises(path, url, valid, validator)))
    return results


def _surprises(path: Path, url: str, valid: bool, validator: ResourceValidator) -> list[str]:
    try:
        example = read_json(path)
        expect = None if valid else read_object(path.with_name(path.stem + ".expect.json"))
    except Invalid as error:
        return [issue.diagnostics for issue in error.issues]
    issues = validator.validate(example, profile=url)
    if expect is None:
        return [_describe(i) for i in issues if is_error(i)]
    expression = str(expect.get("expression", ""))
    severity = str(expect.get("severity", "error"))
    if any(_severity_matches(i, severity) and _expression_matches(i.expression, expression)
           for i in issues):
        return []
    found = "; ".join(_describe(i) for i in issues) or "no issues"
    return [f"expected {severity} at {expression} (rule {expect.get('rule')}), got: {found}"]


def _severity_matches(issue: Issue, severity: str) -> bool:
    return is_error(issue) if severity in ("error", "fatal") else issue.severity == severity


def _expression_matches(actual: str | None, expected: str) -> bool:
    """True if `actual` is `expected` or inside it, also comparing with indexes removed."""
    if actual is None or not expected:
        return False
    pairs = ((actual, expected), (_INDEX.sub("", actual), _INDEX.sub("", expected)))
    return any(a == e or a.startswith((e + ".", e + "[")) for a, e in pairs)


def _describe(issue: Issue) -> str:
    return f"{issue.severity} {issue.message_id or issue.code} at {issue.expression}: " \
           f"{issue.diagnostics}"
