"""Agency systems exchanging native records: `POST /agencies/{agency}/records` maps and stores
them, `GET /agencies/{agency}/children/{id}` renders a child's common record back natively.

Only a client of that agency posts its records: the caller's agency Organization must be typed
with the agency (`Organization.type` from the agency-type code system). Records are stored in
chunks, each one transaction (a chunk that fails is retried record by record, so one bad record
never takes its neighbours down). A child already known to Cradle under a national identifier
(NHS number, UPN, ULN) is not created twice: the new records refer to it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import IO, Any

from server.errors import FhirError, Forbidden, Invalid, Issue, NotFound, NotSupported
from server.fhir import json
from server.interactions import access, crud
from server.interactions.agency_report import UploadReport
from server.interactions.bundles import process_bundle
from server.interactions.child_matching import match_children
from server.interactions.search import search, search_as_caller
from server.interactions.services import Services
from server.mapping import expressions, reverse
from server.mapping.catalog import Agency
from server.mapping.codes import Codes
from server.mapping.formats import ReadError
from server.mapping.forward import MappedRecord
from server.mapping.pipeline import map_document
from server.mapping.report import MappingIssue

Json = dict[str, Any]
AGENCY_TYPE = "https://cradle.example/fhir/CodeSystem/agency-type"
NATIVE_RECORD = "https://cradle.example/fhir/Id/native-record-sha256"
CHUNK = 200  # native records per database transaction


async def require_agency(services: Services, agency: str) -> str:
    """Return the caller's agency Organization id if it is an agency of kind `agency`.

    Raises Forbidden otherwise (operators included: they post no agency's records).
    """
    caller = services.caller
    if caller.agency is None:
        raise Forbidden(f"only a {agency} agency's system may post or read {agency} records")
    org_id = caller.agency.removeprefix("Organization/")
    stored = await services.store.read("Organization", org_id)
    body = json.loads(stored.body) if stored is not None and stored.body else None
    kinds = {c.get("code") for t in (body or {}).get("type", []) for c in t.get("coding", [])
             if c.get("system") == AGENCY_TYPE}
    if agency not in kinds:
        raise Forbidden(f"{caller.agency} is not registered as a {agency} agency "
                        f"(Organization.type from {AGENCY_TYPE})")
    return org_id


async def submit(services: Services, agency: Agency, source: IO[bytes], base_url: str,
                 dry_run: bool = False) -> tuple[int, IO[bytes]]:
    """Map, validate and (unless `dry_run`) store native content read from `source`, a chunk
    of records at a time; return (HTTP status, body file).

    The body is a Parameters resource with one `record` per native record (its key and place,
    outcome, the resources created or updated, every issue); when every record is rejected it
    is an OperationOutcome with status 422. Content that stops being readable part way keeps
    the records before it and reports the rest. Raises Invalid for content that is not the
    agency's format at all (or holds no records), Forbidden for a caller of another agency.
    """
    org_id = await require_agency(services, agency.name)
    codes = Codes(services.conformance.terminology)
    required = services.conformance.required_profiles if services.settings.enforce_profiles \
        else {}
    report = UploadReport(dry_run)
    pending: list[MappedRecord] = []
    try:
        try:
            for document in agency.format.documents(source, CHUNK):
                pending += map_document(agency, document, codes,
                                        services.conformance.validator, org_id, required)
                if len(pending) >= CHUNK:
                    await _settle(services, agency, pending, base_url, report)
                    pending = []
                    await asyncio.sleep(0)  # mapping is CPU work: let other requests in
        except ReadError as error:
            if report.records == 0 and not pending:
                raise _unreadable(error) from None
            await _settle(services, agency, pending, base_url, report)
            pending = []
            report.add_unreadable(MappingIssue(
                "error", "structure", f"the rest of the content cannot be read: {error}",
                "map-unreadable", error.where))
        await _settle(services, agency, pending, base_url, report)
        if report.records == 0:
            raise Invalid(issues=[Issue("error", "required", f"no {agency.name} records found "
                                        "in the content", None, "map-no-records")])
        return report.answer()
    except BaseException:
        report.close()
        raise


def _unreadable(error: ReadError) -> Invalid:
    return Invalid(issues=[Issue("error", "structure", f"{error} (at {error.where})"
                                 if error.where else str(error), None, "map-unreadable")])


async def _settle(services: Services, agency: Agency, records: list[MappedRecord],
                  base_url: str, report: UploadReport) -> None:
    """Store the accepted records of one chunk (unless a dry run) and report every record."""
    outcomes: dict[int, str] = {}
    accepted = [r for r in records if not r.rejected]
    if accepted and not report.dry_run:
        await _store_chunk(services, agency, accepted, base_url, outcomes)
    for record in records:
        report.add(record, outcomes)


async def _store_chunk(services: Services, agency: Agency, chunk: list[MappedRecord],
                       base_url: str, outcomes: dict[int, str]) -> None:
    try:
        await _store(services, agency, chunk, base_url, outcomes)
        return
    except FhirError:
        if len(chunk) == 1:
            raise
    for record in chunk:  # find the record that failed; store the others
        try:
            await _store(services, agency, [record], base_url, outcomes)
        except FhirError as error:
            record.issues += [MappingIssue(i.severity, i.code, i.diagnostics,
                                           i.message_id or "store-failed", record.location,
                                           i.expression) for i in error.issues]


async def _store(services: Services, agency: Agency, records: list[MappedRecord],
                 base_url: str, outcomes: dict[int, str]) -> None:
    await match_children(services, records, base_url)
    entries: list[Json] = []
    origin: dict[str, Json] = {}
    for record in records:
        source = _source(agency, record)
        for resource in record.resources:
            entries.append({"fullUrl": f"{base_url}/{resource.reference}",
                            "resource": resource.resource,
                            "request": {"method": "PUT", "url": resource.reference}})
            origin[resource.reference] = source
    if not entries:
        return
    scoped = dataclasses.replace(services, origin=origin)
    response = await process_bundle(scoped, base_url, {
        "resourceType": "Bundle", "type": "transaction", "entry": entries},
        status_of=lambda _: 200, minimal=True, prevalidated=True)
    statuses = iter(e.get("response", {}).get("status", "") for e in response["entry"])
    for record in records:
        for resource in record.resources:
            outcomes[id(resource)] = "created" if next(statuses, "").startswith("201") \
                else "updated"


def _source(agency: Agency, record: MappedRecord) -> Json:
    """The Provenance fields naming the native record and the map that read it."""
    mapping = agency.mapping
    return {
        "policy": [f"{mapping.url}|{mapping.version}"],
        "entity": [{"role": "source", "what": {
            "identifier": {"system": NATIVE_RECORD, "value": record.digest},
            "display": f"{agency.name} record {record.key or ''} at {record.location}"
                       .replace("  ", " ")}}]}


async def find_children(services: Services, params: list[tuple[str, str]],
                        base_url: str) -> list[str]:
    """Return the ids of the children a Patient search finds for the caller (need-to-know
    applies). Raises NotFound when it finds none."""
    bundle = await search_as_caller(services, "Patient", params, base_url)
    ids = [e["resource"]["id"] for e in bundle.get("entry", [])
           if e.get("search", {}).get("mode") == "match"]
    if not ids:
        raise NotFound("no child matches the search")
    return ids


async def render_children(services: Services, agency: Agency, child_ids: list[str]) -> bytes:
    """Return the children's common records rendered in `agency`'s native format: each child
    and every record about it the caller may read, through the agency's map in reverse (a
    format holding one record per document renders the first child only).

    Raises NotFound (or Forbidden) as a read of a Patient would.
    """
    await require_agency(services, agency.name)
    codes = Codes(services.conformance.terminology)
    records = [await _child_record(services, agency, child_id) for child_id in child_ids]
    try:
        rendered = reverse.render(agency.mapping, records, codes,
                                  (services.caller.agency or "").removeprefix("Organization/"))
        return agency.format.render(rendered.tree, agency.columns)
    except ValueError as error:  # PathError, or a tree the format cannot write
        raise NotSupported(f"the {agency.name} map cannot render this record: {error}") \
            from None


async def _child_record(services: Services, agency: Agency, child_id: str) -> dict[str, list[Json]]:
    stored = await crud.read(services, "Patient", child_id)
    patient = json.loads(stored.body or b"{}")
    gate = access.Gate(services)
    by_name: dict[str, list[Json]] = {}
    placed = False
    for resource_map in agency.mapping.walk():
        if resource_map.type == "Patient":
            # A map with several child maps (one per document kind) renders the first that
            # selects this child: one native document has one root.
            if not placed and _selected(resource_map.select, patient):
                by_name[resource_map.name], placed = [patient], True
            continue
        found = await search(services.store, services.search_parameters, resource_map.type,
                             [("patient", f"Patient/{child_id}"), ("_count", "100")],
                             "", gate=gate)
        chosen = [e["resource"] for e in found.get("entry", [])
                  if e.get("search", {}).get("mode") == "match"
                  and _selected(resource_map.select, e["resource"])]
        gate.note_returned(chosen)
        by_name[resource_map.name] = chosen
    return by_name


def _selected(select: str | None, resource: Json) -> bool:
    return select is None or bool(expressions.holds(select, resource, {}))
