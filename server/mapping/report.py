"""What a mapping says about a record: issues that name the place in the native record (the
agency's terms) and, once the FHIR result is validated, the FHIRPath of the element too."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

MESSAGE_IDS = "https://cradle.example/fhir/CodeSystem/message-id"


@dataclass(frozen=True)
class MappingIssue:
    severity: str  # fatal | error | warning | information
    code: str  # FHIR IssueType
    message: str
    message_id: str
    native: str | None = None  # e.g. "line 3, column 10 (DOB)", "PID-7", "/Pupils/..."
    expression: str | None = None  # FHIRPath in the mapped resource

    def at(self, expression: str | None) -> MappingIssue:
        return replace(self, expression=expression)

    def as_fhir(self) -> dict[str, Any]:
        """Return an OperationOutcome.issue; `location` carries the native place."""
        out: dict[str, Any] = {
            "severity": self.severity, "code": self.code,
            "details": {"coding": [{"system": MESSAGE_IDS, "code": self.message_id}],
                        "text": self.message},
            "diagnostics": self.message if self.native is None
            else f"{self.message} (at {self.native})"}
        if self.native:
            out["location"] = [self.native]
        if self.expression:
            out["expression"] = [self.expression]
        return out
