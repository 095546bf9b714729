"""The one table from error categories to HTTP status, and the handlers that use it.

Every error leaves the server as an OperationOutcome; stack traces go to the log only.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from server.errors import (
    Conflict,
    FhirError,
    Forbidden,
    Gone,
    Invalid,
    InvalidToken,
    Issue,
    MethodNotAllowed,
    MultipleMatches,
    NotFound,
    NotSupported,
    PreconditionFailed,
    TooLarge,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    Unprocessable,
    UnsupportedMediaType,
    operation_outcome,
)
from server.fhir import json

log = logging.getLogger("cradle.api")
FHIR_JSON = "application/fhir+json; charset=utf-8"

# Most specific class first: the first match wins.
STATUS: tuple[tuple[type[FhirError], int], ...] = (
    (MultipleMatches, 412),
    (PreconditionFailed, 412),
    (NotFound, 404),
    (Gone, 410),
    (Unprocessable, 422),
    (Invalid, 400),
    (Conflict, 409),
    (MethodNotAllowed, 405),
    (NotSupported, 501),
    (UnsupportedMediaType, 415),
    (TooLarge, 413),
    (Unavailable, 503),
    (Unauthorized, 401),
    (Forbidden, 403),
    (TooManyRequests, 429),
)
HTTP_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found",
              405: "not-supported", 406: "not-supported", 413: "too-costly",
              415: "not-supported", 422: "processing"}


def status_of(error: FhirError) -> int:
    """Return the HTTP status for a typed error (500 for anything unexpected)."""
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return 500


def outcome_response(status: int, issues: list[Issue],
                     headers: dict[str, str] | None = None) -> Response:
    """Return an OperationOutcome response."""
    return Response(json.dumps(operation_outcome(issues)), status_code=status,
                    media_type=FHIR_JSON, headers=headers)


def error_headers(error: FhirError) -> dict[str, str] | None:
    """The headers an error response needs: a Bearer challenge on 401, Retry-After on 429."""
    if isinstance(error, InvalidToken):
        return {"WWW-Authenticate": 'Bearer realm="cradle", error="invalid_token"'}
    if isinstance(error, Unauthorized):
        return {"WWW-Authenticate": 'Bearer realm="cradle"'}
    if isinstance(error, TooManyRequests):
        return {"Retry-After": str(error.retry_after)}
    return None


def install_handlers(app: FastAPI) -> None:
    """Make every error an OperationOutcome with the right status."""

    @app.exception_handler(FhirError)
    async def fhir_error(_: Request, error: FhirError) -> Response:
        return outcome_response(status_of(error), error.issues, error_headers(error))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> Response:
        code = HTTP_CODES.get(error.status_code, "exception")
        text = "Unknown URL" if error.status_code == 404 else str(error.detail)
        if error.status_code == 405:
            text = "This HTTP method is not supported at this URL"
        headers = dict(error.headers or {})
        return outcome_response(error.status_code, [Issue("error", code, text)], headers)

    @app.exception_handler(RequestValidationError)
    async def request_error(_: Request, error: RequestValidationError) -> Response:
        issues = [Issue("error", "invalid", str(e.get("msg")), ".".join(map(str, e["loc"])))
                  for e in error.errors()]
        return outcome_response(400, issues)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return outcome_response(500, [Issue("fatal", "exception",
                                            "Internal server error; see the server log")])
