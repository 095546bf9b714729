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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest

from server.api.app import create_app
from server.api.hardening import SecurityHeaders
from server.config import Settings
from server.interactions.admin import signing_key
from server.security.scopes import Scopes
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
from tests.auth import request_token
from tests.builders import patient
from tests.servers import running

Json = dict[str, Any]
FULL = "system/*.cruds"
OPEN_ORIGIN = "https://x.example"
PUBLIC_URL = "https://cradle.example"
UNSIGNED = b'{"alg":"none","typ":"JWT"}'


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

    def add(self, scopes: str = FULL, algorithm: str = "RS384",
            secret: str | None = None) -> Agent:
        """Register an agency system with a fresh key pair (and a secret if given)."""
        private = generate_private_jwk(algorithm)
        client_id = f"test-{uuid.uuid4().hex[:12]}"
        agency = f"Organization/agency-{uuid.uuid4().hex[:8]}"
        self.register(RegisteredClient(
            client_id=client_id, name=client_id, agency=agency, scopes=scopes,
            jwks=[public_jwk(private)], secret_hash=hash_secret(secret) if secret else None))
        return Agent(client_id, private, agency)

    def register(self, client: RegisteredClient) -> None:
        self._run(lambda clients: clients.add(client))

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


@dataclass(frozen=True)
class ExtraServer:
    """A second Cradle app on the session database (its own database name and data dir)."""

    url: str
    settings: Settings
    registry: Registry


@contextmanager
def extra_server(database: EmbeddedDatabase, data_dir: Path, **overrides: Any
                 ) -> Iterator[ExtraServer]:
    settings = Settings(mongo_uri=database.uri, data_dir=data_dir, port=free_port(),
                        database=f"cradle-auth-{uuid.uuid4().hex[:8]}", log_level="warning",
                        enforce_profiles=False, **overrides)
    with running(create_app(settings), settings.port) as url:
        yield ExtraServer(url, settings, Registry(database.uri, settings.database))


