"""At start-up: publish the built-in conformance resources as stored resources, and take up
the ones clients stored earlier, so the registry and the API agree."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from server.errors import Conflict, FhirError
from server.fhir import json
from server.interactions import crud
from server.interactions.conformance import CONFORMANCE_TYPES
from server.interactions.services import Services

log = logging.getLogger("cradle.conformance")
Json = dict[str, Any]
META_KEYS = ("meta",)


async def publish_builtin(services: Services, resources: list[Json]) -> int:
    """Store each built-in conformance resource whose stored copy is missing or differs.

    Returns how many were written. Another worker publishing at the same moment is fine (its
    write wins); a resource that is not valid R4 is logged and left unpublished.
    """
    written = 0
    for resource in resources:
        kind, id_ = resource["resourceType"], resource.get("id") or _id_from(resource)
        stored = await services.store.read(kind, id_)
        if stored is not None and not stored.deleted and stored.body is not None \
                and _content(json.loads(stored.body)) == _content(resource):
            continue
        try:
            await crud.update(services, kind, id_, {**resource, "id": id_})
            written += 1
        except Conflict:
            continue
        except FhirError as error:
            log.error("built-in %s/%s not published: %s", kind, id_, error)
    return written


async def load_stored(services: Services) -> int:
    """Register every conformance resource stored in the database; return how many."""
    resources = []
    for kind in sorted(CONFORMANCE_TYPES):
        found = await services.store.candidates(kind, None)
        for stored in await services.store.read_many((c.resource_type, c.id) for c in found):
            if stored.body is not None:
                resources.append(json.loads(stored.body))
    services.conformance.register(*resources)
    return len(resources)


async def follow_changes(services: Services, interval: float = 1.0) -> None:
    """Keep this worker's registry in step with conformance resources other workers store.

    Every write of a conformance resource bumps a counter in the database; when it moves, the
    stored conformance resources are registered again. Runs until cancelled.
    """
    seen = await services.store.conformance_epoch()
    while True:
        await asyncio.sleep(interval)
        try:
            epoch = await services.store.conformance_epoch()
            if epoch != seen:
                seen = epoch
                await load_stored(services)
        except FhirError as error:  # the database may be briefly unreachable: try again
            log.warning("conformance refresh failed: %s", error)


def _content(resource: Json) -> Json:
    return {k: v for k, v in resource.items() if k not in META_KEYS}


def _id_from(resource: Json) -> str:
    return str(resource.get("url", "")).rstrip("/").rsplit("/", 1)[-1]
