"""Who is calling: bearer-token authentication, the per-request audit context and rate limits.

Every FHIR route runs inside `acting(...)`: it authenticates the caller (401 without a valid
token), applies the client's rate limit (429), and stores the request's AuditEvent once the
route is done, successful or not, before the response is sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from server.errors import InvalidToken, NotFound, TooManyRequests, Unauthorized
from server.interactions.recording import audit
from server.interactions.services import Services
from server.security.principal import UNAUTHENTICATED, Principal
from server.security.records import AccessRecord
from server.security.scopes import Scopes

log = logging.getLogger("cradle.security")
BREAK_GLASS_HEADER = "x-break-glass-reason"
READS = frozenset({"read", "vread", "search-type", "search-system", "history-instance",
                   "operation"})


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


class RateLimits:
    """Fixed-window request limits per client (in this worker process): one counter per
    window, cheap enough for every request."""

    def __init__(self, per_client: str, per_token_request: str) -> None:
        self._limiter = FixedWindowRateLimiter(MemoryStorage())
        self._per_client = parse(per_client)
        self._per_token_request = parse(per_token_request)

    def check(self, key: str, token_request: bool = False) -> None:
        """Count one request by `key`; raise `TooManyRequests` past the limit."""
        item = self._per_token_request if token_request else self._per_client
        if not self._limiter.hit(item, key):
            reset = self._limiter.get_window_stats(item, key).reset_time
            raise TooManyRequests(f"Too many requests from {key}; slow down",
                                  retry_after=max(1, int(reset - time.time()) + 1))


def limits_of(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.rate_limits
    return limits


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def authenticate(request: Request, services: Services) -> Principal:
    """Return the caller of a request; raises `Unauthorized` without a valid access token."""
    if not services.settings.auth:
        return UNAUTHENTICATED
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("This endpoint needs an access token (Authorization: Bearer ...); "
                           "see /fhir/.well-known/smart-configuration")
    principal = services.tokens.verify(token.strip())
    if principal.client_id in services.revocations.client_ids:
        raise InvalidToken("The client of this access token has been revoked")
    return principal


@asynccontextmanager
async def acting(request: Request, interaction: str, resource_type: str | None = None,
                 query: str | None = None) -> AsyncIterator[Services]:
    """Run a route as its authenticated caller, and audit it (see the module docstring).

    Nothing about the request is looked at before the caller is authenticated: an unknown
    `resource_type` is a 404 only for a caller with a valid token.
    """
    services = services_of(request)
    address = client_address(request)
    audited = services.settings.auth
    try:
        principal = authenticate(request, services)
    except Unauthorized as error:
        anonymous = Principal("unauthenticated", None, Scopes(), address=address)
        await audit(services.acting_as(anonymous, AccessRecord("login")), error)
        raise
    reason = request.headers.get(BREAK_GLASS_HEADER) if interaction in READS else None
    principal = principal.with_request(address, reason.strip() if reason else None)
    if principal.break_glass:
        log.warning("break-glass %s by client %s (agency %s)", interaction,
                    principal.client_id, principal.agency)
    record = AccessRecord(interaction, resource_type, query) if audited else None
    scoped = services.acting_as(principal, record)
    try:
        if audited:  # limits are per client: with authentication off there are none
            limits_of(request).check(f"client {principal.client_id}")
        if resource_type is not None and not services.supports_type(resource_type):
            raise NotFound(f"'{resource_type}' is not a resource type this server knows",
                           expression=resource_type)
        yield scoped
    except Exception as error:
        await audit(scoped, error)
        raise
    await audit(scoped)
