"""Routes for `$operations` at system, type and instance level (declared before plain routes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from server.api.fhir_routes import limit
from server.api.requests import RESOURCE_TYPES, base_url, read_body, search_params
from server.api.responses import json_response
from server.api.security import acting
from server.fhir import json
from server.interactions import access
from server.operations import registry
from server.operations.parameters import from_request
from server.operations.registry import Level

router = APIRouter(prefix="/fhir")
Json = dict[str, Any]


async def _body(request: Request) -> Json | None:
    if request.method != "POST":
        return None
    raw = await read_body(request, limit(request), RESOURCE_TYPES)
    return json.parse_resource(raw) if raw.strip() else None


@router.get("/${name}", tags=["operations"], summary="system-level operation",
            operation_id="system_operation_get")
@router.post("/${name}", tags=["operations"], summary="system-level operation",
             operation_id="system_operation_post")
async def system_operation(request: Request, name: str) -> Response:
    return await _operation(request, "system", name)


@router.get("/{resource_type}/${name}", tags=["operations"], summary="type-level operation",
            operation_id="type_operation_get")
@router.post("/{resource_type}/${name}", tags=["operations"], summary="type-level operation",
             operation_id="type_operation_post")
async def type_operation(request: Request, resource_type: str, name: str) -> Response:
    return await _operation(request, "type", name, resource_type)


@router.get("/{resource_type}/{id_}/${name}", tags=["operations"],
            summary="instance-level operation", operation_id="instance_operation_get")
@router.post("/{resource_type}/{id_}/${name}", tags=["operations"],
             summary="instance-level operation", operation_id="instance_operation_post")
async def instance_operation(request: Request, resource_type: str, id_: str,
                             name: str) -> Response:
    return await _operation(request, "instance", name, resource_type, id_)


async def _operation(request: Request, level: Level, name: str, resource_type: str | None = None,
                     id_: str | None = None) -> Response:
    """Run a declared operation as the caller: type- and instance-level ones need read scope
    on their type (an instance is then read under need-to-know by the operation itself)."""
    async with acting(request, "operation", resource_type) as services:
        op = registry.find(name, level, resource_type)
        if resource_type is not None:
            access.require_scope(services, resource_type, "r")
        call = from_request(resource_type, id_, search_params(request), await _body(request),
                            base_url(request))
        result = await op.handler(services, call)
    return json_response(result)