@pytest.fixture(scope="module")
def dev_server(database: EmbeddedDatabase, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[ExtraServer]:
    """Shared secrets allowed, CORS for one origin, a public URL and a tiny rate limit."""
    with extra_server(database, tmp_path_factory.mktemp("dev"), allow_client_secrets=True,
                      cors_origins=(OPEN_ORIGIN,), rate_limit="5/minute",
                      public_url=PUBLIC_URL) as server:
        yield server


@pytest.fixture(scope="module")
def short_server(database: EmbeddedDatabase, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[ExtraServer]:
    """Access tokens live one second; three token requests a minute."""
    with extra_server(database, tmp_path_factory.mktemp("short"), token_ttl=1,
                      token_rate_limit="3/minute") as server:
        yield server


# --- the token endpoint: private_key_jwt --------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS384", "ES384"])
def test_signed_assertion_gets_a_token_that_works(registry: Registry, server_url: str,
                                                  algorithm: str) -> None:
    agent = registry.add(algorithm=algorithm)
    response = request_token(token_url(server_url), agent.client_id, agent.private_jwk, FULL)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"].lower() == "bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == FULL
    assert body["access_token"].count(".") == 2
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "RS384"
    search = httpx.get(f"{server_url}/fhir/Patient", headers=bearer(body["access_token"]))
    assert search.status_code == 200, search.text
    assert search.json()["resourceType"] == "Bundle"


def test_a_second_registered_key_also_works(registry: Registry, server_url: str) -> None:
    agent = registry.add()
    other = generate_private_jwk("ES384")
    client = RegisteredClient(client_id=f"test-{uuid.uuid4().hex[:12]}", name="two keys",
                              agency=agent.agency, scopes=FULL,
                              jwks=[public_jwk(agent.private_jwk), public_jwk(other)])
    registry.register(client)
    for key in (agent.private_jwk, other):
        response = request_token(token_url(server_url), client.client_id, key, FULL)
        assert response.status_code == 200, response.text


def _now() -> int:
    return int(time.time())


BAD_ASSERTIONS: dict[str, Any] = {  # case → (agent, token URL) → assertion
    "wrong key (unknown kid)": lambda agent, aud: signed_assertion(
        agent, aud, key=generate_private_jwk()),
    "wrong key (registered kid)": lambda agent, aud: signed_assertion(
        agent, aud, key={**generate_private_jwk(), "kid": agent.private_jwk["kid"]}),
    "expired": lambda agent, aud: signed_assertion(agent, aud, iat=_now() - 600,
                                                   exp=_now() - 120),
    "lives longer than 5 minutes": lambda agent, aud: signed_assertion(agent, aud,
                                                                       exp=_now() + 600),
    "wrong aud": lambda agent, aud: signed_assertion(agent,
                                                     "https://elsewhere.example/auth/token"),
    "aud is the FHIR base": lambda agent, aud: signed_assertion(
        agent, aud.replace("/auth/token", "/fhir")),
    "iss != sub": lambda agent, aud: signed_assertion(agent, aud, sub="someone-else"),
    "sub missing": lambda agent, aud: signed_assertion(agent, aud, sub=None),
    "exp missing": lambda agent, aud: signed_assertion(agent, aud, exp=None),
    "jti missing": lambda agent, aud: signed_assertion(agent, aud, jti=None),
    "RS256 not RS384": lambda agent, aud: signed_assertion(agent, aud, algorithm="RS256"),
    "HS384 (a shared-key algorithm)": lambda agent, aud: jwt.encode(
        {"iss": agent.client_id, "sub": agent.client_id, "aud": aud, "jti": uuid.uuid4().hex,
         "exp": _now() + 60}, "not-a-key-" * 5, algorithm="HS384"),
    "not a JWT": lambda agent, aud: "not.a.jwt",
}


@pytest.mark.parametrize("case", list(BAD_ASSERTIONS))
def test_unacceptable_assertion_is_invalid_client(agency: Agent, server_url: str,
                                                  case: str) -> None:
    assertion = BAD_ASSERTIONS[case](agency, token_url(server_url))
    response = post_token(token_url(server_url), assertion_form(assertion))
    assert response.status_code == 401, response.text
    assert oauth_error(response) == "invalid_client"
    assert "access_token" not in response.text


def test_assertion_within_five_minutes_and_clock_skew_is_accepted(agency: Agent,
                                                                  server_url: str) -> None:
    moment = int(time.time())
    assertion = signed_assertion(agency, token_url(server_url), iat=moment + 10,
                                 exp=moment + 300)
    response = post_token(token_url(server_url), assertion_form(assertion))
    assert response.status_code == 200, response.text


def test_replayed_assertion_is_refused(agency: Agent, server_url: str) -> None:
    assertion = client_assertion(agency.client_id, agency.private_jwk, token_url(server_url))
    first = post_token(token_url(server_url), assertion_form(assertion))
    assert first.status_code == 200, first.text
    again = post_token(token_url(server_url), assertion_form(assertion))
    assert again.status_code == 401, again.text
    assert oauth_error(again) == "invalid_client"


def test_assertion_replayed_within_the_clock_skew_leeway_is_refused(agency: Agent,
                                                                    server_url: str) -> None:
    # Just past its exp, an assertion is still accepted (clock-skew leeway), so its jti must
    # still be remembered: a replay in that window must fail like any other replay.
    moment = int(time.time())
    assertion = signed_assertion(agency, token_url(server_url), iat=moment - 60,
                                 exp=moment - 5)
    first = post_token(token_url(server_url), assertion_form(assertion))
    assert first.status_code == 200, first.text
    again = post_token(token_url(server_url), assertion_form(assertion))
    assert again.status_code == 401, again.text
    assert oauth_error(again) == "invalid_client"


def test_client_id_must_match_the_assertion(agency: Agent, server_url: str) -> None:
    # RFC 7521 §4.2: a client_id sent with an assertion must name the same client.
    form = assertion_form(client_assertion(agency.client_id, agency.private_jwk,
                                           token_url(server_url)))
    response = post_token(token_url(server_url), {**form, "client_id": "admin"})
    assert response.status_code in (400, 401), response.text
    assert oauth_error(response) in ("invalid_client", "invalid_request")


def test_unknown_client_is_invalid_client(server_url: str) -> None:
    ghost = Agent(f"ghost-{uuid.uuid4().hex[:8]}", generate_private_jwk(), None)
    response = request_token(token_url(server_url), ghost.client_id, ghost.private_jwk, FULL)
    assert response.status_code == 401, response.text
    assert oauth_error(response) == "invalid_client"


def test_revoked_client_gets_no_token_and_its_tokens_stop_working(registry: Registry,
                                                                  server_url: str) -> None:
    agent = registry.add()
    token = token_for(server_url, agent)
    assert httpx.get(f"{server_url}/fhir/Patient", headers=bearer(token)).status_code == 200
    assert registry.revoke(agent.client_id)
    refused = request_token(token_url(server_url), agent.client_id, agent.private_jwk, FULL)
    assert refused.status_code == 401, refused.text
    assert oauth_error(refused) == "invalid_client"
    deadline = time.monotonic() + 3.5  # revocations are followed every second
    while True:
        response = httpx.get(f"{server_url}/fhir/Patient", headers=bearer(token))
        if response.status_code != 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert_unauthorized(response)
    assert not registry.revoke(agent.client_id)  # already revoked


# --- the token endpoint: malformed requests and scopes --------------------------------------------


@pytest.mark.parametrize(("grant_type", "error"), [
    (None, "invalid_request"),  # RFC 6749 §5.2: a required parameter is missing
    ("authorization_code", "unsupported_grant_type"),
    ("password", "unsupported_grant_type"),
])
def test_grant_type_must_be_client_credentials(agency: Agent, server_url: str,
                                               grant_type: str | None, error: str) -> None:
    form = assertion_form(client_assertion(agency.client_id, agency.private_jwk,
                                           token_url(server_url)))
    if grant_type is None:
        del form["grant_type"]
    else:
        form["grant_type"] = grant_type
    response = post_token(token_url(server_url), form)
    assert response.status_code == 400, response.text
    assert oauth_error(response) == error


def test_assertion_without_its_type_is_invalid_request(agency: Agent, server_url: str) -> None:
    form = assertion_form(client_assertion(agency.client_id, agency.private_jwk,
                                           token_url(server_url)))
    del form["client_assertion_type"]
    response = post_token(token_url(server_url), form)
    assert response.status_code == 400, response.text
    assert oauth_error(response) == "invalid_request"


def test_no_client_authentication_is_invalid_client(server_url: str) -> None:
    # RFC 6749 §5.2: invalid_client covers "no client authentication included".
    response = post_token(token_url(server_url),
                          {"grant_type": "client_credentials", "scope": FULL})
    assert response.status_code == 401, response.text
    assert oauth_error(response) == "invalid_client"


def test_token_request_must_be_form_encoded(agency: Agent, server_url: str) -> None:
    form = assertion_form(client_assertion(agency.client_id, agency.private_jwk,
                                           token_url(server_url)))
    response = httpx.post(token_url(server_url), json=form)
    assert response.status_code in (400, 415), response.text
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("scope", ["", "patient/*.read", "system/Observation.rs?category=x",
                                   "openid profile"])
def test_no_grantable_scope_is_invalid_scope(agency: Agent, server_url: str,
                                             scope: str) -> None:
    response = request_token(token_url(server_url), agency.client_id, agency.private_jwk, scope)
    assert response.status_code == 400, response.text
    assert oauth_error(response) == "invalid_scope"


def test_scope_outside_the_registration_is_invalid_scope(registry: Registry,
                                                         server_url: str) -> None:
    agent = registry.add("system/Flag.rs")
    for scope in ("system/Patient.rs", "system/Flag.cud", "cradle/break-glass"):
        response = request_token(token_url(server_url), agent.client_id, agent.private_jwk,
                                 scope)
        assert response.status_code == 400, (scope, response.text)
        assert oauth_error(response) == "invalid_scope"


def test_scopes_are_narrowed_to_the_registration(registry: Registry, server_url: str,
                                                 client: httpx.Client, tag: str) -> None:
    child = client.post("/Patient", json=patient(tag)).json()
    agent = registry.add("system/Flag.rs")
    response = request_token(token_url(server_url), agent.client_id, agent.private_jwk,
                             "system/*.cruds cradle/break-glass")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "system/Flag.rs"
    token = response.json()["access_token"]
    fhir = f"{server_url}/fhir"
    assert httpx.get(f"{fhir}/Flag", headers=bearer(token)).status_code == 200
    for denied in (httpx.get(f"{fhir}/Patient/{child['id']}", headers=bearer(token)),
                   httpx.get(f"{fhir}/Patient", headers=bearer(token)),
                   httpx.post(f"{fhir}/Flag", headers=bearer(token), json={
                       "resourceType": "Flag", "status": "active", "code": {"text": tag},
                       "subject": {"reference": f"Patient/{child['id']}"}})):
        assert denied.status_code == 403, denied.text
        assert denied.json()["issue"][0]["code"] == "forbidden"


def test_requested_subset_is_granted_as_asked(registry: Registry, server_url: str) -> None:
    agent = registry.add("system/*.rs system/Flag.cruds")
    response = request_token(token_url(server_url), agent.client_id, agent.private_jwk,
                             "system/Patient.r system/Flag.cud system/*.s")
    assert response.status_code == 200, response.text
    granted = Scopes.parse(response.json()["scope"])
    expected = Scopes.parse("system/Patient.r system/Flag.cud system/*.s")
    for resource_type in ("Patient", "Flag", "Observation"):
        for action in "cruds":
            assert granted.permits(resource_type, action) == expected.permits(
                resource_type, action), (resource_type, action, str(granted))


# --- shared secrets ------------------------------------------------------------------------------


def test_shared_secrets_are_refused_by_default(registry: Registry, server_url: str) -> None:
    agent = registry.add(secret="s3cret-value")
    post = post_token(token_url(server_url), {
        "grant_type": "client_credentials", "scope": FULL, "client_id": agent.client_id,
        "client_secret": "s3cret-value"})
    assert post.status_code == 401, post.text
    assert oauth_error(post) == "invalid_client"
    basic = post_token(token_url(server_url), {"grant_type": "client_credentials",
                                               "scope": FULL},
                       auth=(agent.client_id, "s3cret-value"))
    assert basic.status_code == 401, basic.text
    assert oauth_error(basic) == "invalid_client"


def test_shared_secrets_work_when_allowed(dev_server: ExtraServer) -> None:
    agent = dev_server.registry.add(secret="s3cret/val:ue")
    url = token_url(dev_server.url)
    post = post_token(url, {"grant_type": "client_credentials", "scope": FULL,
                            "client_id": agent.client_id, "client_secret": "s3cret/val:ue"})
    assert post.status_code == 200, post.text
    basic = post_token(url, {"grant_type": "client_credentials", "scope": FULL},
                       auth=(agent.client_id, "s3cret/val:ue"))
    assert basic.status_code == 200, basic.text
    for response in (post, basic):
        token = response.json()["access_token"]
        assert httpx.get(f"{dev_server.url}/fhir/Flag", headers=bearer(token)).status_code == 200
    wrong = post_token(url, {"grant_type": "client_credentials", "scope": FULL,
                             "client_id": agent.client_id, "client_secret": "guess"})
    assert wrong.status_code == 401 and oauth_error(wrong) == "invalid_client"
    keyed = dev_server.registry.add()  # registered with a key only: it has no secret
    no_secret = post_token(url, {"grant_type": "client_credentials", "scope": FULL,
                                 "client_id": keyed.client_id, "client_secret": ""})
    assert no_secret.status_code == 401 and oauth_error(no_secret) == "invalid_client"


# --- access tokens ------------------------------------------------------------------------------


def test_expired_access_token_is_refused(short_server: ExtraServer) -> None:
    agent = short_server.registry.add()
    response = request_token(token_url(short_server.url), agent.client_id, agent.private_jwk,
                             FULL)
    assert response.status_code == 200, response.text
    assert response.json()["expires_in"] == 1
    token = response.json()["access_token"]
    httpx.get(f"{short_server.url}/fhir/Flag", headers=bearer(token))  # cached if still valid
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires - time.time()) + 0.3)
    expired = httpx.get(f"{short_server.url}/fhir/Flag", headers=bearer(token))
    assert_unauthorized(expired)
    assert "expired" in expired.json()["issue"][0]["diagnostics"]


