"""The token endpoint (`POST /auth/token`) and SMART discovery
(`GET /fhir/.well-known/smart-configuration`), both open to unauthenticated callers."""

from __future__ import annotations

import base64
import binascii
import contextlib
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, Request
from fastapi.responses import Response

from server.api.requests import base_url, read_body
from server.api.responses import json_response
from server.api.security import client_address, limits_of, services_of
from server.errors import FhirError, Unauthorized
from server.interactions.auth import client_credentials
from server.interactions.recording import audit
from server.security.principal import Principal
from server.security.records import AccessRecord
from server.security.scopes import ACTIONS, BREAK_GLASS, Scopes
from server.security.tokens import CLIENT_ASSERTION_ALGORITHMS, unverified_client_id

router = APIRouter()
FORM = ("application/x-www-form-urlencoded",)
MAX_FORM_BYTES = 64 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def token_urls(request: Request) -> list[str]:
    """The token URL as clients may know it: as this request reached the server, and as the
    configured public URL (behind a TLS-terminating proxy) names it — the latter first."""
    seen = str(request.base_url).rstrip("/") + "/auth/token"
    public = services_of(request).settings.public_url
    return [public.rstrip("/") + "/auth/token", seen] if public else [seen]


@router.post("/auth/token", tags=["auth"],
             summary="OAuth 2.0 client-credentials grant (SMART Backend Services)")
async def token(request: Request) -> Response:
    services = services_of(request)
    address = client_address(request)
    limits_of(request).check(f"token {address}", token_request=True)
    raw = await read_body(request, MAX_FORM_BYTES, FORM)
    form = dict(parse_qsl(raw.decode(errors="replace"), keep_blank_values=True))
    form.update(_basic_credentials(request.headers.get("authorization", "")))
    claimed = _claimed(form.get("client_assertion", "")) or form.get("client_id")
    caller = Principal(claimed or "unknown", None, Scopes(), address=address)
    record = AccessRecord("login") if services.settings.auth else None
    try:
        response, client = await client_credentials(services, form, token_urls(request))
    except FhirError as error:
        await audit(services.acting_as(caller, record), error)
        raise
    caller = Principal(client.client_id, client.agency, Scopes.parse(response["scope"]),
                       operator=client.operator, address=address)
    await audit(services.acting_as(caller, record))
    return json_response(response, headers=NO_STORE, media_type="application/json")


def _claimed(assertion: str) -> str | None:
    with contextlib.suppress(Unauthorized):
        return unverified_client_id(assertion) if assertion else None
    return None


def _basic_credentials(header: str) -> dict[str, str]:
    """client_secret_basic: the client id and secret from an HTTP Basic header."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return {}
    try:
        client_id, _, secret = base64.b64decode(value).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return {}
    return {"client_id": unquote_plus(client_id), "client_secret": unquote_plus(secret)}


@router.get("/fhir/.well-known/smart-configuration", tags=["auth"],
            summary="SMART configuration: token endpoint, methods and scopes")
async def smart_configuration(request: Request) -> Response:
    settings = services_of(request).settings
    methods = ["private_key_jwt"]
    if settings.allow_client_secrets:
        methods += ["client_secret_basic", "client_secret_post"]
    return json_response({
        "issuer": base_url(request),
        "token_endpoint": token_urls(request)[0],
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": list(CLIENT_ASSERTION_ALGORITHMS),
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": [f"system/*.{ACTIONS}", "system/*.rs", "system/*.cud",
                             "system/Patient.rs", "system/Flag.cruds",
                             "system/ServiceRequest.cruds", "system/AuditEvent.rs",
                             BREAK_GLASS],
        "capabilities": ["client-confidential-asymmetric", "permission-v2"],
    }, media_type="application/json")
