"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from server.api.outcomes import outcome_response
from server.api.responses import json_response
from server.errors import Unavailable

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="liveness: the process answers")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz", summary="readiness: the database answers")
async def readyz(request: Request) -> Response:
    try:
        await request.app.state.services.store.ping()
    except Unavailable as error:
        return outcome_response(503, error.issues)
    return json_response({"status": "ready"})
