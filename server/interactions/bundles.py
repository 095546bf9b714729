"""Batch and transaction Bundles (`POST [base]`).

A transaction is all or nothing: every entry is resolved and validated first, then all writes
happen in one MongoDB multi-document transaction. Entries are processed in the order the spec
sets (DELETE, POST, PUT/PATCH, then GET/HEAD); `urn:uuid:` fullUrls are replaced everywhere by
the ids the server assigns. A batch processes each entry on its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from server.errors import (
    Contention,
    FhirError,
    Invalid,
    Issue,
    MultipleMatches,
    NotFound,
    PreconditionFailed,
    operation_outcome,
)
from server.fhir.bundle import body_of, bundle, response_entry
from server.fhir.ids import new_id, parse_etag
from server.fhir.instant import format_instant, now
from server.fhir.references import rewrite_references
from server.interactions import access, crud
from server.interactions.history import history
from server.interactions.matching import find_matching
from server.interactions.recording import audit, companions, mark_committed
from server.interactions.search import search_as_caller
from server.interactions.services import Services
from server.interactions.versions import check_valid, new_version, tombstone
from server.security.records import AccessRecord
from server.store import NewVersion, StoredResource

Json = dict[str, Any]
StatusOf = Callable[[FhirError], int]
ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}  # spec order
REASONS = {200: "OK", 201: "Created", 204: "No Content"}
TRANSACTION_ATTEMPTS = 5
WRITE_ACTIONS = {"POST": "c", "PUT": "u", "DELETE": "d"}
BATCH_INTERACTIONS = {"POST": "create", "PUT": "update", "DELETE": "delete", "GET": "read",
                      "HEAD": "read"}


@dataclass
class Entry:
    """One parsed Bundle entry and what resolving it decided."""

    index: int
    method: str
    url: str
    resource: Json | None
    full_url: str | None
    if_none_exist: str | None
    if_match: str | None
    resource_type: str = ""
    id: str | None = None
    query: str | None = None
    existing: StoredResource | None = None
    matched: bool = False  # a conditional create or delete resolved to an existing resource
    noop: bool = False  # a conditional delete that matched nothing
    response: Json = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"Bundle.entry[{self.index}]"


async def process_bundle(services: Services, base_url: str, body: Json,
                         status_of: StatusOf, minimal: bool = False,
                         prevalidated: bool = False) -> Json:
    """Process a batch or transaction Bundle and return its response Bundle.

    `prevalidated`: the caller (agency record submission) has validated every resource
    exactly as a write would, so a transaction does not do it twice.

    Raises `Invalid` for a malformed Bundle; for a transaction, the first failing entry's
    error (with its expression pointing into the Bundle) aborts everything.
    """
    kind = body.get("type")
    if body.get("resourceType") != "Bundle" or kind not in ("batch", "transaction"):
        raise Invalid("POST to the base URL takes a Bundle of type batch or transaction",
                      expression="Bundle.type")
    raw_entries = body.get("entry") or []
    if not isinstance(raw_entries, list):
        raise Invalid("Bundle.entry must be an array", expression="Bundle.entry")
    entries = [_parse_entry(services, i, e) for i, e in enumerate(raw_entries)]
    if kind == "batch":
        return bundle("batch-response", [await _batch_entry(services, base_url, entry,
                                                            status_of, minimal)
                                         for entry in entries])
    await _transaction(services, base_url, entries, minimal, prevalidated)
    return bundle("transaction-response", [e.response for e in entries])


def _parse_entry(services: Services, index: int, raw: Any) -> Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("request"), dict):
        raise Invalid("Each entry needs a request", expression=f"{where}.request")
    request = raw["request"]
    method, url = request.get("method"), request.get("url")
    if method not in ORDER or not isinstance(url, str) or not url:
        raise Invalid("request.method must be GET, HEAD, POST, PUT or DELETE, "
                      "with a request.url", expression=f"{where}.request")
    if method == "PATCH":
        raise Invalid("PATCH entries are not supported in Bundles; PATCH the resource with "
                      "JSON Patch over HTTP", expression=f"{where}.request.method")
    resource = raw.get("resource")
    if method in ("POST", "PUT") and not isinstance(resource, dict):
        raise Invalid(f"A {method} entry needs a resource", expression=f"{where}.resource")
    entry = Entry(index, method, url, resource, raw.get("fullUrl"),
                  request.get("ifNoneExist"), request.get("ifMatch"))
    path, _, entry.query = url.partition("?")
    parts = path.strip("/").split("/")
    entry.resource_type = parts[0]
    entry.id = parts[1] if len(parts) > 1 else None
    entry.query = entry.query or None
    if not services.supports_type(entry.resource_type) and method != "GET":
        raise Invalid(f"Unknown resource type '{entry.resource_type}'",
                      expression=f"{where}.request.url")
    if method in ("POST", "PUT") and resource is not None \
            and resource.get("resourceType") != entry.resource_type:
        raise Invalid("The resource type does not match request.url",
                      expression=f"{where}.resource")
    return entry


async def _transaction(services: Services, base_url: str, entries: list[Entry],
                       minimal: bool, prevalidated: bool = False) -> None:
    references = await _resolve_identities(services, entries)
    writes = sorted((e for e in entries if e.method not in ("GET", "HEAD")),
                    key=lambda e: ORDER[e.method])
    for entry in writes:
        if entry.resource is not None:
            entry.resource = services.conformance.prepare(
                rewrite_references(entry.resource, references))
            if not prevalidated:
                check_valid(services, entry.resource, f"{entry.where}.resource")
    for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
        try:
            await _write_transaction(services, base_url, writes, minimal)
            break
        except Contention:
            if attempt == TRANSACTION_ATTEMPTS:
                raise
    mark_committed(services)
    # Committed: conformance resources take effect here and, via the epoch, in other workers.
    if services.conformance.register(*(e.resource for e in writes if e.resource is not None)):
        await services.store.bump_conformance_epoch()
    reads = [e for e in entries if e.method in ("GET", "HEAD")]
    if reads:  # after the commit: audited as a request of their own
        await _audited(services, "transaction", lambda s: _read_entries(s, base_url, reads))


async def _write_transaction(services: Services, base_url: str, writes: list[Entry],
                             minimal: bool) -> None:
    """Plan and store every write in one database transaction (rerun whole on contention)."""
    moment = now()
    async with services.store.transaction() as tx:
        # One read for every resource the writes replace, not one per entry.
        current = await services.store.read_current(
            ((e.resource_type, e.id) for e in writes
             if e.method != "POST" and not e.noop and not e.matched and e.id), tx)
        planned: list[tuple[NewVersion, StoredResource | None]] = []
        for entry in writes:
            version = await _plan_write(services, entry, tx, moment, current)
            if version is not None:
                planned.append((version, entry.existing))
                entry.response = _write_response(base_url, entry, version, minimal)
        extra = await companions(services, [v for v, _ in planned], moment)
        await services.store.write_all([*planned, *((e, None) for e in extra)], tx)


async def _read_entries(services: Services, base_url: str, entries: list[Entry]) -> None:
    for entry in entries:
        entry.response = await _read_entry(services, base_url, entry)


async def _audited(services: Services, interaction: str,
                   work: Callable[[Services], Awaitable[None]]) -> None:
    """Run `work` as a request of its own in the audit trail (one batch entry, say)."""
    if services.record is None:
        await work(services)
        return
    own = services.acting_as(services.caller, AccessRecord(interaction))
    try:
        await work(own)
    except Exception as error:
        await audit(own, error)
        raise
    await audit(own)


async def _resolve_identities(services: Services, entries: list[Entry]) -> dict[str, str]:
    """Decide the id every write entry targets; return the fullUrl → reference rewrites."""
    references: dict[str, str] = {}
    seen: set[str] = set()
    for entry in entries:
        if entry.method in ("GET", "HEAD"):
            continue
        conditional = entry.query if entry.id is None else None
        if entry.method == "POST":
            entry.id = new_id()
            conditional = entry.if_none_exist
        if conditional:
            matches = await find_matching(services, entry.resource_type, conditional)
            if len(matches) > 1:
                raise MultipleMatches(f"'{conditional}' matched {len(matches)} resources",
                                      expression=f"{entry.where}.request")
            if matches:
                entry.id = matches[0][1]
                entry.matched = entry.method == "POST"
            elif entry.method in ("PUT", "PATCH"):
                entry.id = (entry.resource or {}).get("id") or new_id()
            elif entry.method == "DELETE":
                entry.noop = True
        target = f"{entry.resource_type}/{entry.id}"
        if not entry.noop and target in seen:
            raise Invalid(f"{target} appears more than once in the transaction",
                          expression=entry.where)
        seen.add(target)
        if entry.full_url:
            references[entry.full_url] = target
        if entry.resource is not None and entry.method in ("PUT", "POST"):
            body_id = entry.resource.get("id")
            if entry.method == "PUT" and entry.query is None and body_id != entry.id:
                raise Invalid(f"The resource id '{body_id}' does not match request.url",
                              expression=f"{entry.where}.resource.id")
            entry.resource = {**entry.resource, "id": entry.id}
    return references


async def _plan_write(services: Services, entry: Entry, tx: Any, moment: Any,
                      current: dict[tuple[str, str], StoredResource]) -> NewVersion | None:
    assert entry.id is not None
    if entry.noop:
        entry.response = response_entry("204 No Content")
        return None
    if entry.matched:
        found = await crud.read(services, entry.resource_type, entry.id, tx)
        entry.response = response_entry("200 OK", location=_location(found),
                                        version_id=found.version_id,
                                        last_modified=format_instant(found.last_updated))
        return None
    if entry.method != "POST":  # a POST's id is freshly assigned: nothing to read
        entry.existing = current.get((entry.resource_type, entry.id))
    _check_if_match(entry)
    try:
        access.check_write(services, entry.resource_type, entry.existing,
                           WRITE_ACTIONS[entry.method])
    except FhirError as error:
        raise type(error)(issues=[_at(issue, entry.where) for issue in error.issues]) from error
    if entry.method == "DELETE":
        if entry.existing is None or entry.existing.deleted:
            entry.response = response_entry("204 No Content")
            return None
        return tombstone(entry.existing, moment)
    assert entry.resource is not None
    return new_version(services, entry.resource, entry.id, entry.existing, entry.method, moment)


def _check_if_match(entry: Entry) -> None:
    if entry.if_match is None:
        return
    wanted = parse_etag(entry.if_match)
    current = entry.existing
    if current is None or current.deleted or current.version_id != wanted:
        raise PreconditionFailed(f"ifMatch {entry.if_match} is not the current version",
                                 expression=f"{entry.where}.request.ifMatch")


def _write_response(base_url: str, entry: Entry, version: NewVersion, minimal: bool) -> Json:
    if version.deleted:
        return response_entry("204 No Content")
    created = entry.existing is None or entry.existing.deleted
    status = "201 Created" if created else "200 OK"
    stored = version.as_stored()
    return response_entry(
        status, resource=None if minimal else body_of(version.body),
        full_url=f"{base_url}/{stored.reference}", location=_location(stored),
        version_id=version.version_id, last_modified=format_instant(version.last_updated))


def _location(stored: StoredResource) -> str:
    return f"{stored.reference}/_history/{stored.version_id}"


async def _read_entry(services: Services, base_url: str, entry: Entry) -> Json:
    parts = entry.url.partition("?")[0].strip("/").split("/")
    params = parse_qsl(entry.query or "", keep_blank_values=True)
    if len(parts) == 1 and parts[0] and services.supports_type(parts[0]):
        result = await search_as_caller(services, parts[0], params, base_url)
        return response_entry("200 OK", resource=result)
    if len(parts) == 2:
        stored = await crud.read(services, parts[0], parts[1])
    elif len(parts) == 4 and parts[2] == "_history":
        stored = await crud.vread(services, parts[0], parts[1], parts[3])
    elif parts[-1] == "_history":
        rtype = parts[0] if len(parts) >= 2 else None
        rid = parts[1] if len(parts) == 3 else None
        return response_entry("200 OK", resource=await history(services, base_url, rtype, rid,
                                                               params))
    else:
        raise NotFound(f"Cannot read '{entry.url}'", expression=f"{entry.where}.request.url")
    return response_entry("200 OK", resource=body_of(stored.body),
                          version_id=stored.version_id,
                          last_modified=format_instant(stored.last_updated))


async def _batch_entry(services: Services, base_url: str, entry: Entry, status_of: StatusOf,
                       minimal: bool) -> Json:
    """Process one batch entry on its own, audited as a request of its own; an error becomes
    that entry's outcome."""
    own = services if services.record is None else services.acting_as(
        services.caller, AccessRecord(BATCH_INTERACTIONS[entry.method],
                                      entry.resource_type or None, entry.query))
    try:
        response = await _run_batch_entry(own, base_url, entry, minimal)
    except FhirError as error:
        await audit(own, error)
        code = status_of(error)
        return response_entry(f"{code} {REASONS.get(code, '')}".strip(),
                              outcome=operation_outcome(error.issues))
    await audit(own)
    return response


