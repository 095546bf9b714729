"""Routes for `$operations` at system, type and instance level (declared before plain routes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from server.api.fhir_routes import known_type, limit
from server.api.requests import RESOURCE_TYPES, base_url, read_body, search_params
from server.api.responses import json_response
from server.api.security import acting
from server.fhir import json
from server.interactions import access
from server.operations import registry
from server.operations.parameters import from_request

router = APIRouter(prefix="/fhir")
Json = dict[str, Any]


async def _body(request: Request) -> Json | None:
    if request.method != "POST":
        return None
    raw = await read_body(request, limit(request), RESOURCE_TYPES)
    return json.parse_resource(raw) if raw.strip() else None


@router.api_route("/${name}", methods=["GET", "POST"], tags=["operations"],
                  summary="system-level operation")
async def system_operation(request: Request, name: str) -> Response:
    op = registry.find(name, "system", None)
    async with acting(request, "operation") as services:
        call = from_request(None, None, search_params(request), await _body(request),
                            base_url(request))
        result = await op.handler(services, call)
    return json_response(result)


@router.api_route("/{resource_type}/${name}", methods=["GET", "POST"], tags=["operations"],
                  summary="type-level operation")
async def type_operation(request: Request, resource_type: str, name: str) -> Response:
    known_type(request, resource_type)
    op = registry.find(name, "type", resource_type)
    async with acting(request, "operation", resource_type) as services:
        access.require_scope(services, resource_type, "r")
        call = from_request(resource_type, None, search_params(request), await _body(request),
                            base_url(request))
        result = await op.handler(services, call)
    return json_response(result)


@router.api_route("/{resource_type}/{id_}/${name}", methods=["GET", "POST"],
                  tags=["operations"], summary="instance-level operation")
async def instance_operation(request: Request, resource_type: str, id_: str,
                             name: str) -> Response:
    known_type(request, resource_type)
    op = registry.find(name, "instance", resource_type)
    async with acting(request, "operation", resource_type) as services:
        access.require_scope(services, resource_type, "r")
        call = from_request(resource_type, id_, search_params(request), await _body(request),
                            base_url(request))
        result = await op.handler(services, call)
    return json_response(result)
