"""The whole offline transform: native bytes -> parsed -> schema -> map -> profile validation,
every issue located in the native record (and, for profile issues, in the FHIR resource)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from server.errors import Issue
from server.mapping.catalog import Agency
from server.mapping.codes import Codes
from server.mapping.formats import Document
from server.mapping.forward import MappedRecord, MappedResource, transform
from server.mapping.paths import Pointer
from server.mapping.report import MappingIssue
from server.validation import ResourceValidator

_STEP = re.compile(r"([A-Za-z0-9_]+)(?:\[(\d+)\])?")


def map_native(agency: Agency, data: bytes, codes: Codes, validator: ResourceValidator,
               agency_id: str, required: Mapping[str, str] | None = None) -> list[MappedRecord]:
    """Return every native record of `data` mapped and validated against the profiles: each
    resource's `meta.profile` and, as the server enforces, `required[type]`.

    Raises ReadError when `data` is not the agency's format at all.
    """
    return map_document(agency, agency.format.read(data), codes, validator, agency_id, required)


def map_document(agency: Agency, document: Document, codes: Codes,
                 validator: ResourceValidator, agency_id: str,
                 required: Mapping[str, str] | None = None) -> list[MappedRecord]:
    """Return the native records of one parsed document mapped and validated, as `map_native`
    does (a bulk upload is read as several documents, one chunk of records each)."""
    mapped = transform(agency.mapping, document, agency.schema, codes, agency_id)
    for record in mapped:
        if record.rejected:
            continue
        for resource in record.resources:
            body = resource.resource
            for issue in validator.validate(body, (required or {}).get(body["resourceType"])):
                if issue.severity in ("error", "fatal", "warning"):
                    record.issues.append(_located(issue, resource, record, document.locate))
    return mapped


def _located(issue: Issue, resource: MappedResource, record: MappedRecord,
             locate: Callable[[Pointer], str]) -> MappingIssue:
    native = _native_place(resource, issue.expression)
    where = locate(native) if native is not None else record.location
    return MappingIssue(issue.severity, issue.code, issue.diagnostics,
                        issue.message_id or "profile-invalid", where, issue.expression)


def _native_place(resource: MappedResource, expression: str | None) -> Pointer | None:
    """Return the native place of the FHIR element `expression` names: the origin of the
    longest written path it falls in."""
    if not expression:
        return None
    pointer: list[str | int] = []
    for step in expression.split(".")[1:]:
        found = _STEP.fullmatch(step)
        if found is None:
            break
        pointer.append(found.group(1))
        if found.group(2) is not None:
            pointer.append(int(found.group(2)))
    best: Pointer | None = None
    best_length = -1
    for written, native in resource.origins.items():
        shared = 0
        for a, b in zip(written, pointer, strict=False):
            if a != b:
                break
            shared += 1
        if shared > best_length and shared > 0:
            best, best_length = native, shared
    return best