async def _run_batch_entry(services: Services, base_url: str, entry: Entry,
                           minimal: bool) -> Json:
    if entry.method in ("GET", "HEAD"):
        return await _read_entry(services, base_url, entry)
    outcome: crud.WriteOutcome | None = None
    resource = entry.resource or {}
    if entry.method == "POST":
        outcome = await crud.create(services, entry.resource_type, resource,
                                    entry.if_none_exist)
    elif entry.method == "PUT" and entry.id:
        outcome = await crud.update(services, entry.resource_type, entry.id, resource,
                                    _etag(entry.if_match))
    elif entry.method == "PUT" and entry.query:
        outcome = await crud.conditional_update(services, entry.resource_type,
                                                entry.query, resource, _etag(entry.if_match))
    elif entry.method == "DELETE" and entry.id:
        await crud.delete(services, entry.resource_type, entry.id)
        return response_entry("204 No Content")
    elif entry.method == "DELETE" and entry.query:
        await crud.conditional_delete(services, entry.resource_type, entry.query)
        return response_entry("204 No Content")
    else:
        raise Invalid(f"{entry.method} {entry.url} is not supported in a batch",
                      expression=f"{entry.where}.request")
    assert outcome is not None
    stored = outcome.stored
    status = "201 Created" if outcome.created else "200 OK"
    return response_entry(
        status, resource=None if minimal else body_of(stored.body),
        full_url=f"{base_url}/{stored.reference}", location=_location(stored),
        version_id=stored.version_id, last_modified=format_instant(stored.last_updated))


def _at(issue: Issue, where: str) -> Issue:
    return Issue(issue.severity, issue.code, issue.diagnostics, where, issue.message_id)


def _etag(value: str | None) -> int | None:
    return parse_etag(value) if value else None
