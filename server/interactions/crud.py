"""Instance-level interactions: create, read, vread, update, patch, delete (and conditionals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jsonpatch

from server.errors import (
    Conflict,
    Gone,
    Invalid,
    Issue,
    MultipleMatches,
    NotFound,
    PreconditionFailed,
    Unprocessable,
)
from server.fhir import json
from server.fhir.ids import new_id
from server.fhir.instant import now
from server.interactions import access
from server.interactions.matching import find_matching
from server.interactions.recording import companions, mark_committed
from server.interactions.services import Services
from server.interactions.versions import check_valid, new_version, tombstone
from server.store import StoredResource, Transaction

Json = dict[str, Any]
UPDATE_ATTEMPTS = 5
REINDEX_BATCH = 200


@dataclass(frozen=True)
class WriteOutcome:
    """The version a write produced (or found), whether it was created, and any warnings."""

    stored: StoredResource
    created: bool
    warnings: list[Issue] = field(default_factory=list)


async def read(services: Services, resource_type: str, id_: str,
               tx: Transaction | None = None) -> StoredResource:
    """Return the current version. Raises `NotFound`, or `Gone` if it was deleted."""
    stored = await services.store.read(resource_type, id_, tx)
    if stored is None:
        raise NotFound(f"{resource_type}/{id_} is not known", expression=resource_type)
    if stored.deleted:
        raise Gone(f"{resource_type}/{id_} was deleted (version {stored.version_id})")
    await access.check_read(services, stored)
    return stored


async def vread(services: Services, resource_type: str, id_: str, version: str) -> StoredResource:
    """Return one version. Raises `NotFound`, or `Gone` if that version is a deletion."""
    stored = await services.store.vread(resource_type, id_, int(version)) if version.isdigit() \
        else None
    if stored is None:
        raise NotFound(f"{resource_type}/{id_}/_history/{version} is not known")
    if stored.deleted:
        raise Gone(f"{resource_type}/{id_} version {version} is a deletion")
    await access.check_read(services, stored)
    return stored


async def create(services: Services, resource_type: str, resource: Json,
                 if_none_exist: str | None = None, tx: Transaction | None = None,
                 id_: str | None = None) -> WriteOutcome:
    """Create a resource with a server-assigned id (any id in the body is ignored).

    With `if_none_exist` (a search query), an existing single match is returned instead;
    several matches raise `MultipleMatches`.
    """
    if if_none_exist:
        matches = await find_matching(services, resource_type, if_none_exist)
        if len(matches) > 1:
            raise MultipleMatches(
                f"If-None-Exist '{if_none_exist}' matched {len(matches)} resources")
        if matches:
            return WriteOutcome(await read(services, *matches[0], tx), created=False)
    access.check_write(services, resource_type, None, "c")
    resource = services.conformance.prepare(resource)
    warnings = check_valid(services, resource)
    moment = now()
    version = new_version(services, resource, id_ or new_id(), None, "POST", moment)
    await services.store.write(version, None, tx, await companions(services, [version], moment))
    mark_committed(services)
    await _took_effect(services, resource)
    return WriteOutcome(version.as_stored(), created=True, warnings=warnings)


async def update(services: Services, resource_type: str, id_: str, resource: Json,
                 if_match: int | None = None, tx: Transaction | None = None,
                 method: str = "PUT") -> WriteOutcome:
    """Create a new version of `Type/id`, or create it with that id if it does not exist.

    Raises `Invalid` when the body's id is missing or differs from the URL's,
    `PreconditionFailed` when `if_match` is not the current version, and `Conflict` when
    concurrent writers kept winning the race. Without `if_match` the client asked for
    last-writer-wins, so a lost race is retried on the new current version.
    """
    body_id = resource.get("id")
    if body_id is None:
        raise Invalid("The resource in an update must have an id", expression=f"{resource_type}.id")
    if body_id != id_:
        raise Invalid(f"The resource id '{body_id}' does not match the URL id '{id_}'",
                      expression=f"{resource_type}.id")
    resource = services.conformance.prepare(resource)
    warnings: list[Issue] | None = None
    attempts_left = 1 if if_match is not None or tx is not None else UPDATE_ATTEMPTS
    while True:
        previous = await services.store.read(resource_type, id_, tx)
        _check_if_match(previous, if_match, resource_type, id_)
        access.check_write(services, resource_type, previous, "u")
        if warnings is None:  # validated once, after the caller is known to be allowed
            warnings = check_valid(services, resource)
        moment = now()
        version = new_version(services, resource, id_, previous, method, moment)
        try:
            await services.store.write(version, previous, tx,
                                       await companions(services, [version], moment))
        except Conflict:
            attempts_left -= 1
            if attempts_left == 0:
                raise
            continue
        mark_committed(services)
        await _took_effect(services, resource)
        created = previous is None or previous.deleted
        return WriteOutcome(version.as_stored(), created=created, warnings=warnings)


async def conditional_update(services: Services, resource_type: str, query: str,
                             resource: Json, if_match: int | None = None,
                             tx: Transaction | None = None) -> WriteOutcome:
    """Update the single resource matching `query`, or create one when none matches."""
    matches = await find_matching(services, resource_type, query)
    if len(matches) > 1:
        raise MultipleMatches(f"Conditional update '{query}' matched {len(matches)} resources")
    if not matches:
        id_ = resource.get("id") or new_id()
        return await update(services, resource_type, id_, {**resource, "id": id_}, if_match, tx)
    _, match_id = matches[0]
    if resource.get("id") not in (None, match_id):
        raise Invalid(f"The resource id does not match the resource found ({match_id})",
                      expression=f"{resource_type}.id")
    return await update(services, resource_type, match_id, {**resource, "id": match_id},
                        if_match, tx)


async def patch(services: Services, resource_type: str, id_: str, operations: Any,
                if_match: int | None = None) -> WriteOutcome:
    """Apply a JSON Patch to the current version and store the result as a new version.

    Raises `Invalid` for a malformed patch and `Unprocessable` when it cannot be applied or the
    result is not a valid resource.
    """
    if not isinstance(operations, list):
        raise Invalid("A JSON Patch body must be an array of operations")
    current = await read(services, resource_type, id_)
    _check_if_match(current, if_match, resource_type, id_)
    assert current.body is not None
    try:
        patched = jsonpatch.apply_patch(json.loads(current.body), operations)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise Unprocessable(f"The patch cannot be applied: {exc}") from exc
    except (TypeError, KeyError, ValueError) as exc:
        raise Invalid(f"The patch is malformed: {exc}") from exc
    if not isinstance(patched, dict) or patched.get("resourceType") != resource_type \
            or patched.get("id") != id_:
        raise Unprocessable("A patch may not change resourceType or id",
                            expression=resource_type)
    return await update(services, resource_type, id_, patched, current.version_id,
                        method="PATCH")


async def delete(services: Services, resource_type: str, id_: str,
                 tx: Transaction | None = None) -> StoredResource | None:
    """Delete a resource by writing a tombstone version.

    Returns the tombstone, or None if the resource was already deleted; raises `NotFound` if it
    never existed.
    """
    previous = await services.store.read(resource_type, id_, tx)
    if previous is None:
        raise NotFound(f"{resource_type}/{id_} is not known", expression=resource_type)
    access.check_write(services, resource_type, previous, "d")
    if previous.deleted:
        return None
    moment = now()
    version = tombstone(previous, moment)
    await services.store.write(version, previous, tx,
                               await companions(services, [version], moment))
    mark_committed(services)
    return version.as_stored()


async def conditional_delete(services: Services, resource_type: str, query: str,
                             tx: Transaction | None = None) -> StoredResource | None:
    """Delete the single resource matching `query` (none: nothing to do; several: 412)."""
    matches = await find_matching(services, resource_type, query)
    if len(matches) > 1:
        raise MultipleMatches(f"Conditional delete '{query}' matched {len(matches)} resources")
    if not matches:
        return None
    return await delete(services, resource_type, matches[0][1], tx)


def _check_if_match(current: StoredResource | None, if_match: int | None,
                    resource_type: str, id_: str) -> None:
    if if_match is None:
        return
    if current is None or current.deleted:
        raise PreconditionFailed(f"If-Match: {resource_type}/{id_} has no current version")
    if current.version_id != if_match:
        raise PreconditionFailed(
            f"If-Match: version {if_match} is stale; {resource_type}/{id_} is at version "
            f"{current.version_id}")


async def _took_effect(services: Services, resource: Json) -> None:
    """A stored conformance resource takes effect here, and in other workers (via the epoch);
    a new SearchParameter also indexes the resources already stored."""
    if services.conformance.register(resource):
        await services.store.bump_conformance_epoch()
        if resource.get("resourceType") == "SearchParameter":
            for base in resource.get("base") or []:
                await reindex(services, base)


async def reindex(services: Services, resource_type: str) -> int:
    """Rebuild the search index of every current resource of a type; return how many."""
    done = 0
    candidates = await services.store.candidates(resource_type, None)
    for start in range(0, len(candidates), REINDEX_BATCH):
        refs = [(c.resource_type, c.id) for c in candidates[start:start + REINDEX_BATCH]]
        for stored in await services.store.read_many(refs):
            assert stored.body is not None
            index = services.indexer.build_index(json.loads(stored.body))
            if await services.store.replace_index(stored.resource_type, stored.id,
                                                  stored.version_id, index):
                done += 1
    return done
