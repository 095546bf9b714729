"""`cradle map AGENCY FILE` and `cradle mappings coverage`, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cli.commands import CRADLE, ROOT, environment

SAMPLES = ROOT / "mappings" / "connexions" / "samples"


def cradle(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CRADLE, *args], capture_output=True, text=True, cwd=cwd,
                          env=environment(), timeout=120)


def test_map_prints_a_transaction_bundle(tmp_path: Path) -> None:
    done = cradle("map", "connexions", str(SAMPLES / "ccis-2503-monthly-extract-three-rows.csv"),
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    bundle = json.loads(done.stdout)
    assert bundle["type"] == "transaction"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Patient") == 3
    assert all(e["request"]["method"] == "PUT" for e in bundle["entry"])


def test_map_reports_rejects_with_the_native_place(tmp_path: Path) -> None:
    done = cradle("map", "connexions", str(SAMPLES / "ccis-2503-bad-nhs-number.csv"),
                  cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "error at line 2, column 7 (NHSNumber)" in done.stderr
    assert "Traceback" not in done.stderr


def test_map_fails_cleanly_on_bad_input(tmp_path: Path) -> None:
    (tmp_path / "broken.csv").write_text('YoungPersonsID\n"unterminated\n')
    for args in (["map", "no-such-agency", str(tmp_path / "broken.csv")],
                 ["map", "connexions", str(tmp_path / "missing.csv")],
                 ["map", "connexions", str(tmp_path / "broken.csv")]):
        done = cradle(*args, cwd=tmp_path)
        assert done.returncode != 0
        assert done.stderr.startswith("cradle: error:") or "error" in done.stderr
        assert "Traceback" not in done.stderr


def test_coverage_prints_the_matrix_and_writes_the_heat_map(tmp_path: Path) -> None:
    done = cradle("mappings", "coverage", "--html", str(tmp_path / "coverage.html"),
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Patient.identifier(nhs-number).value" in done.stdout
    assert "shared elements" in done.stdout
    page = (tmp_path / "coverage.html").read_text()
    assert "<svg" in page and "connexions" in page
