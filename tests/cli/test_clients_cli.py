"""`cradle clients add|list|revoke` and `cradle token`, run as a user runs them, against one
`cradle serve` on the same data directory (shared by the module; shared secrets allowed there)."""

from __future__ import annotations

import base64
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from server.security.tokens import generate_private_jwk, public_jwk
from server.store.embedded import free_port
from tests.auth import SmartBackendAuth, request_token
from tests.cli.commands import CHILD, CRADLE, environment, start, stop, wait_ready


def cradle(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CRADLE, *map(str, args)], capture_output=True, text=True,
                          timeout=60, env=environment())


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """Assert a failed command printed exactly one `cradle: error:` line; return it."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cradle: error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return lines[0]


@dataclass(frozen=True)
class Served:
    data_dir: Path
    url: str

    @property
    def fhir(self) -> str:
        return f"{self.url}/fhir"

    @property
    def token_url(self) -> str:
        return f"{self.url}/auth/token"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`cradle serve` on its own data dir (embedded database), stopped after the module."""
    data_dir = tmp_path_factory.mktemp("clients-cli") / "data"
    port = free_port()
    server = start(data_dir, port, CRADLE_ALLOW_CLIENT_SECRETS="true",
                   CRADLE_LOG_LEVEL="warning")
    try:
        wait_ready(port, server)
        yield Served(data_dir, f"http://127.0.0.1:{port}")
    finally:
        stop(server)


def add(served: Served, *args: str | Path) -> str:
    """`cradle clients add ...` on the served data dir; return the client id it printed."""
    result = cradle("clients", "add", "--data-dir", served.data_dir, *args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].strip(), result.stdout
    return lines[0]


def mint(served: Served, *args: str) -> str:
    """`cradle token ...` for the served data dir; return the one line it printed."""
    result = cradle("token", "--data-dir", served.data_dir, *args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].count(".") == 2, result.stdout
    return lines[0]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def listed(served: Served) -> dict[str, dict[str, Any]]:
    result = cradle("clients", "list", "--json", "--data-dir", served.data_dir)
    assert result.returncode == 0, result.stderr
    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    return {row["client_id"]: row for row in rows}


def child() -> dict[str, Any]:
    body = orjson.loads(CHILD.read_bytes())
    del body["id"]
    return body


# --- clients add --------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS384", "ES384"])
def test_add_with_key_out_writes_owner_only_credentials(served: Served, tmp_path: Path,
                                                        algorithm: str) -> None:
    key_file = tmp_path / "credentials.json"
    client_id = add(served, "--agency", "la-keyout", "--name", "Key out LA", "--key-out",
                    key_file, "--algorithm", algorithm)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    credentials = orjson.loads(key_file.read_bytes())
    assert credentials["client_id"] == client_id
    assert credentials["token_endpoint_auth_method"] == "private_key_jwt"
    assert credentials["private_jwk"]["alg"] == algorithm
    assert "d" in credentials["private_jwk"]
    auth = SmartBackendAuth.from_credentials_file(served.url, key_file)
    response = httpx.get(f"{served.fhir}/Flag", auth=auth)
    assert response.status_code == 200, response.text
    again = cradle("clients", "add", "--data-dir", served.data_dir, "--agency", "la-keyout",
                   "--key-out", key_file)
    assert "exists" in one_error_line(again)


@pytest.mark.parametrize("as_set", [False, True], ids=["jwk", "jwk-set"])
def test_add_with_public_key(served: Served, tmp_path: Path, as_set: bool) -> None:
    private = generate_private_jwk("ES384")
    public = public_jwk(private)
    key_file = tmp_path / "public.json"
    key_file.write_bytes(orjson.dumps({"keys": [public]} if as_set else public))
    client_id = add(served, "--agency", "Organization/la-public", "--scope", "system/Flag.rs",
                    "--public-key", key_file)
    response = request_token(served.token_url, client_id, private, "system/*.cruds")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "system/Flag.rs"


