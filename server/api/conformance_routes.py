"""`POST /conformance/runs`: run the conformance kit against a target from the server and keep
its TestReport (listed afterwards with `GET /fhir/TestReport?tester=…&participant=…`), so a
vendor gets a link to show."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from server.api.fhir_routes import limit, written
from server.api.requests import RESOURCE_TYPES, read_body
from server.api.security import acting
from server.conformance.profiles import validator_of
from server.conformance.runner import run_suites
from server.conformance.suites import load_suite
from server.conformance.testreport import as_testreport
from server.errors import Forbidden, Invalid
from server.fhir import json
from server.interactions import access, crud

router = APIRouter(prefix="/conformance", tags=["conformance"])
SUITES = ("api", "profiles")


@router.post("/runs", summary="Run conformance suites against a target; store the TestReport")
async def start_run(request: Request) -> Response:
    """Body: `{"target": FHIR base URL, "suites": ["api", "profiles"], "token": optional}`.
    Answers 201 with the stored TestReport. Only targets listed in CRADLE_CONFORMANCE_TARGETS
    may be tested: the server never calls arbitrary URLs for a client."""
    async with acting(request, "create", "TestReport") as services:
        access.require_scope(services, "TestReport", "c")
        body = _body(await read_body(request, limit(request), RESOURCE_TYPES))
        target = body["target"]
        allowed = services.settings.conformance_targets
        if not any(target.startswith(prefix) for prefix in allowed):
            raise Forbidden(f"{target} is not a target this server may test (configured with "
                            "CRADLE_CONFORMANCE_TARGETS)")
        suites = [load_suite(name) for name in body["suites"]]
        # The server's own validator: the profiles in force here, no second build of them.
        required = services.conformance.required_profiles \
            if services.settings.enforce_profiles else {}
        run = await run_suites(target, suites, body.get("token"),
                               validator_of(services.validator, required))
        report = as_testreport(run)
        report["tester"] = services.caller.agency or services.caller.client_id
        outcome = await crud.create(services, "TestReport", report)
    return written(request, outcome)


def _body(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        raise Invalid("the body must be JSON: {\"target\": URL, \"suites\": [...]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("target"), str):
        raise Invalid("give the target's FHIR base URL as \"target\"", expression="target")
    suites = data.get("suites") or list(SUITES)
    if not isinstance(suites, list) or not all(s in SUITES for s in suites):
        raise Invalid(f"suites must be a list of {', '.join(SUITES)} (agency suites need the "
                      "vendor's files: run them with cradle conformance run)",
                      expression="suites")
    token = data.get("token")
    if token is not None and not isinstance(token, str):
        raise Invalid("token must be a string", expression="token")
    return {"target": data["target"], "suites": suites, "token": token}
