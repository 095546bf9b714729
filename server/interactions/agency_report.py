"""The answer to an agency's upload, written as the records are processed: a Parameters
resource with one `record` per native record, spooled to a temporary file (to disk past a few
megabytes) so a 50,000-row extract costs no more memory than a 50-row one."""

from __future__ import annotations

import tempfile
from typing import IO, Any

from server.fhir import json
from server.mapping.forward import MappedRecord
from server.mapping.report import MappingIssue

Json = dict[str, Any]
IN_MEMORY = 4 * 1024 * 1024  # bytes of answer kept in memory before spooling to disk
MAX_OUTCOME_ISSUES = 1000  # issues in a whole-upload OperationOutcome (all rejected)


class UploadReport:
    """Counts, and the per-record Parameters entries, of one upload."""

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.records = 0
        self.rejected = 0
        self.rejections: list[MappingIssue] = []  # for the 422 answer, capped
        # Lives as long as the answer: the response closes it once sent.
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(IN_MEMORY)  # noqa: SIM115
        self._file.write(b'{"resourceType":"Parameters","parameter":[')

    def add(self, record: MappedRecord, outcomes: dict[int, str]) -> None:
        """Write the entry of one native record (`outcomes`: resource -> created/updated)."""
        self.records += 1
        if record.rejected:
            self.rejected += 1
            room = MAX_OUTCOME_ISSUES - len(self.rejections)
            self.rejections += record.issues[:max(room, 0)]
        outcome = "rejected" if record.rejected else "would-store" if self.dry_run \
            else "stored"
        parts: list[Json] = [{"name": "location", "valueString": record.location},
                             {"name": "outcome", "valueCode": outcome}]
        if record.key:
            parts.insert(0, {"name": "key", "valueString": record.key})
        for resource in record.resources:
            if self.dry_run:
                parts.append({"name": "resource", "resource": resource.resource})
            elif not record.rejected and id(resource) in outcomes:
                parts.append({"name": outcomes[id(resource)],
                              "valueReference": {"reference": resource.reference}})
        if record.issues:
            parts.append({"name": "issues", "resource": outcome_of(record.issues)})
        if self.records > 1:
            self._file.write(b",")
        self._file.write(json.dumps({"name": "record", "part": parts}))

    def add_unreadable(self, issue: MappingIssue) -> None:
        """Record that the rest of the upload could not be read (earlier records stand)."""
        self.records += 1
        self.rejected += 1
        self.rejections.append(issue)
        if self.records > 1:
            self._file.write(b",")
        self._file.write(json.dumps({"name": "record", "part": [
            {"name": "location", "valueString": issue.native or "content"},
            {"name": "outcome", "valueCode": "rejected"},
            {"name": "issues", "resource": outcome_of([issue])}]}))

    def answer(self) -> tuple[int, IO[bytes]]:
        """Return (HTTP status, body file at its start): 422 with an OperationOutcome when
        every record was rejected, else 200 with the Parameters."""
        if self.rejected == self.records:
            self._file.close()
            body: IO[bytes] = tempfile.SpooledTemporaryFile(IN_MEMORY)  # noqa: SIM115
            outcome = outcome_of(self.rejections)
            if self.rejected > 1:
                outcome["issue"].append({
                    "severity": "information", "code": "informational",
                    "diagnostics": f"all {self.records} records were rejected"})
            body.write(json.dumps(outcome))
            body.seek(0)
            return 422, body
        self._file.write(b"]}")
        self._file.seek(0)
        return 200, self._file

    def close(self) -> None:
        self._file.close()


def outcome_of(issues: list[MappingIssue]) -> Json:
    """Return an OperationOutcome of mapping issues (an empty list: one "no issues")."""
    return {"resourceType": "OperationOutcome",
            "issue": [i.as_fhir() for i in issues] or [
                {"severity": "information", "code": "informational",
                 "diagnostics": "no issues"}]}
