"""`cradle serve` as a user runs it: embedded database lifecycle, restarts, failures."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import orjson

from server.store.embedded import free_port
from tests.auth import SmartBackendAuth
from tests.builders import patient
from tests.cli.commands import CHILD, CRADLE, environment, start, stop, wait_ready


def test_data_survives_a_restart_and_the_database_stops(data_dir: Path, tag: str) -> None:
    port = free_port()
    server = start(data_dir, port)
    try:
        wait_ready(port, server)
        base = f"http://127.0.0.1:{port}/fhir"
        # Secure by default: no token, no data; the admin client's credentials are on disk.
        assert httpx.get(f"{base}/Patient").status_code == 401
        admin = SmartBackendAuth.from_credentials_file(f"http://127.0.0.1:{port}",
                                                       data_dir / "admin-client.json")
        # Profiles are enforced by default: a plain Patient is not a Child; a Child is stored.
        assert httpx.post(f"{base}/Patient", json=patient(tag), auth=admin).status_code == 422
        child = orjson.loads(CHILD.read_bytes())
        del child["id"]
        response = httpx.post(f"{base}/Patient", json=child, auth=admin)
        assert response.status_code == 201, response.text
        created = response.json()
    finally:
        err = stop(server)
    assert server.returncode == 0, err
    assert "embedded database stopped" in err
    assert "admin client created" in err
    assert (data_dir / "admin-client.json").stat().st_mode & 0o777 == 0o600
    assert (data_dir / "signing-key.json").stat().st_mode & 0o777 == 0o600
    assert (data_dir / "db").is_dir()
    assert not _port_open(port)
    server = start(data_dir, port)
    try:
        wait_ready(port, server)
        again = httpx.get(f"http://127.0.0.1:{port}/fhir/Patient/{created['id']}", auth=admin)
        assert again.status_code == 200 and again.json() == created
    finally:
        stop(server)


def test_unreachable_database_is_one_clear_line(data_dir: Path) -> None:
    result = subprocess.run(
        [*CRADLE, "serve", "--port", str(free_port()), "--data-dir", str(data_dir),
         "--mongo-uri", f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=500"],
        capture_output=True, text=True, timeout=60, env=environment())
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cradle: error:"), result.stderr
    assert "Traceback" not in result.stderr


def test_unusable_data_dir_is_one_clear_line(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = subprocess.run(
        [*CRADLE, "serve", "--port", str(free_port()), "--data-dir", str(not_a_dir)],
        capture_output=True, text=True, timeout=60, env=environment())
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cradle: error:"), result.stderr


def test_env_gives_the_mongo_uri(data_dir: Path) -> None:
    env = environment(CRADLE_MONGO_URI=f"mongodb://127.0.0.1:{free_port()}/")
    result = subprocess.run([*CRADLE, "serve", "--port", str(free_port())], capture_output=True,
                            text=True, timeout=60, env=env, cwd=data_dir.parent)
    assert result.returncode != 0 and "cannot reach MongoDB" in result.stderr


def test_help() -> None:
    result = subprocess.run([*CRADLE, "serve", "--help"], capture_output=True, text=True,
                            env=environment())
    assert result.returncode == 0 and "--mongo-uri" in result.stdout


def _port_open(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    except httpx.TransportError:
        return False
    return True


def test_a_profile_authoring_error_stops_the_start_with_a_clear_line(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles" / "StructureDefinition"
    profiles.mkdir(parents=True)
    (profiles / "Bad.json").write_text(
        '{"resourceType": "StructureDefinition", "id": "Bad", "name": "Bad",'
        ' "url": "https://cradle.example/fhir/StructureDefinition/Bad", "status": "active",'
        ' "kind": "resource", "abstract": false, "type": "Patient", "derivation": "constraint",'
        ' "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",'
        ' "differential": {"element": [{"id": "Patient.gender", "path": "Patient.gender",'
        ' "max": "*"}]}}')
    result = subprocess.run(
        [*CRADLE, "serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60,
        env=environment(CRADLE_PROFILES_DIR=str(tmp_path / "profiles")))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "cradle: error: Bad: Patient.gender: max * is above the base max 1"), result.stderr
