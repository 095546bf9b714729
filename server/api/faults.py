"""Deliberate faults, switched on by `CRADLE_TEST_FAULTS`, so the conformance kit can be shown
to catch real vendor bugs. For testing the kit only; never in production.

    ignore-if-match        the If-Match request header is dropped: stale updates succeed
    accept-invalid-child   a Patient POST/PUT that fails the Child profile is stored anyway
    drop-search:PARAM      search parameter PARAM is ignored in request URLs (still claimed)
    plain-errors           every 4xx/5xx answer body is plain text, not an OperationOutcome
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.interactions.services import Services

log = logging.getLogger("cradle")
SIMPLE = frozenset({"ignore-if-match", "accept-invalid-child", "plain-errors"})
DROP_SEARCH = "drop-search:"
PATIENT = "/fhir/Patient"


def check_faults(faults: Iterable[str]) -> tuple[str, ...]:
    """Return the fault names; raise ValueError for one this module does not know."""
    names = tuple(faults)
    for name in names:
        if name not in SIMPLE and not (name.startswith(DROP_SEARCH) and name[len(DROP_SEARCH):]):
            raise ValueError(f"unknown test fault '{name}' (known: {', '.join(sorted(SIMPLE))}, "
                             f"{DROP_SEARCH}PARAM)")
    return names


def install_faults(app: FastAPI, faults: Iterable[str]) -> None:
    """Add the fault middleware when any fault is switched on (nothing otherwise)."""
    names = check_faults(faults)
    if names:
        log.warning("cradle: TEST FAULTS ON (%s): this server is deliberately broken",
                    ", ".join(names))
        app.add_middleware(Faults, faults=names)


def relax_services(services: Services, faults: Iterable[str]) -> None:
    """`accept-invalid-child`, second half: Patient writes are no longer held to the Child
    profile. (The middleware drops the Patient's own `meta.profile` claim, which the validator
    would otherwise check too; together an invalid Child is stored. Done here rather than in
    middleware because enforcement lives in the services, not in HTTP.)"""
    if "accept-invalid-child" in faults:
        services.conformance.required_profiles.pop("Patient", None)


class Faults:
    """Pure ASGI middleware breaking requests and answers as the switched-on faults say."""

    def __init__(self, app: ASGIApp, faults: tuple[str, ...]) -> None:
        self.app = app
        self.faults = frozenset(faults)
        self.dropped = {f[len(DROP_SEARCH):] for f in faults if f.startswith(DROP_SEARCH)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        if "ignore-if-match" in self.faults:
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k.lower() != b"if-match"]
        if self.dropped and scope.get("query_string"):
            pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
            kept = [(k, v) for k, v in pairs if k.split(":")[0] not in self.dropped]
            scope["query_string"] = urlencode(kept).encode("latin-1")
        if "accept-invalid-child" in self.faults and scope["method"] in ("POST", "PUT") \
                and (scope["path"] == PATIENT or scope["path"].startswith(PATIENT + "/")):
            scope, receive = await _without_profile_claim(scope, receive)
        if "plain-errors" in self.faults:
            send = _plain_errors(send)
        await self.app(scope, receive, send)


async def _without_profile_claim(scope: dict[str, Any], receive: Receive
                                 ) -> tuple[dict[str, Any], Receive]:
    """Read the whole body, drop `meta.profile` from a JSON Patient, and replay it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    try:
        resource = json.loads(body)
        if isinstance(resource, dict) and isinstance(resource.get("meta"), dict):
            resource["meta"].pop("profile", None)
            if not resource["meta"]:
                del resource["meta"]  # an empty meta is itself invalid
            body = json.dumps(resource).encode()
    except ValueError:
        pass  # not JSON: let the server refuse it as usual
    scope["headers"] = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
    scope["headers"].append((b"content-length", str(len(body)).encode()))
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}
    return scope, replay


def _plain_errors(send: Send) -> Send:
    """Wrap `send` so a 4xx/5xx answer's body becomes one line of plain text."""
    status = 0

    async def plain(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            if status >= 400:
                text = f"Error {status}\n".encode()
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in (b"content-type", b"content-length")]
                message = {**message, "headers": [
                    *headers, (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(text)).encode())]}
                await send(message)
                await send({"type": "http.response.body", "body": text, "more_body": False})
                return
        elif message["type"] == "http.response.body" and status >= 400:
            return  # the real body is swallowed
        await send(message)
    return plain
