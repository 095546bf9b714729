"""`cradle clients add|list|revoke` (agency systems allowed to ask for tokens) and
`cradle token` (a short-lived token signed with the server's key, for operators and tests)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer

from server.cli.output import fail
from server.config import Settings
from server.errors import FhirError
from server.interactions.admin import signing_key
from server.security.scopes import Scopes
from server.security.secrets import hash_secret, new_secret
from server.security.tokens import TokenService, generate_private_jwk, public_jwk
from server.store import ClientStore, RegisteredClient, ResourceStore
from server.store.embedded import database_uri
from server.store.keyfiles import write_private

app = typer.Typer(help="Manage the agency systems (OAuth clients) allowed to ask for tokens.",
                  no_args_is_help=True)
T = TypeVar("T")
DataDir = Annotated[Path | None, typer.Option(
    help="Data directory [env CRADLE_DATA_DIR; default .cradle]")]
MongoUri = Annotated[str | None, typer.Option(
    help="MongoDB URI [env CRADLE_MONGO_URI]; default: the embedded database in DATA_DIR/db")]


def _settings(data_dir: Path | None, mongo_uri: str | None = None) -> Settings:
    return Settings.from_env(data_dir=data_dir, mongo_uri=mongo_uri)


def _with_clients(settings: Settings, work: Callable[[ClientStore], Awaitable[T]]) -> T:
    """Run `work` against the client registry of the configured database."""

    async def run(uri: str) -> T:
        store = ResourceStore.connect(uri, settings.database)
        try:
            return await work(ClientStore(store.db))
        finally:
            await store.close()

    try:
        with database_uri(settings.mongo_uri, settings.db_dir) as uri:
            return asyncio.run(run(uri))
    except FhirError as error:
        raise fail(str(error)) from None


def agency_reference(agency: str) -> str:
    """`la-201` or `Organization/la-201` → `Organization/la-201`."""
    return agency if agency.startswith("Organization/") else f"Organization/{agency}"


@app.command("add")
def add(
    agency: Annotated[str | None, typer.Option(
        help="The agency (Organization id or reference) the client acts for")] = None,
    name: Annotated[str, typer.Option(help="A name people recognise")] = "",
    scope: Annotated[str, typer.Option(help="The most it may be granted")] = "system/*.cruds",
    public_key: Annotated[Path | None, typer.Option(
        help="The client's public key: a JWK or JWK Set file (private_key_jwt)")] = None,
    key_out: Annotated[Path | None, typer.Option(
        help="Generate a key pair; write the client's credentials (private key) here, "
             "owner-only")] = None,
    algorithm: Annotated[str, typer.Option(help="RS384 or ES384, with --key-out")] = "RS384",
    secret: Annotated[bool, typer.Option(
        help="Give it a shared secret instead (local development; the server must run with "
             "CRADLE_ALLOW_CLIENT_SECRETS=true)")] = False,
    operator: Annotated[bool, typer.Option(
        help="An operator client: not bound by need-to-know, only by its scopes")] = False,
    client_id: Annotated[str | None, typer.Option(help="Choose the id (default: random)")]
    = None,
    data_dir: DataDir = None,
    mongo_uri: MongoUri = None,
) -> None:
    """Register a client; print its id (and a generated secret, once)."""
    if (agency is None) != operator:
        raise fail("give --agency for an agency system, or --operator (not both)")
    if [public_key is not None, key_out is not None, secret].count(True) != 1:
        raise fail("give exactly one of --public-key FILE, --key-out FILE or --secret")
    if not Scopes.parse(scope):
        raise fail(f"'{scope}' holds no scope Cradle grants (e.g. system/Patient.rs)")
    if algorithm not in ("RS384", "ES384"):
        raise fail("--algorithm must be RS384 or ES384")
    settings = _settings(data_dir, mongo_uri)
    client_id = client_id or uuid.uuid4().hex[:20]
    jwks: list[dict[str, Any]] = []
    private: dict[str, Any] | None = None
    if public_key is not None:
        jwks = _read_public_keys(public_key)
    elif key_out is not None:
        if key_out.exists():
            raise fail(f"{key_out} exists; choose another file")
        private = generate_private_jwk(algorithm)
        jwks = [public_jwk(private)]
    shown_secret = new_secret() if secret else None
    client = RegisteredClient(
        client_id=client_id, name=name or client_id,
        agency=agency_reference(agency) if agency else None, scopes=str(Scopes.parse(scope)),
        jwks=jwks, secret_hash=hash_secret(shown_secret) if shown_secret else None,
        operator=operator)
    _with_clients(settings, lambda clients: clients.add(client))
    if key_out is not None and private is not None:
        write_private(key_out, {"client_id": client_id, "token_endpoint": "/auth/token",
                                "token_endpoint_auth_method": "private_key_jwt",
                                "scope": client.scopes, "private_jwk": private})
        typer.echo(f"cradle: credentials written to {key_out} (owner-only)", err=True)
    typer.echo(client_id)
    if shown_secret:
        typer.echo(f"cradle: client secret (shown once): {shown_secret}", err=True)


def _read_public_keys(path: Path) -> list[dict[str, Any]]:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {path}: {exc}") from None
    keys = data.get("keys") if isinstance(data, dict) and "keys" in data else [data]
    if not isinstance(keys, list) or not all(isinstance(k, dict) and "kty" in k for k in keys):
        raise fail(f"{path} is not a JWK or a JWK Set")
    if any(k for k in keys if set(k) & {"d", "p", "q", "k"}):
        raise fail(f"{path} holds a private key; register only the public key")
    return keys


@app.command("list")
def list_clients(data_dir: DataDir = None, mongo_uri: MongoUri = None,
                 as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
                 ) -> None:
    """List registered clients: id, agency, status, scopes, name."""
    found = _with_clients(_settings(data_dir, mongo_uri), lambda clients: clients.all())
    for client in found:
        if as_json:
            typer.echo(orjson.dumps({
                "client_id": client.client_id, "agency": client.agency,
                "status": client.status, "operator": client.operator,
                "scopes": client.scopes, "name": client.name,
                "auth": "client_secret" if client.secret_hash else "private_key_jwt"}))
        else:
            who = client.agency or "(operator)"
            typer.echo(f"{client.client_id}\t{who}\t{client.status}\t{client.scopes}\t"
                       f"{client.name}")


@app.command("revoke")
def revoke(client_id: Annotated[str, typer.Argument(help="The client to revoke")],
           data_dir: DataDir = None, mongo_uri: MongoUri = None) -> None:
    """Revoke a client: no new tokens, and its current tokens stop working within seconds."""
    if not _with_clients(_settings(data_dir, mongo_uri),
                         lambda clients: clients.revoke(client_id)):
        raise fail(f"no active client '{client_id}'")
    typer.echo(f"cradle: client {client_id} revoked", err=True)


def token(
    data_dir: DataDir = None,
    agency: Annotated[str | None, typer.Option(
        help="Mint for this agency's system (Organization id or reference); without it, an "
             "operator token with full access, audited as such")] = None,
    scope: Annotated[str, typer.Option(help="Scopes to grant")] = "system/*.cruds",
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds (at most 3600)")] = 300,
) -> None:
    """Print a short-lived access token signed with the server's key (its only output line)."""
    scopes = Scopes.parse(scope)
    if not scopes:
        raise fail(f"'{scope}' holds no scope Cradle grants (e.g. system/*.cruds)")
    if not 0 < ttl <= 3600:
        raise fail("--ttl must be between 1 and 3600 seconds")
    settings = _settings(data_dir)
    try:
        service = TokenService(signing_key(settings), ttl)
    except (FhirError, OSError) as error:
        raise fail(str(error)) from None
    if agency:
        reference = agency_reference(agency)
        issued, _ = service.issue(f"cli:{reference}", reference, scopes)
    else:
        issued, _ = service.issue("cli:operator", None, scopes, operator=True,
                                  purpose="HOPERAT")
    typer.echo(issued)
