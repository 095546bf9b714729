"""The OAuth 2.0 client-credentials grant, SMART Backend Services style (no HTTP here).

A client proves who it is with a JWT signed by a key registered for it (`private_key_jwt`),
or, only where explicitly enabled for local development, with a shared secret. It is granted
the scopes it asks for within the scopes it was registered with.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from server.errors import Invalid, Issue, Unauthorized
from server.interactions.services import Services
from server.security import tokens
from server.security.scopes import Scopes
from server.security.secrets import secret_matches
from server.store import RegisteredClient

Json = dict[str, Any]


def oauth_error(kind: type[Invalid] | type[Unauthorized], error: str, text: str) -> Exception:
    """Return an error whose OperationOutcome carries the OAuth error code as its message id."""
    return kind(issues=[Issue("error", kind.code, text, None, error)])


async def client_credentials(services: Services, form: dict[str, str],
                             token_urls: list[str]) -> tuple[Json, RegisteredClient]:
    """Grant an access token; return the token response and the client it was issued to.

    Raises `Invalid` (400) for a malformed request or scope and `Unauthorized` (401) when the
    client cannot be authenticated.
    """
    if not form.get("grant_type"):
        raise oauth_error(Invalid, "invalid_request", "grant_type is required")
    if form["grant_type"] != "client_credentials":
        raise oauth_error(Invalid, "unsupported_grant_type",
                          "grant_type must be client_credentials")
    client = await _authenticate(services, form, token_urls)
    requested = Scopes.parse(form.get("scope", ""))
    if not requested:
        raise oauth_error(Invalid, "invalid_scope",
                          "Ask for at least one scope Cradle grants, e.g. system/Patient.rs")
    granted = Scopes.parse(client.scopes).narrow(requested)
    if not granted:
        raise oauth_error(Invalid, "invalid_scope",
                          f"None of the requested scopes is allowed for this client "
                          f"(allowed: {client.scopes})")
    token, lifetime = services.tokens.issue(client.client_id, client.agency, granted,
                                            operator=client.operator)
    return ({"access_token": token, "token_type": "bearer", "expires_in": lifetime,
             "scope": str(granted)}, client)


async def _authenticate(services: Services, form: dict[str, str],
                        token_urls: list[str]) -> RegisteredClient:
    assertion = form.get("client_assertion")
    if assertion:
        if form.get("client_assertion_type") != tokens.CLIENT_ASSERTION_TYPE:
            raise oauth_error(Invalid, "invalid_request",
                              f"client_assertion_type must be {tokens.CLIENT_ASSERTION_TYPE}")
        try:
            claimed = tokens.unverified_client_id(assertion)
            if form.get("client_id") not in (None, claimed):
                raise Unauthorized("client_id does not match the client assertion's issuer")
            client = await _active_client(services, claimed)
            verified = tokens.verify_client_assertion(assertion, client.client_id,
                                                      client.jwks, token_urls)
        except Unauthorized as error:
            raise oauth_error(Unauthorized, "invalid_client", str(error)) from error
        # Remembered for as long as the assertion could still be accepted (its exp + skew).
        expires = datetime.fromtimestamp(verified.expires + tokens.LEEWAY, UTC)
        if not await services.clients.first_use(client.client_id, verified.jti, expires):
            raise oauth_error(Unauthorized, "invalid_client",
                              "This client assertion was already used (jti replay)")
        return client
    if form.get("client_secret") is not None:
        if not services.settings.allow_client_secrets:
            raise oauth_error(Unauthorized, "invalid_client",
                              "Shared client secrets are disabled; authenticate with a signed "
                              "JWT (private_key_jwt)")
        client = await _active_client(services, form.get("client_id", ""))
        if client.secret_hash is None or not secret_matches(form["client_secret"],
                                                            client.secret_hash):
            raise oauth_error(Unauthorized, "invalid_client", "The client secret is wrong")
        return client
    raise oauth_error(Unauthorized, "invalid_client",
                      "Authenticate with client_assertion (private_key_jwt)")


async def _active_client(services: Services, client_id: str) -> RegisteredClient:
    client = await services.clients.get(client_id) if client_id else None
    if client is None or not client.active:
        raise oauth_error(Unauthorized, "invalid_client",
                          "Unknown or revoked client")
    return client
