"""`cradle profiles build|check|diff` on small profile folders made in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from server.profiles.cli import app

Json = dict[str, Any]
URL = "https://cradle.example/fhir/StructureDefinition/Child"
runner = CliRunner()


def child(*elements: Json) -> Json:
    return {"resourceType": "StructureDefinition", "id": "Child", "url": URL, "name": "Child",
            "status": "draft", "kind": "resource", "abstract": False, "type": "Patient",
            "derivation": "constraint",
            "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
            "differential": {"element": list(elements)}}


GENDER_REQUIRED = {"id": "Patient.gender", "path": "Patient.gender", "min": 1}
ONE_NAME = {"id": "Patient.name", "path": "Patient.name", "max": "1"}


def write(path: Path, content: Json) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


def profile_dir(tmp_path: Path, sd: Json) -> Path:
    root = tmp_path / "profiles"
    write(root / "StructureDefinition" / "Child.json", sd)
    examples = root / "examples" / "Child"
    write(examples / "valid" / "ok.json", {"resourceType": "Patient", "gender": "female",
                                            "name": [{"family": "Smith"}]})
    write(examples / "invalid" / "no-gender.json", {"resourceType": "Patient"})
    write(examples / "invalid" / "no-gender.expect.json",
          {"rule": "cardinality", "expression": "Patient.gender", "severity": "error",
           "base": False})
    write(examples / "invalid" / "two-names.json", {
        "resourceType": "Patient", "gender": "male",
        "name": [{"family": "Smith"}, {"family": "Jones"}]})
    write(examples / "invalid" / "two-names.expect.json",
          {"rule": "cardinality", "expression": "Patient.name", "severity": "error",
           "base": False})
    return root


def test_build_writes_snapshots(tmp_path: Path) -> None:
    root = profile_dir(tmp_path, child(GENDER_REQUIRED, ONE_NAME))
    result = runner.invoke(app, ["build", "--dir", str(root)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"built {URL} (")
    built = json.loads((root / "build" / "StructureDefinition-Child.json").read_text())
    elements = {e["id"]: e for e in built["snapshot"]["element"]}
    assert (elements["Patient.gender"]["min"], elements["Patient.name"]["max"]) == (1, "1")


def test_build_reports_each_authoring_error(tmp_path: Path) -> None:
    root = profile_dir(tmp_path, child({"id": "Patient.gender", "path": "Patient.gender",
                                        "max": "*"},
                                       {"id": "Patient.nick", "path": "Patient.nick"}))
    result = runner.invoke(app, ["build", "--dir", str(root), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines == [
        "cradle: error: Child: Patient.gender: max * is above the base max 1 [Patient.gender]",
        "cradle: error: Child: Patient.nick is not in the base [Patient.nick]",
    ]
    assert "Traceback" not in result.output


def test_build_names_a_file_with_bad_json(tmp_path: Path) -> None:
    root = profile_dir(tmp_path, child())
    (root / "StructureDefinition" / "Broken.json").write_text("{not json")
    result = runner.invoke(app, ["build", "--dir", str(root)])
    assert result.exit_code == 1
    assert result.stderr.startswith("cradle: error: ")
    assert "Broken.json: bad JSON" in result.stderr


def test_check_passes_when_examples_behave(tmp_path: Path) -> None:
    root = profile_dir(tmp_path, child(GENDER_REQUIRED, ONE_NAME))
    result = runner.invoke(app, ["check", "--dir", str(root)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "PASS Child valid ok.json",
        "PASS Child invalid no-gender.json",
        "PASS Child invalid two-names.json",
        "3 examples: 3 passed, 0 failed",
    ]


def test_check_fails_on_surprises(tmp_path: Path) -> None:
    # Without the max 1 on name, two names are fine: the invalid example is a surprise.
    root = profile_dir(tmp_path, child(GENDER_REQUIRED))
    write(root / "examples" / "Child" / "valid" / "bad.json",
          {"resourceType": "Patient", "gender": "robot"})
    result = runner.invoke(app, ["check", "--dir", str(root)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "FAIL Child valid bad.json"
    assert "Patient.gender" in lines[1]
    assert "PASS Child valid ok.json" in lines
    failed = lines.index("FAIL Child invalid two-names.json")
    assert lines[failed + 1].startswith("    expected error at Patient.name (rule cardinality)")
    assert lines[-1] == "4 examples: 2 passed, 2 failed"


def test_diff_two_versions(tmp_path: Path) -> None:
    write(tmp_path / "old" / "Child.json", child(GENDER_REQUIRED))
    write(tmp_path / "new" / "Child.json", child(ONE_NAME))
    result = runner.invoke(app, ["diff", str(tmp_path / "old"), str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0] == ["element", "change", "senders", "receivers"]
    assert ["Patient.name", "max-reduced:", "max", "*", "->", "1", "breaking",
            "compatible"] in rows
    assert ["Patient.gender", "min-lowered:", "min", "1", "->", "0", "compatible",
            "breaking"] in rows
    same = runner.invoke(app, ["diff", str(tmp_path / "old" / "Child.json"),
                               str(tmp_path / "old" / "Child.json")])
    assert same.exit_code == 0
    assert same.stdout.splitlines()[-1] == "no changes"


def test_diff_of_missing_file_is_an_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["diff", str(tmp_path / "nope.json"), str(tmp_path / "x.json")])
    assert result.exit_code == 1
    assert result.stderr.startswith("cradle: error: ")
