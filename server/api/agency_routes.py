"""Agency systems exchange records in their own formats: thin routes over
`server.interactions.agency_records`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import IO

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from server.api.outcomes import FHIR_JSON
from server.api.requests import base_url, spool_body
from server.api.security import acting
from server.errors import NotFound
from server.interactions import access, agency_records
from server.interactions.services import Services
from server.mapping.catalog import Agency

router = APIRouter(prefix="/agencies", tags=["agencies"])
UPLOAD_LIMIT = 1024 * 1024 * 1024  # bulk extracts: spooled to disk, mapped a chunk at a time


def _agency(services: Services, name: str) -> Agency:
    agency = services.agencies.get(name)
    if agency is None:
        raise NotFound(f"no agency mapping named '{name}' (known: "
                       f"{', '.join(sorted(services.agencies))})")
    return agency


@router.post("/{agency}/records", summary="Submit native records (mapped, validated, stored)")
async def submit_records(request: Request, agency: str) -> Response:
    """Map the agency's native content onto the common model and store it; with
    `?dry-run=true`, return what would be stored and every issue, storing nothing."""
    dry_run = request.query_params.get("dry-run", "false").lower() == "true"
    async with acting(request, "create") as services:
        found = _agency(services, agency)
        upload = await spool_body(request, UPLOAD_LIMIT, found.format.media_types)
        try:
            status, body = await agency_records.submit(services, found, upload,
                                                       base_url(request), dry_run)
        finally:
            upload.close()
    return StreamingResponse(_chunks(body), status_code=status, media_type=FHIR_JSON)


async def _chunks(body: IO[bytes]) -> AsyncIterator[bytes]:
    """Send the spooled answer in pieces, closing it when done (or abandoned)."""
    try:
        while piece := body.read(1 << 16):
            yield piece
    finally:
        body.close()


@router.get("/{agency}/children/{child_id}", summary="A child's record in the agency's format")
async def child_record(request: Request, agency: str, child_id: str) -> Response:
    async with acting(request, "read", "Patient") as services:
        found = _agency(services, agency)
        access.require_scope(services, "Patient", "r")
        data = await agency_records.render_children(services, found, [child_id])
    return Response(data, media_type=found.format.media_types[0])


@router.get("/{agency}/children", summary="Children found by a Patient search, rendered natively")
async def children_search(request: Request, agency: str) -> Response:
    async with acting(request, "search", "Patient") as services:
        found = _agency(services, agency)
        access.require_scope(services, "Patient", "s")
        ids = await agency_records.find_children(services, list(request.query_params.multi_items()),
                                                 base_url(request))
        data = await agency_records.render_children(services, found, ids)
    return Response(data, media_type=found.format.media_types[0])
