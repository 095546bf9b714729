"""`$validate` (type and instance level), and re-checking stored records against a profile."""

from __future__ import annotations

from typing import Any

from server.errors import Forbidden, Invalid, Issue, is_error, operation_outcome
from server.fhir import json
from server.interactions import crud
from server.interactions.services import Services
from server.operations.parameters import OperationInput
from server.operations.registry import operation

Json = dict[str, Any]
DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-validate"
RECHECK_BATCH = 200
RECHECK_LISTED = 100


@operation("validate", DEFINITION, {"type", "instance"})
async def validate(services: Services, call: OperationInput) -> Json:
    """Return an OperationOutcome for the given (or stored) resource against base R4 and the
    profile asked for. At type level with no resource, re-check every stored resource of the
    type against `profile` and report how many fail (for publishing a new profile version).
    """
    assert call.resource_type is not None
    profile = call.text("profile")
    resource = call.as_resource("resource")
    if resource is None and call.id is None:
        if profile is None:
            raise Invalid("$validate needs a resource, an instance, or a profile to re-check "
                          "stored records against", expression="resource")
        return await recheck_stored(services, call.resource_type, profile)
    if resource is None:
        stored = await crud.read(services, call.resource_type, str(call.id))
        assert stored.body is not None
        resource = json.loads(stored.body)
    if resource.get("resourceType") != call.resource_type:
        raise Invalid(f"The resource is not a {call.resource_type}", expression="resource")
    issues = services.validator.validate(resource, profile)
    return operation_outcome(issues)


async def recheck_stored(services: Services, resource_type: str, profile: str) -> Json:
    """Validate every current resource of a type against `profile`; summarise the failures.

    Only an operator may: the summary covers records the caller might not be allowed to see.
    """
    if not services.caller.operator:
        raise Forbidden("Re-checking every stored record needs an operator token",
                        expression="profile")
    candidates = await services.store.candidates(resource_type, None)
    failing: list[Issue] = []
    failed = 0
    for start in range(0, len(candidates), RECHECK_BATCH):
        refs = [(c.resource_type, c.id) for c in candidates[start:start + RECHECK_BATCH]]
        for stored in await services.store.read_many(refs):
            assert stored.body is not None
            errors = [i for i in services.validator.validate(json.loads(stored.body), profile)
                      if is_error(i)]
            if errors:
                failed += 1
                if len(failing) < RECHECK_LISTED:
                    failing += [Issue(i.severity, i.code, f"{stored.reference}: {i.diagnostics}",
                                      i.expression, i.message_id)
                                for i in errors]
    summary = Issue("information", "informational",
                    f"Checked {len(candidates)} {resource_type} resources against {profile}: "
                    f"{failed} fail", message_id="recheck-summary")
    return operation_outcome([summary, *failing])
