"""What every audited request leaves behind: its AuditEvent and, for writes, the Provenance
and any involvements it opened, stored in the same transaction as the write itself."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from server.errors import FhirError
from server.fhir import json
from server.fhir.ids import new_id
from server.fhir.instant import format_instant, now
from server.interactions import access
from server.interactions.services import Services
from server.interactions.versions import new_version
from server.security import records
from server.security.policy import Involvement
from server.store import NewVersion

Json = dict[str, Any]


def server_version(services: Services, resource: Json, moment: datetime,
                   owner: str | None, subjects: tuple[str, ...]) -> NewVersion:
    """Return a version of a resource the server writes itself (already valid by construction)."""
    version = new_version(services, resource, new_id(), None, "POST", moment)
    return dataclasses.replace(version, owner=owner, subjects=subjects)


def audit_version(services: Services, outcome: str = "success",
                  description: str | None = None, moment: datetime | None = None,
                  record: records.AccessRecord | None = None) -> NewVersion:
    """Return the AuditEvent of the current request (of `record`, by default its own)."""
    record = record or services.record
    assert record is not None
    moment = moment or now()
    event = records.audit_event(services.caller, record, format_instant(moment), outcome,
                                description)
    return server_version(services, event, moment, None, tuple(sorted(record.subjects)))


async def audit(services: Services, error: BaseException | None = None) -> None:
    """Store the request's AuditEvent, unless a write already stored it with its transaction.

    A failure is recorded with its outcome: minor for a refused or invalid request, serious
    for a server error.
    """
    record = services.record
    if record is None or (record.committed and error is None):
        return
    if error is None:
        await services.store.append(audit_version(services))
        return
    serious = not isinstance(error, FhirError) or _server_side(error)
    description = str(error) if isinstance(error, FhirError) else "internal server error"
    await services.store.append(audit_version(services, "serious" if serious else "minor",
                                              description))


def mark_committed(services: Services) -> None:
    """The write and its AuditEvent are stored: the request needs no other audit record."""
    if services.record is not None:
        services.record.committed = True


def _server_side(error: FhirError) -> bool:
    return error.code in ("exception", "transient")


async def companions(services: Services, written: list[NewVersion],
                     moment: datetime) -> list[NewVersion]:
    """Return the records to store with an audited write: involvements it opens, its
    Provenance and its AuditEvent (the caller marks the request's record committed once the
    write is stored; a retried write builds them again)."""
    record = services.record
    if record is None or not written:
        return []
    opened = await _involvements(services, written, moment)
    targets = [*written, *opened]
    subjects = tuple(sorted({s for v in targets for s in v.subjects}))
    activity = "delete" if all(v.deleted for v in written) else (
        "create" if all(v.version_id == 1 for v in written) else "update")
    extra = [*opened]
    for group, source in _by_origin(services, written, opened):
        provenance = records.provenance(
            services.caller, [f"{v.resource_type}/{v.id}/_history/{v.version_id}"
                              for v in group], activity, format_instant(moment))
        provenance.update(source)
        group_subjects = tuple(sorted({s for v in group for s in v.subjects}))
        extra.append(server_version(services, provenance, moment, services.caller.agency,
                                    group_subjects or subjects))
    event = dataclasses.replace(record, entities=list(record.entities),
                                subjects=set(record.subjects), rules=list(record.rules))
    for version in targets:
        event.touched(f"{version.resource_type}/{version.id}/_history/{version.version_id}",
                      version.subjects)
    extra.append(audit_version(services, moment=moment, record=event))
    return extra


def _by_origin(services: Services, written: list[NewVersion],
               opened: list[NewVersion]) -> list[tuple[list[NewVersion], Json]]:
    """Group the versions by the native record they came from (one Provenance each); without
    an origin, everything written together shares one Provenance."""
    if not services.origin:
        return [([*written, *opened], {})]
    groups: dict[str, tuple[list[NewVersion], Json]] = {}
    for version in written:
        source = services.origin.get(f"{version.resource_type}/{version.id}", {})
        key = repr(sorted(source.items()))
        groups.setdefault(key, ([], source))[0].append(version)
    out = list(groups.values())
    if opened and len(out) == 1:  # one native record: its involvements share its Provenance
        out[0][0].extend(opened)
    elif opened:
        out.append((opened, {}))
    return out


async def _involvements(services: Services, written: list[NewVersion],
                        moment: datetime) -> list[NewVersion]:
    """Open an involvement for the submitting agency, and for every agency a record is
    addressed to, with each child the records are about (unless one is open already)."""
    policy, agency = services.policy, services.caller.agency
    wanted: dict[tuple[str, str], tuple[str, str]] = {}
    involved: list[Involvement] = []
    for version in written:
        if version.body is None:
            continue
        resource = json.loads(version.body)
        if version.resource_type == "EpisodeOfCare":
            found = Involvement.from_resource(resource)
            involved += [found] if found else []
        for child in version.subjects:
            for recipient in policy.recipients_of(resource):
                wanted.setdefault((child, recipient),
                                  (policy.recipient_type, policy.recipient_status))
            if agency is not None:
                wanted[(child, agency)] = (policy.submitter_type, "active")
    if not wanted:
        return []
    # A child created by this very write can have no involvement yet: no need to look.
    created = {f"Patient/{v.id}" for v in written
               if v.resource_type == "Patient" and v.version_id == 1}
    existing = {child for child, _ in wanted} - created
    if existing:
        involved += await access.involvements_of(services, existing)
    today = moment.date().isoformat()
    open_pairs = {(i.child, i.agency) for i in involved if policy.grants(i, today)}
    return [server_version(services, records.involvement(child, who, kind, today, status),
                           moment, who, (child,))
            for (child, who), (kind, status) in sorted(wanted.items())
            if (child, who) not in open_pairs]
