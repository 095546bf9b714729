"""Finding the resource an instance- or type-level operation works on."""

from __future__ import annotations

from typing import Any

from server.errors import Invalid
from server.fhir import json
from server.interactions import crud
from server.interactions.services import Services
from server.operations.parameters import OperationInput

Json = dict[str, Any]


async def target_resource(services: Services, call: OperationInput, url_name: str,
                  resource_name: str) -> Json | str:
    """Return what an operation works on: the stored instance, the resource parameter
    `resource_name`, or the canonical given as `url_name` (a string). Raises `Invalid` if
    none was given, `NotFound`/`Gone` for a missing instance."""
    if call.id is not None:
        stored = await crud.read(services, str(call.resource_type), call.id)
        assert stored.body is not None
        found: Json = json.loads(stored.body)
        return found
    resource = call.as_resource(resource_name)
    if resource is not None:
        return resource
    url = call.text(url_name)
    if url is None:
        raise Invalid(f"Name the {call.resource_type} with '{url_name}', a '{resource_name}' "
                      f"parameter, or call the operation on an instance", expression=url_name)
    return url
