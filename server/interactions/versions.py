"""Turning a client's resource into a new stored version (validate, stamp meta, index)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.errors import Invalid, Issue, Unprocessable, is_error
from server.fhir import json
from server.fhir.ids import is_valid_id
from server.fhir.instant import format_instant, now
from server.interactions.services import Services
from server.store import NewVersion, StoredResource

Json = dict[str, Any]


def check_valid(services: Services, resource: Json, where: str | None = None) -> list[Issue]:
    """Validate `resource` (against the profile its type must conform to, when enforced, and
    every known profile in its `meta.profile`); return its warnings, or raise `Unprocessable`
    with every issue.

    `where` prefixes each expression (e.g. `Bundle.entry[3].resource`) for resources in a Bundle.
    """
    issues = services.validator.validate(resource, services.required_profile(
        resource["resourceType"]))
    if where:
        issues = [_relocate(issue, where) for issue in issues]
    if any(is_error(issue) for issue in issues):
        raise Unprocessable(issues=issues)
    return issues


def _relocate(issue: Issue, where: str) -> Issue:
    if not issue.expression:
        return issue
    _, _, rest = issue.expression.partition(".")
    expression = f"{where}.{rest}" if rest else where
    return Issue(issue.severity, issue.code, issue.diagnostics, expression, issue.message_id)


def new_version(services: Services, resource: Json, id_: str, previous: StoredResource | None,
                method: str, moment: datetime | None = None) -> NewVersion:
    """Stamp `resource` with id and meta, index it, and return the version to store.

    The resource must already be valid. `previous` is the current version (None if none), so the
    new version number follows it; a tombstone's successor continues the numbering.
    """
    if not is_valid_id(id_):
        raise Invalid(f"'{id_}' is not a valid FHIR id",
                      expression=f"{resource['resourceType']}.id")
    moment = moment or now()
    version_id = previous.version_id + 1 if previous else 1
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version_id)
    meta["lastUpdated"] = format_instant(moment)
    stamped = {"resourceType": resource["resourceType"], "id": id_, "meta": meta}
    stamped.update((k, v) for k, v in resource.items() if k not in stamped)
    index = services.indexer.build_index(stamped)
    # Access labels: the authoring agency stays with the resource; its children follow content.
    owner = previous.owner if previous is not None else services.caller.agency
    return NewVersion(
        resource_type=resource["resourceType"], id=id_, version_id=version_id,
        last_updated=moment, body=json.dumps(stamped), index=index, method=method,
        owner=owner, subjects=services.compartment.subjects(stamped["resourceType"], id_,
                                                            index["k"]),
    )


def tombstone(previous: StoredResource, moment: datetime | None = None) -> NewVersion:
    """Return the deletion version that follows `previous`."""
    return NewVersion(
        resource_type=previous.resource_type, id=previous.id,
        version_id=previous.version_id + 1, last_updated=moment or now(), body=None,
        index=None, method="DELETE", owner=previous.owner, subjects=previous.subjects or (),
    )
