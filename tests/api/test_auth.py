"""Authentication over HTTP: the token endpoint (SMART Backend Services, OAuth 2.0 client
credentials), bearer tokens on every FHIR route, SMART discovery, hardening headers, CORS and
rate limits.

OAuth errors leave the server as OperationOutcomes whose issue `details.coding[0].code` is the
RFC 6749 §5.2 error code: 400 `invalid_request` / `unsupported_grant_type` / `invalid_scope`,
401 `invalid_client`.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest

from server.api.app import create_app
from server.config import Settings
from server.interactions.admin import signing_key
from server.security.secrets import hash_secret
from server.security.tokens import (
    CLIENT_ASSERTION_TYPE,
    TokenService,
    client_assertion,
    generate_private_jwk,
    public_jwk,
)
from server.store import ClientStore, RegisteredClient, ResourceStore
from server.store.embedded import EmbeddedDatabase, free_port
from tests.auth import SmartBackendAuth, request_token
from tests.builders import patient
from tests.servers import running

Json = dict[str, Any]
FULL = "system/*.cruds"
OPEN_ORIGIN = "https://x.example"
PUBLIC_URL = "https://cradle.example"


# --- helpers ----------------------------------------------------------------------------------


class Registry:
    """The client registry of one database (as `cradle clients` would use it)."""

    def __init__(self, uri: str, database: str) -> None:
        self.uri, self.database = uri, database

    def _run(self, work: Any) -> Any:
        async def run() -> Any:
            store = ResourceStore.connect(self.uri, self.database)
            try:
                return await work(ClientStore(store.db))
            finally:
                await store.close()

        return asyncio.run(run())

    def add(self, scopes: str = FULL, algorithm: str = "RS384", agency: str | None = None,
            secret: str | None = None, operator: bool = False) -> Agent:
        """Register a client with a fresh key pair (and a secret if given)."""
        private = generate_private_jwk(algorithm)
        client_id = f"test-{uuid.uuid4().hex[:12]}"
        agency = None if operator else (agency or f"Organization/agency-{uuid.uuid4().hex[:8]}")
        client = RegisteredClient(
            client_id=client_id, name=client_id, agency=agency, scopes=scopes,
            jwks=[public_jwk(private)], secret_hash=hash_secret(secret) if secret else None,
            operator=operator)
        self._run(lambda clients: clients.add(client))
        return Agent(client_id, private, agency)

    def revoke(self, client_id: str) -> bool:
        return bool(self._run(lambda clients: clients.revoke(client_id)))


@dataclass(frozen=True)
class Agent:
    """A registered client: its id, private key and agency."""

    client_id: str
    private_jwk: Json
    agency: str | None


def token_url(server_url: str) -> str:
    return f"{server_url}/auth/token"


def token_for(server_url: str, agent: Agent, scope: str = FULL) -> str:
    response = request_token(token_url(server_url), agent.client_id, agent.private_jwk, scope)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_token(url: str, form: dict[str, str], **kwargs: Any) -> httpx.Response:
    return httpx.post(url, data=form, timeout=30, **kwargs)


def assertion_form(assertion: str, scope: str = FULL) -> dict[str, str]:
    return {"grant_type": "client_credentials", "scope": scope,
            "client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": assertion}


def signed_assertion(agent: Agent, audience: str, key: Json | None = None,
                     algorithm: str | None = None, **claims: Any) -> str:
    """A client assertion with the given claims changed (a None value removes the claim)."""
    key = key or agent.private_jwk
    moment = int(time.time())
    body: Json = {"iss": agent.client_id, "sub": agent.client_id, "aud": audience,
                  "jti": uuid.uuid4().hex, "iat": moment, "exp": moment + 240}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    signer = jwt.PyJWK.from_dict(key)
    return jwt.encode(body, signer.key, algorithm=algorithm or signer.algorithm_name,
                      headers={"kid": key.get("kid"), "typ": "JWT"})


def oauth_error(response: httpx.Response) -> str:
    """The OAuth error code an OperationOutcome carries as its first issue's message id."""
    assert response.headers["content-type"].startswith("application/fhir+json"), response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome", outcome
    return str(outcome["issue"][0]["details"]["coding"][0]["code"])


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "login"


def flip(text: str, at: int) -> str:
    """`text` with the base64url character at `at` changed to another one."""
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1:]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unpadded_b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture(scope="module")
def registry(database: EmbeddedDatabase, settings: Settings) -> Registry:
    return Registry(database.uri, settings.database)


@pytest.fixture(scope="module")
def agency(registry: Registry, server_url: str) -> Agent:
    """An agency system allowed everything (registered once for the module)."""
    return registry.add(f"{FULL} cradle/break-glass")