def test_token_requests_are_rate_limited(short_server: ExtraServer) -> None:
    # Runs after the test above in the same server (three token requests a minute).
    ghost = Agent("ghost", generate_private_jwk(), None)
    statuses: list[httpx.Response] = []
    for _ in range(4):
        statuses.append(request_token(token_url(short_server.url), ghost.client_id,
                                      ghost.private_jwk, FULL))
        if statuses[-1].status_code == 429:
            break
    limited = statuses[-1]
    assert limited.status_code == 429, [r.status_code for r in statuses]
    assert all(r.status_code == 401 for r in statuses[:-1])
    assert 1 <= int(limited.headers["retry-after"]) <= 61
    assert limited.json()["issue"][0]["code"] == "throttled"


def test_tampered_access_token_is_refused(agency: Agent, server_url: str) -> None:
    token = token_for(server_url, agency, "system/Flag.rs")
    header, payload, signature = token.split(".")
    claims = orjson.loads(unpadded_b64decode(payload))
    promoted = b64(orjson.dumps({**claims, "scope": FULL, "operator": True}))
    for forged in (f"{header}.{promoted}.{signature}",
                   f"{header}.{payload}.{flip(signature, len(signature) // 2)}",
                   flip(token, len(header) + 1 + len(payload) // 2),
                   f"{header}.{payload}.", f"{b64(UNSIGNED)}.{promoted}."):
        assert_unauthorized(httpx.get(f"{server_url}/fhir/Patient", headers=bearer(forged)))
    assert httpx.get(f"{server_url}/fhir/Flag", headers=bearer(token)).status_code == 200


def test_token_signed_by_another_key_is_refused(server_url: str, settings: Settings) -> None:
    real = signing_key(settings)
    impostor = TokenService({**generate_private_jwk(), "kid": real["kid"]})
    forged, _ = impostor.issue("admin", None, Scopes.everything(), operator=True)
    assert_unauthorized(httpx.get(f"{server_url}/fhir/Patient", headers=bearer(forged)))
    genuine, _ = TokenService(real).issue("admin", None, Scopes.everything(), operator=True)
    assert httpx.get(f"{server_url}/fhir/Patient", headers=bearer(genuine)).status_code == 200


# --- every FHIR interaction needs a token --------------------------------------------------------

JSON = {"Content-Type": "application/fhir+json"}
UNAUTHENTICATED = [
    pytest.param("GET", "/fhir/Patient/p1", None, {}, id="read"),
    pytest.param("GET", "/fhir/Patient/p1/_history/1", None, {}, id="vread"),
    pytest.param("GET", "/fhir/Patient?name=smith", None, {}, id="search"),
    pytest.param("POST", "/fhir/Patient/_search", b"name=smith",
                 {"Content-Type": "application/x-www-form-urlencoded"}, id="search-post"),
    pytest.param("POST", "/fhir/Patient", orjson.dumps(patient("x")), JSON, id="create"),
    pytest.param("PUT", "/fhir/Patient/p1", orjson.dumps({**patient("x"), "id": "p1"}), JSON,
                 id="update"),
    pytest.param("PUT", "/fhir/Patient?identifier=x", orjson.dumps(patient("x")), JSON,
                 id="conditional-update"),
    pytest.param("PATCH", "/fhir/Patient/p1",
                 b'[{"op": "replace", "path": "/gender", "value": "male"}]',
                 {"Content-Type": "application/json-patch+json"}, id="patch"),
    pytest.param("DELETE", "/fhir/Patient/p1", None, {}, id="delete"),
    pytest.param("DELETE", "/fhir/Patient?identifier=x", None, {}, id="conditional-delete"),
    pytest.param("GET", "/fhir/Patient/p1/_history", None, {}, id="history-instance"),
    pytest.param("GET", "/fhir/Patient/_history", None, {}, id="history-type"),
    pytest.param("GET", "/fhir/_history", None, {}, id="history-system"),
    pytest.param("POST", "/fhir", orjson.dumps({"resourceType": "Bundle", "type": "transaction",
                                                "entry": []}), JSON, id="transaction"),
    pytest.param("POST", "/fhir/", orjson.dumps({"resourceType": "Bundle", "type": "batch",
                                                 "entry": []}), JSON, id="batch"),
    pytest.param("POST", "/fhir/Patient/$validate", orjson.dumps(patient("x")), JSON,
                 id="type-operation"),
    pytest.param("GET", "/fhir/Patient/p1/$validate", None, {}, id="instance-operation"),
    pytest.param("GET", "/fhir/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/"
                 "administrative-gender", None, {}, id="expand"),
    pytest.param("GET", "/fhir/CodeSystem/$lookup?system=http://hl7.org/fhir/"
                 "administrative-gender&code=male", None, {}, id="lookup"),
    pytest.param("POST", "/fhir/StructureDefinition/$snapshot", b"{}", JSON, id="snapshot"),
    pytest.param("GET", "/fhir/AuditEvent", None, {}, id="audit-trail"),
    # Nothing, not even which types or operations exist, is told before authentication.
    pytest.param("GET", "/fhir/NoSuchType/p1", None, {}, id="unknown-type"),
    pytest.param("GET", "/fhir/$expand", None, {}, id="unknown-system-operation"),
    pytest.param("GET", "/fhir/Patient/$nothing", None, {}, id="unknown-type-operation"),
]


@pytest.mark.parametrize(("method", "path", "body", "headers"), UNAUTHENTICATED)
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
def test_every_fhir_interaction_needs_a_token(server_url: str, method: str, path: str,
                                              body: bytes | None, headers: dict[str, str],
                                              authorization: str | None) -> None:
    if authorization:
        headers = {**headers, "Authorization": authorization}
    response = httpx.request(method, f"{server_url}{path}", content=body, headers=headers)
    assert_unauthorized(response)
    assert "access token" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("authorization", [
    "Bearer", "bearer x.y.z", "Basic YWRtaW46YWRtaW4=", "Token abc", "Bearer a b"])
def test_malformed_authorization_is_401(server_url: str, authorization: str) -> None:
    response = httpx.get(f"{server_url}/fhir/Patient", headers={"Authorization": authorization})
    assert_unauthorized(response)


@pytest.mark.parametrize("path", ["/fhir/metadata", "/healthz", "/readyz",
                                  "/fhir/.well-known/smart-configuration"])
def test_discovery_and_health_are_open(server_url: str, path: str) -> None:
    response = httpx.get(f"{server_url}{path}")
    assert response.status_code == 200, response.text


def test_smart_configuration(server_url: str) -> None:
    response = httpx.get(f"{server_url}/fhir/.well-known/smart-configuration")
    assert response.headers["content-type"].startswith("application/json")
    config = response.json()
    assert config["token_endpoint"] == f"{server_url}/auth/token"
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert set(config["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384",
                                                                                "ES384"}
    assert config["grant_types_supported"] == ["client_credentials"]
    assert {"system/*.cruds", "system/*.rs", "cradle/break-glass"} <= set(
        config["scopes_supported"])
    assert "client-confidential-asymmetric" in config["capabilities"]
    assert "permission-v2" in config["capabilities"]
    statement = httpx.get(f"{server_url}/fhir/metadata").json()
    [security] = [rest["security"] for rest in statement["rest"]]
    [uris] = [e for e in security["extension"] if e["url"].endswith("/oauth-uris")]
    assert {"url": "token", "valueUri": config["token_endpoint"]} in uris["extension"]
    assert security["cors"] is False


def test_public_url_names_the_token_endpoint(dev_server: ExtraServer) -> None:
    config = httpx.get(f"{dev_server.url}/fhir/.well-known/smart-configuration").json()
    assert config["token_endpoint"] == f"{PUBLIC_URL}/auth/token"
    assert set(config["token_endpoint_auth_methods_supported"]) == {
        "private_key_jwt", "client_secret_basic", "client_secret_post"}
    statement = httpx.get(f"{dev_server.url}/fhir/metadata").json()
    [security] = [rest["security"] for rest in statement["rest"]]
    [uris] = [e for e in security["extension"] if e["url"].endswith("/oauth-uris")]
    assert {"url": "token", "valueUri": config["token_endpoint"]} in uris["extension"]
    assert security["cors"] is True
    # A client behind the proxy signs for the public token URL; one on the inside for the URL
    # it reached the server at. Both are accepted; any other audience is not.
    agent = dev_server.registry.add()
    for audience in (f"{PUBLIC_URL}/auth/token", token_url(dev_server.url)):
        response = post_token(token_url(dev_server.url),
                              assertion_form(signed_assertion(agent, audience)))
        assert response.status_code == 200, (audience, response.text)
    other = post_token(token_url(dev_server.url), assertion_form(
        signed_assertion(agent, "https://cradle.example.evil/auth/token")))
    assert other.status_code == 401 and oauth_error(other) == "invalid_client"
    # Locations and fullUrls name the public URL too.
    created = httpx.post(f"{dev_server.url}/fhir/Organization",
                         json={"resourceType": "Organization", "name": "Proxy test"},
                         headers={"Authorization": f"Bearer {response.json()['access_token']}",
                                  "Content-Type": "application/fhir+json"})
    assert created.status_code == 201, created.text
    assert created.headers["location"].startswith(f"{PUBLIC_URL}/fhir/Organization/")


# --- hardening: security headers, CORS, rate limits ---------------------------------------------


@pytest.mark.parametrize("path", ["/fhir/metadata", "/fhir/Patient", "/healthz",
                                  "/fhir/.well-known/smart-configuration", "/nowhere"])
def test_security_headers_on_every_response(server_url: str, path: str) -> None:
    response = httpx.get(f"{server_url}{path}")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers  # plain HTTP here


def test_strict_transport_security_over_tls() -> None:
    async def hello(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"hi"})

    async def get(url: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=SecurityHeaders(hello))
        async with httpx.AsyncClient(transport=transport) as http:
            return await http.get(url)

    secure = asyncio.run(get("https://cradle.example/fhir/metadata"))
    assert secure.headers["strict-transport-security"].startswith("max-age=")
    assert secure.headers["x-frame-options"] == "DENY"
    plain = asyncio.run(get("http://cradle.example/fhir/metadata"))
    assert "strict-transport-security" not in plain.headers


def test_token_responses_are_not_cached(agency: Agent, server_url: str) -> None:
    response = request_token(token_url(server_url), agency.client_id, agency.private_jwk, FULL)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_docs_page_has_no_content_security_policy(server_url: str) -> None:
    response = httpx.get(f"{server_url}/docs")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers
    assert response.headers["x-frame-options"] == "DENY"


def test_no_cors_by_default(server_url: str) -> None:
    origin = {"Origin": OPEN_ORIGIN}
    response = httpx.get(f"{server_url}/fhir/metadata", headers=origin)
    assert response.status_code == 200
    assert not [h for h in response.headers if h.startswith("access-control-")]
    preflight = httpx.options(f"{server_url}/fhir/Patient", headers={
        **origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code >= 400
    assert not [h for h in preflight.headers if h.startswith("access-control-")]


def test_cors_for_a_configured_origin(dev_server: ExtraServer) -> None:
    simple = httpx.get(f"{dev_server.url}/fhir/metadata", headers={"Origin": OPEN_ORIGIN})
    assert simple.headers["access-control-allow-origin"] == OPEN_ORIGIN
    assert simple.headers["x-content-type-options"] == "nosniff"
    unauthorized = httpx.get(f"{dev_server.url}/fhir/Patient", headers={"Origin": OPEN_ORIGIN})
    assert unauthorized.status_code == 401
    assert unauthorized.headers["access-control-allow-origin"] == OPEN_ORIGIN
    preflight = httpx.options(f"{dev_server.url}/fhir/Patient", headers={
        "Origin": OPEN_ORIGIN, "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization, content-type, if-match"})
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == OPEN_ORIGIN
    assert "PUT" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    other = httpx.get(f"{dev_server.url}/fhir/metadata",
                      headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    refused = httpx.options(f"{dev_server.url}/fhir/Patient", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert refused.status_code >= 400
    assert "access-control-allow-origin" not in refused.headers


def test_clients_are_rate_limited(dev_server: ExtraServer) -> None:
    busy, calm = dev_server.registry.add(), dev_server.registry.add()
    busy_token, calm_token = token_for(dev_server.url, busy), token_for(dev_server.url, calm)
    search = f"{dev_server.url}/fhir/Flag"
    for _ in range(5):
        assert httpx.get(search, headers=bearer(busy_token)).status_code == 200
    limited = httpx.get(search, headers=bearer(busy_token))
    assert limited.status_code == 429, limited.text
    assert 1 <= int(limited.headers["retry-after"]) <= 61
    outcome = limited.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "throttled"
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == "rate-limited"
    assert limited.headers["x-content-type-options"] == "nosniff"
    # The limit is per client: another agency system is not slowed down.
    assert httpx.get(search, headers=bearer(calm_token)).status_code == 200
