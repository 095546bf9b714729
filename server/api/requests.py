"""Reading FHIR requests: body limits, content types, Prefer and conditional headers."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import IO, Any

from fastapi import Request

from server.errors import Invalid, TooLarge, UnsupportedMediaType
from server.fhir import json
from server.fhir.ids import parse_etag

RESOURCE_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
PATCH_TYPES = ("application/json-patch+json",)


@dataclass(frozen=True)
class Prefer:
    """The parts of the Prefer header Cradle honours."""

    return_: str = "representation"
    strict: bool = False

    @classmethod
    def parse(cls, header: str | None) -> Prefer:
        values: dict[str, str] = {}
        for part in (header or "").split(","):
            key, _, value = part.strip().partition("=")
            values[key.strip().lower()] = value.strip().strip('"')
        return cls(return_=values.get("return", "representation"),
                   strict=values.get("handling") == "strict")


SPOOL_IN_MEMORY = 4 * 1024 * 1024  # bytes of an upload held in memory before disk


async def read_body(request: Request, limit: int, accepted: tuple[str, ...]) -> bytes:
    """Return the raw body after checking its media type and size.

    Raises `UnsupportedMediaType` (415) and `TooLarge` (413).
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in accepted:
        raise UnsupportedMediaType(
            f"Content-Type '{media or '(none)'}' is not supported here; use {accepted[0]}")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"The body is larger than the {limit}-byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"The body is larger than the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def spool_body(request: Request, limit: int, accepted: tuple[str, ...]) -> IO[bytes]:
    """Return the body in a temporary file (on disk past a few megabytes: a bulk upload does
    not sit in memory), positioned at its start; checks as `read_body`.

    Raises `UnsupportedMediaType` (415) and `TooLarge` (413).
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in accepted:
        raise UnsupportedMediaType(
            f"Content-Type '{media or '(none)'}' is not supported here; use {accepted[0]}")
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY)  # noqa: SIM115
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"The body is larger than the {limit}-byte limit")
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


async def read_resource(request: Request, limit: int, expected_type: str | None) -> dict[str, Any]:
    """Read and parse a FHIR JSON resource body (see `server.fhir.json.parse_resource`)."""
    return json.parse_resource(await read_body(request, limit, RESOURCE_TYPES), expected_type)


async def read_patch(request: Request, limit: int) -> Any:
    """Read a JSON Patch body; raises `Invalid` if it is not JSON."""
    raw = await read_body(request, limit, PATCH_TYPES)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise Invalid(f"The patch is not valid JSON: {exc}") from exc


def if_match(request: Request) -> int | None:
    """Return the version named by If-Match, or None; raises `Invalid` if unreadable."""
    header = request.headers.get("if-match")
    if header is None:
        return None
    version = parse_etag(header)
    if version is None:
        raise Invalid(f"If-Match '{header}' is not a version ETag such as W/\"1\"")
    return version


def search_params(request: Request) -> list[tuple[str, str]]:
    """Return the query parameters in the order received."""
    return list(request.query_params.multi_items())


def base_url(request: Request) -> str:
    """Return the FHIR base URL as the client sees it (e.g. `http://127.0.0.1:8000/fhir`):
    under the configured public URL when Cradle runs behind a proxy (`CRADLE_PUBLIC_URL`)."""
    public = request.app.state.services.settings.public_url
    root = public if public else str(request.base_url)
    return root.rstrip("/") + "/fhir"