def test_add_with_secret_shows_it_once_on_stderr(served: Served) -> None:
    result = cradle("clients", "add", "--data-dir", served.data_dir, "--agency", "la-secret",
                    "--secret")
    assert result.returncode == 0, result.stderr
    [client_id] = result.stdout.splitlines()
    shown = [line for line in result.stderr.splitlines() if "client secret" in line]
    assert len(shown) == 1, result.stderr
    secret = shown[0].rsplit(": ", 1)[1]
    assert len(secret) >= 32
    assert result.stderr.count(secret) == 1 and secret not in result.stdout
    listing = cradle("clients", "list", "--json", "--data-dir", served.data_dir).stdout
    assert secret not in listing
    rows = {row["client_id"]: row for row in map(orjson.loads, listing.splitlines())}
    assert rows[client_id]["auth"] == "client_secret"
    assert rows[client_id]["agency"] == "Organization/la-secret"
    response = httpx.post(served.token_url, data={
        "grant_type": "client_credentials", "scope": "system/*.rs",
        "client_id": client_id, "client_secret": secret})
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert httpx.get(f"{served.fhir}/Flag", headers=bearer(token)).status_code == 200


def test_operator_client_reads_any_child(served: Served, tmp_path: Path) -> None:
    created = httpx.post(f"{served.fhir}/Patient", json=child(),
                         headers=bearer(mint(served, "--agency", "la-op-owner")))
    assert created.status_code == 201, created.text
    key_file = tmp_path / "operator.json"
    client_id = add(served, "--operator", "--key-out", key_file, "--client-id",
                    f"ops-{tmp_path.name[-8:]}")
    assert client_id == f"ops-{tmp_path.name[-8:]}"
    auth = SmartBackendAuth.from_credentials_file(served.url, key_file)
    read = httpx.get(f"{served.fhir}/Patient/{created.json()['id']}", auth=auth)
    assert read.status_code == 200, read.text
    row = listed(served)[client_id]
    assert row["operator"] is True and row["agency"] is None


# --- clients list -------------------------------------------------------------------------------


def test_list_text_and_json(served: Served, tmp_path: Path) -> None:
    client_id = add(served, "--agency", "la-list", "--name", "Listed LA", "--scope",
                    "system/Patient.rs system/Flag.cruds", "--key-out", tmp_path / "k.json")
    text = cradle("clients", "list", "--data-dir", served.data_dir)
    assert text.returncode == 0, text.stderr
    rows = [line.split("\t") for line in text.stdout.splitlines()]
    assert all(len(row) == 5 for row in rows), text.stdout
    assert [client_id, "Organization/la-list", "active",
            "system/Flag.cruds system/Patient.rs", "Listed LA"] in rows
    assert ["admin", "(operator)", "active"] in [row[:3] for row in rows]
    as_json = listed(served)
    assert as_json[client_id] == {
        "client_id": client_id, "agency": "Organization/la-list", "status": "active",
        "operator": False, "scopes": "system/Flag.cruds system/Patient.rs",
        "name": "Listed LA", "auth": "private_key_jwt"}
    assert as_json["admin"]["operator"] is True
    assert set(as_json) == {row[0] for row in rows}


# --- clients revoke -----------------------------------------------------------------------------


