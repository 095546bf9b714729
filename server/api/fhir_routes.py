"""The FHIR REST routes: thin adapters from HTTP to `server.interactions`."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from server.api.outcomes import outcome_response, status_of
from server.api.requests import (
    Prefer,
    base_url,
    if_match,
    read_body,
    read_patch,
    read_resource,
    search_params,
)
from server.api.responses import json_response, resource_response, write_response
from server.api.security import acting, services_of
from server.errors import Invalid, Issue
from server.interactions import access, bundles, crud
from server.interactions.capabilities import (
    TYPE_INTERACTIONS,
    OperationSummary,
    capability_statement,
)
from server.interactions.history import history
from server.interactions.search import search_as_caller
from server.operations.registry import OPERATIONS

router = APIRouter(prefix="/fhir")


def limit(request: Request) -> int:
    return services_of(request).settings.max_body_bytes


def written(request: Request, outcome: crud.WriteOutcome) -> Response:
    """Answer a write: 201 when it created the resource, 200 otherwise, per `Prefer`."""
    prefer = Prefer.parse(request.headers.get("prefer"))
    return write_response(outcome.stored, 201 if outcome.created else 200, base_url(request),
                          prefer, outcome.warnings)


@router.get("/metadata", tags=["system"], summary="CapabilityStatement")
async def metadata(request: Request) -> Response:
    operations = [OperationSummary(op.name, op.definition, op.resource_types,
                                   "system" in op.levels, bool({"type", "instance"} & op.levels))
                  for op in OPERATIONS]
    statement = capability_statement(services_of(request), base_url(request),
                                     type_interactions(), system_interactions(), operations)
    return json_response(statement)


def type_interactions() -> list[str]:
    """The type- and instance-level FHIR interactions this router serves (from route names)."""
    return [name for name in _route_names() if name in TYPE_INTERACTIONS]


def system_interactions() -> list[str]:
    """The system-level FHIR interactions this router serves (the Bundle route does both)."""
    names = _route_names()
    bundle = ["transaction", "batch"] if "transaction" in names else []
    return [*bundle, *(name for name in names if name == "history-system")]


def _route_names() -> list[str]:
    return [route.name for route in router.routes if isinstance(route, APIRoute)]


@router.post("", tags=["system"], summary="batch or transaction Bundle", name="transaction")
@router.post("/", include_in_schema=False)  # many clients post to the base with a slash
async def batch_or_transaction(request: Request) -> Response:
    async with acting(request, "transaction") as services:
        body = await read_resource(request, limit(request), "Bundle")
        if services.record is not None and body.get("type") == "batch":
            services.record.interaction = "batch"
        prefer = Prefer.parse(request.headers.get("prefer"))
        result = await bundles.process_bundle(services, base_url(request), body, status_of,
                                              minimal=prefer.return_ == "minimal")
    return json_response(result)


@router.get("/_history", tags=["system"], summary="system history", name="history-system")
async def system_history(request: Request) -> Response:
    async with acting(request, "history-system") as services:
        result = await history(services, base_url(request), None, None, search_params(request))
    return json_response(result)


@router.get("/{resource_type}/_history", tags=["type"], summary="type history", name="history-type")
async def type_history(request: Request, resource_type: str) -> Response:
    async with acting(request, "history-type", resource_type) as services:
        result = await history(services, base_url(request), resource_type, None,
                               search_params(request))
    return json_response(result)


@router.get("/{resource_type}", tags=["type"], summary="search", name="search-type")
async def search_type(request: Request, resource_type: str) -> Response:
    return await _search(request, resource_type, form=False)


@router.post("/{resource_type}/_search", tags=["type"], summary="search (form POST)")
async def search_post(request: Request, resource_type: str) -> Response:
    return await _search(request, resource_type, form=True)


async def _search(request: Request, resource_type: str, form: bool) -> Response:
    async with acting(request, "search-type", resource_type) as services:
        params = search_params(request)
        if form:
            raw = await read_body(request, limit(request), ("application/x-www-form-urlencoded",))
            params += parse_qsl(raw.decode(), keep_blank_values=True)
        if services.record is not None:
            services.record.query = urlencode(params)
        result = await search_as_caller(services, resource_type, params, base_url(request),
                                            Prefer.parse(request.headers.get("prefer")).strict)
    return json_response(result)


@router.post("/{resource_type}", tags=["type"], summary="create", name="create")
async def create(request: Request, resource_type: str) -> Response:
    async with acting(request, "create", resource_type) as services:
        access.check_write(services, resource_type, None, "c")
        resource = await read_resource(request, limit(request), resource_type)
        outcome = await crud.create(services, resource_type, resource,
                                    request.headers.get("if-none-exist"))
    return written(request, outcome)


@router.put("/{resource_type}", tags=["type"], summary="conditional update")
async def conditional_update(request: Request, resource_type: str) -> Response:
    async with acting(request, "update", resource_type) as services:
        access.require_scope(services, resource_type, "u")
        resource = await read_resource(request, limit(request), resource_type)
        outcome = await crud.conditional_update(services, resource_type, request.url.query,
                                                resource, if_match(request))
    return written(request, outcome)


@router.delete("/{resource_type}", tags=["type"], summary="conditional delete")
async def conditional_delete(request: Request, resource_type: str) -> Response:
    async with acting(request, "delete", resource_type) as services:
        access.require_scope(services, resource_type, "d")
        if not request.url.query:
            raise Invalid("A conditional delete needs search parameters")
        await crud.conditional_delete(services, resource_type, request.url.query)
    return Response(status_code=204)


@router.get("/{resource_type}/{id_}", tags=["instance"], summary="read", name="read")
async def read(request: Request, resource_type: str, id_: str) -> Response:
    async with acting(request, "read", resource_type) as services:
        access.require_scope(services, resource_type, "r")
        stored = await crud.read(services, resource_type, id_)
    return resource_response(stored)


@router.get("/{resource_type}/{id_}/_history", tags=["instance"], summary="instance history",
               name="history-instance")
async def instance_history(request: Request, resource_type: str, id_: str) -> Response:
    async with acting(request, "history-instance", resource_type) as services:
        result = await history(services, base_url(request), resource_type, id_,
                               search_params(request))
    return json_response(result)


@router.get("/{resource_type}/{id_}/_history/{version}", tags=["instance"], summary="vread",
               name="vread")
async def vread(request: Request, resource_type: str, id_: str, version: str) -> Response:
    async with acting(request, "vread", resource_type) as services:
        access.require_scope(services, resource_type, "r")
        stored = await crud.vread(services, resource_type, id_, version)
    return resource_response(stored)


@router.put("/{resource_type}/{id_}", tags=["instance"], summary="update", name="update")
async def update(request: Request, resource_type: str, id_: str) -> Response:
    async with acting(request, "update", resource_type) as services:
        access.require_scope(services, resource_type, "u")
        resource = await read_resource(request, limit(request), resource_type)
        outcome = await crud.update(services, resource_type, id_, resource, if_match(request))
    return written(request, outcome)


@router.patch("/{resource_type}/{id_}", tags=["instance"], summary="patch (JSON Patch)",
               name="patch")
async def patch(request: Request, resource_type: str, id_: str) -> Response:
    async with acting(request, "patch", resource_type) as services:
        access.require_scope(services, resource_type, "u")
        operations = await read_patch(request, limit(request))
        outcome = await crud.patch(services, resource_type, id_, operations, if_match(request))
    return written(request, outcome)


@router.delete("/{resource_type}/{id_}", tags=["instance"], summary="delete", name="delete")
async def delete(request: Request, resource_type: str, id_: str) -> Response:
    async with acting(request, "delete", resource_type) as services:
        access.require_scope(services, resource_type, "d")
        tombstone = await crud.delete(services, resource_type, id_)
    if tombstone is None:
        return outcome_response(200, [Issue("information", "informational",
                                            f"{resource_type}/{id_} was already deleted")])
    return Response(status_code=204, headers={"ETag": f'W/"{tombstone.version_id}"'})
