"""Offline file validation (`server.conformance.files`) and its command, with line/column
positions taken from the JSON text."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from server.cli.conformance_files import validate
from server.conformance.files import FileIssue, to_pointer, validate_file, validate_text
from server.conformance.suppressions import Suppression
from server.profiles.loader import build_definitions, default_profile_dir, load_enforcement
from server.validation import ResourceValidator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "profiles" / "examples"
VALID_CHILD = EXAMPLES / "Child" / "valid" / "child-with-nhs-number-upn-cp-plan.json"
SHORT_NHS = EXAMPLES / "Child" / "invalid" / "nhs-number-too-short.json"
MISSING_NAME = EXAMPLES / "Child" / "invalid" / "missing-name.json"


@cache
def _kit() -> tuple[ResourceValidator, dict[str, str]]:
    return ResourceValidator(build_definitions()), load_enforcement(default_profile_dir())


def check(path: Path, suppressions: list[Suppression] | None = None) -> list[FileIssue]:
    validator, required = _kit()
    return validate_file(path, validator, required, suppressions or [])


def errors(issues: list[FileIssue]) -> list[FileIssue]:
    return [i for i in issues if i.is_error]


def test_valid_child_has_no_errors() -> None:
    assert errors(check(VALID_CHILD)) == []


def test_invalid_child_error_is_placed_at_its_element() -> None:
    (issue,) = errors(check(SHORT_NHS))
    assert (issue.message_id, issue.expression) == ("invariant-nhs-1", "Patient.identifier[0]")
    assert issue.message == "nhs-1: An NHS number is 10 digits"
    # "identifier": [ on line 64; its first item's "{" is line 65, column 5
    assert (issue.line, issue.column) == (65, 5)
    assert issue.file == str(SHORT_NHS) and issue.suppressed is None


def test_an_element_error_points_at_its_key(tmp_path: Path) -> None:
    child = json.loads(VALID_CHILD.read_text())
    child["birthDate"] = 20160514
    file = tmp_path / "child.json"
    file.write_text(json.dumps(child, indent=2))
    line = next(n for n, text in enumerate(file.read_text().splitlines(), 1)
                if '"birthDate"' in text)
    (issue,) = errors(check(file))
    assert (issue.message_id, issue.expression) == ("wrong-type", "Patient.birthDate")
    assert (issue.line, issue.column) == (line, 3)


def test_missing_element_falls_back_to_its_parent() -> None:
    (issue,) = errors(check(MISSING_NAME))
    assert (issue.message_id, issue.expression) == ("cardinality-min", "Patient.name")
    assert (issue.line, issue.column) == (1, 1)


def test_bundle_reports_only_the_bad_entry_under_its_entry_path(tmp_path: Path) -> None:
    good, bad = json.loads(VALID_CHILD.read_text()), json.loads(SHORT_NHS.read_text())
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"fullUrl": "urn:uuid:1", "resource": good},
                        {"fullUrl": "urn:uuid:2", "resource": bad}]}
    file = tmp_path / "bundle.json"
    file.write_text(json.dumps(bundle, indent=1))
    (issue,) = errors(check(file))
    assert (issue.message_id, issue.expression) == (
        "invariant-nhs-1", "Bundle.entry[1].resource.identifier[0]")
    lines = file.read_text().splitlines()
    # the second "identifier" key of the file opens the bad entry's identifiers
    starts = [n for n, text in enumerate(lines, 1) if '"identifier"' in text]
    assert issue.line == starts[1] + 1
    assert lines[issue.line - 1][issue.column - 1] == "{"


def test_bad_json_is_one_issue_at_the_parse_error(tmp_path: Path) -> None:
    file = tmp_path / "bad.json"
    file.write_text('{\n  "resourceType": "Patient",\n  "gender": female\n}\n')
    assert [(i.line, i.column, i.severity, i.message_id) for i in check(file)] == [
        (3, 13, "error", "json-invalid")]


@pytest.mark.parametrize("text", ["[1, 2]", '"Patient"', '{"id": "x"}', '{"resourceType": 1}'])
def test_json_that_is_not_a_resource(tmp_path: Path, text: str) -> None:
    file = tmp_path / "thing.json"
    file.write_text(text)
    assert [i.message_id for i in check(file)] == ["not-a-resource"]


def test_a_suppression_hides_exactly_its_expression(tmp_path: Path) -> None:
    patient = {"resourceType": "Patient", "birthDate": 1, "deceasedBoolean": "no"}
    file = tmp_path / "patient.json"
    file.write_text(json.dumps(patient, indent=2))
    plain = [(i.message_id, i.expression) for i in errors(check(file))]
    assert ("wrong-type", "Patient.birthDate") in plain
    assert ("wrong-type", "Patient.deceased.ofType(boolean)") in plain
    rule = Suppression("wrong-type", "Patient.birthDate", "Legacy feed (ticket VEND-1)")
    issues = check(file, [rule])
    hidden = [i for i in issues if i.suppressed is not None]
    assert [(i.expression, i.suppressed) for i in hidden] == [
        ("Patient.birthDate", "Legacy feed (ticket VEND-1)")]
    other = next(i for i in issues if i.expression == "Patient.deceased.ofType(boolean)")
    assert other.suppressed is None and other.message_id == "wrong-type"
    assert (other.line, other.column) == (4, 3)


@pytest.mark.parametrize(("expression", "pointer"), [
    ("Patient.identifier[0].value", "/identifier/0/value"),
    ("Patient.deceasedBoolean", "/deceasedBoolean"),
    ("Patient.deceased.ofType(boolean)", "/deceasedBoolean"),
    ("Patient.deceased", "/deceasedBoolean"),
    ("Patient.extension[1].value.ofType(Reference).reference", "/extension/1/valueReference"
     "/reference"),
    ("Patient.extension('http://x.org/b').valueReference", "/extension/1/valueReference"),
    ("Patient.extension.where(url = 'http://x.org/b').value", "/extension/1/valueReference"),
    ("Patient.gender.extension[0].url", "/_gender/extension/0/url"),
    ("Patient.name[0].given[1].extension[0]", "/name/0/_given/1/extension/0"),
    ("Patient.name.family", "/name/0/family"),
    ("Patient.identifier[5].value", "/identifier"),
    ("Patient.contact[0].name", ""),
    ("Patient.identifier[0].value.resolve().name", "/identifier/0/value"),
    ("Patient", ""),
    (None, ""),
    ("Bundle.entry[0].resource.name[0]", "/entry/0/resource/name/0"),
])
def test_fhirpath_to_json_pointer(expression: str | None, pointer: str) -> None:
    patient: dict[str, Any] = {
        "resourceType": "Patient", "identifier": [{"value": "1"}], "deceasedBoolean": False,
        "gender": "female", "_gender": {"extension": [{"url": "http://x.org/g"}]},
        "extension": [{"url": "http://x.org/a", "valueString": "a"},
                      {"url": "http://x.org/b", "valueReference": {"reference": "Patient/1"}}],
        "name": [{"family": "F", "given": ["A", "B"], "_given": [None, {"extension": [{}]}]}]}
    document = patient
    if expression and expression.startswith("Bundle"):
        document = {"resourceType": "Bundle", "entry": [{"resource": patient}]}
    assert to_pointer(document, expression) == pointer


def test_text_with_a_byte_order_mark_and_non_utf8() -> None:
    validator, required = _kit()
    raw = b'\xef\xbb\xbf{"resourceType": "Patient"}'
    found = validate_text(raw, "x.json", validator, required)
    assert [i.message_id for i in found] == ["cardinality-min", "invariant-child-1"], found
    (issue,) = validate_text(b"\xff\xfe{}", "x.json", validator, required)
    assert issue.message_id == "json-invalid"


# --- the command -------------------------------------------------------------------------

def _invoke(*args: str) -> Any:
    app = typer.Typer()
    app.command()(validate)
    app.command(name="noop")(lambda: None)  # two commands: `validate` is a subcommand
    return CliRunner().invoke(app, ["validate", *args])


def test_command_exits_0_for_valid_files() -> None:
    result = _invoke(str(VALID_CHILD))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("1 file: 0 error(s)")


def test_command_prints_each_issue_and_exits_1_on_an_error() -> None:
    result = _invoke(str(VALID_CHILD), str(SHORT_NHS))
    assert result.exit_code == 1
    assert (f"{SHORT_NHS}:65:5: error [invariant-nhs-1] nhs-1: An NHS number is 10 digits "
            "(Patient.identifier[0])") in result.output.splitlines()
    assert result.output.splitlines()[-1].startswith("2 files: 1 error(s)")


def test_command_exits_0_when_every_error_is_suppressed(tmp_path: Path) -> None:
    rules = tmp_path / "suppressions.yaml"
    rules.write_text("suppressions:\n  - id: invariant-nhs-1\n    expression: "
                     "Patient.identifier[0]\n    justification: Known test number (VEND-2)\n")
    result = _invoke(str(SHORT_NHS), "--suppressions", str(rules))
    assert result.exit_code == 0, result.output
    assert any(line.endswith("(Patient.identifier[0]) suppressed: Known test number (VEND-2)")
               for line in result.output.splitlines())
    assert "0 error(s)" in result.output and "1 suppressed" in result.output


def test_command_fails_cleanly_for_missing_files(tmp_path: Path) -> None:
    result = _invoke(str(tmp_path / "nope.json"))
    assert result.exit_code == 1
    assert "cradle: error:" in result.output and "no such file" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    result = _invoke(str(VALID_CHILD), "--suppressions", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1 and "no such suppressions file" in result.output


def test_command_fails_cleanly_for_a_bad_suppressions_file(tmp_path: Path) -> None:
    rules = tmp_path / "suppressions.yaml"
    rules.write_text("suppressions:\n  - id: invariant-nhs-1\n")
    result = _invoke(str(VALID_CHILD), "--suppressions", str(rules))
    assert result.exit_code == 1 and "justification" in result.output
    assert "Traceback" not in result.output


def test_command_reports_bad_json_and_exits_1(tmp_path: Path) -> None:
    file = tmp_path / "bad.json"
    file.write_text("{\n  oops\n}")
    result = _invoke(str(file))
    assert result.exit_code == 1
    assert result.output.startswith(f"{file}:2:3: error [json-invalid] ")