def test_revoke_stops_new_and_current_tokens(served: Served, tmp_path: Path) -> None:
    key_file = tmp_path / "revoked.json"
    client_id = add(served, "--agency", "la-revoked", "--key-out", key_file)
    credentials = orjson.loads(key_file.read_bytes())
    before = request_token(served.token_url, client_id, credentials["private_jwk"],
                           "system/*.rs")
    assert before.status_code == 200, before.text
    token = before.json()["access_token"]
    assert httpx.get(f"{served.fhir}/Flag", headers=bearer(token)).status_code == 200
    result = cradle("clients", "revoke", client_id, "--data-dir", served.data_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and "revoked" in result.stderr
    after = request_token(served.token_url, client_id, credentials["private_jwk"],
                          "system/*.rs")
    assert after.status_code == 401, after.text
    deadline = time.monotonic() + 3.5  # every worker follows revocations each second
    while (status := httpx.get(f"{served.fhir}/Flag", headers=bearer(token)).status_code) \
            == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status == 401
    assert listed(served)[client_id]["status"] == "revoked"
    twice = one_error_line(cradle("clients", "revoke", client_id, "--data-dir",
                                  served.data_dir))
    assert f"no active client '{client_id}'" in twice


# --- bad arguments --------------------------------------------------------------------------------


BAD_ADDS = [
    pytest.param([], "--agency", id="neither agency nor operator"),
    pytest.param(["--agency", "la", "--operator"], "--agency", id="agency and operator"),
    pytest.param(["--agency", "la"], "exactly one", id="no credentials"),
    pytest.param(["--agency", "la", "--secret", "--key-out", "{tmp}/k.json"], "exactly one",
                 id="two credentials"),
    pytest.param(["--agency", "la", "--secret", "--scope", "patient/*.read openid"],
                 "no scope", id="no grantable scope"),
    pytest.param(["--agency", "la", "--key-out", "{tmp}/k.json", "--algorithm", "HS256"],
                 "RS384 or ES384", id="bad algorithm"),
    pytest.param(["--agency", "la", "--public-key", "{tmp}/missing.json"], "cannot read",
                 id="missing public key"),
    pytest.param(["--agency", "la", "--public-key", "{tmp}/private.json"], "private key",
                 id="private key as public key"),
    pytest.param(["--agency", "la", "--public-key", "{tmp}/junk.json"], "JWK",
                 id="not a JWK"),
    pytest.param(["--agency", "la", "--secret", "--client-id", "admin"], "already exists",
                 id="taken client id"),
]


@pytest.mark.parametrize(("args", "says"), BAD_ADDS)
def test_bad_add_is_one_line(served: Served, tmp_path: Path, args: list[str],
                             says: str) -> None:
    (tmp_path / "private.json").write_bytes(orjson.dumps(generate_private_jwk()))
    (tmp_path / "junk.json").write_text('{"hello": "world"}')
    result = cradle("clients", "add", "--data-dir", served.data_dir,
                    *(a.format(tmp=tmp_path) for a in args))
    assert says in one_error_line(result)
    assert not (tmp_path / "k.json").exists()


@pytest.mark.parametrize(("args", "says"), [
    (["--ttl", "3601"], "--ttl"),
    (["--scope", "user/*.read"], "no scope"),
])
def test_bad_token_is_one_line(served: Served, args: list[str], says: str) -> None:
    assert says in one_error_line(cradle("token", "--data-dir", served.data_dir, *args))


# --- cradle token -----------------------------------------------------------------------------


def test_token_acts_as_an_agency_and_as_operator(served: Served) -> None:
    owner = mint(served, "--agency", "la-token-a")
    created = httpx.post(f"{served.fhir}/Patient", json=child(), headers=bearer(owner))
    assert created.status_code == 201, created.text
    reference = f"{served.fhir}/Patient/{created.json()['id']}"
    mine = httpx.get(reference, headers=bearer(owner))
    assert mine.status_code == 200 and mine.json() == created.json()
    stranger = httpx.get(reference, headers=bearer(mint(served, "--agency",
                                                        "Organization/la-token-b")))
    assert stranger.status_code == 403, stranger.text
    operator = mint(served)
    assert httpx.get(reference, headers=bearer(operator)).status_code == 200
    audit = httpx.get(f"{served.fhir}/AuditEvent", headers=bearer(operator),
                      params={"entity": f"Patient/{created.json()['id']}"})
    assert audit.status_code == 200 and audit.json()["total"] >= 3, audit.text


def test_token_scope_and_ttl(served: Served) -> None:
    read_only = mint(served, "--agency", "la-token-c", "--scope", "system/Patient.rs",
                     "--ttl", "60")
    assert httpx.get(f"{served.fhir}/Patient", headers=bearer(read_only)).status_code == 200
    denied = httpx.post(f"{served.fhir}/Patient", json=child(), headers=bearer(read_only))
    assert denied.status_code == 403, denied.text
    claims = orjson.loads(_segment(read_only, 1))
    assert claims["exp"] - claims["iat"] == 60
    assert claims["agency"] == "Organization/la-token-c"
    short = mint(served, "--ttl", "1")
    expires = orjson.loads(_segment(short, 1))["exp"]
    time.sleep(max(0.0, expires - time.time()) + 0.2)
    assert httpx.get(f"{served.fhir}/Patient", headers=bearer(short)).status_code == 401


def _segment(token: str, index: int) -> bytes:
    part = token.split(".")[index]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_clients_commands_start_the_database_when_no_server_runs(tmp_path: Path) -> None:
    data_dir = tmp_path / "cold"
    first = cradle("clients", "add", "--data-dir", data_dir, "--agency", "la-cold",
                   "--secret", "--client-id", "cold-client")
    assert first.returncode == 0 and first.stdout == "cold-client\n", first.stderr
    listing = cradle("clients", "list", "--data-dir", data_dir)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.startswith("cold-client\tOrganization/la-cold\tactive\t")
    assert not (data_dir / "db" / "running-uri").exists()  # the database was stopped again
