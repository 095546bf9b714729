"""`StructureDefinition/$snapshot`: generate the snapshot of a differential profile."""

from __future__ import annotations

from typing import Any

from server.errors import Invalid, NotFound
from server.interactions.services import Services
from server.operations.parameters import OperationInput
from server.operations.registry import operation
from server.operations.targets import target_resource
from server.profiles.snapshot import generate_snapshot

Json = dict[str, Any]


@operation("snapshot", "http://hl7.org/fhir/OperationDefinition/StructureDefinition-snapshot",
           {"type", "instance"}, {"StructureDefinition"})
async def snapshot(services: Services, call: OperationInput) -> Json:
    """Return the StructureDefinition with its snapshot generated from the definitions in
    force. Raises `Invalid` with one issue per authoring error."""
    definition = call.as_resource("definition") or call.resource
    if definition is None and call.id is not None:
        found = await target_resource(services, call, "url", "definition")
        assert isinstance(found, dict)
        definition = found
    if definition is None:
        url = call.text("url")
        if url is None:
            raise Invalid("Give the profile as 'definition', or its canonical as 'url'",
                          expression="definition")
        definition = services.definitions.structure_definition(url)
        if definition is None:
            raise NotFound(f"No StructureDefinition with url {url}", expression="url")
    if definition.get("resourceType") != "StructureDefinition":
        raise Invalid("'definition' must be a StructureDefinition", expression="definition")
    stripped = {k: v for k, v in definition.items() if k != "snapshot"}
    return generate_snapshot(stripped, services.definitions)
