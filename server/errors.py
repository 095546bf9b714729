"""Typed errors, each carrying FHIR OperationOutcome issues.

Layers below the API raise these; the API layer maps each class to one HTTP status
(see `server.api.outcomes`). Content problems found by validation are *returned* as
lists of `Issue`; control problems (not found, conflict, ...) are *raised*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["fatal", "error", "warning", "information"]


@dataclass(frozen=True, slots=True)
class Issue:
    """One OperationOutcome.issue.

    `code` is a FHIR IssueType code (invalid, structure, required, value, not-found, ...);
    `message_id` is Cradle's stable identifier for the diagnostic (e.g. `unknown-element`);
    `expression` is a FHIRPath expression naming the offending element, when known.
    """

    severity: Severity
    code: str
    diagnostics: str
    expression: str | None = None
    message_id: str | None = None

    def as_fhir(self) -> dict[str, object]:
        """Return the issue as an OperationOutcome.issue JSON object."""
        out: dict[str, object] = {"severity": self.severity, "code": self.code}
        if self.message_id:
            out["details"] = {
                "coding": [
                    {"system": "https://cradle.example/fhir/CodeSystem/message-id",
                     "code": self.message_id}
                ],
                "text": self.diagnostics,
            }
        out["diagnostics"] = self.diagnostics
        if self.expression:
            out["expression"] = [self.expression]
        return out


def is_error(issue: Issue) -> bool:
    """True for issues that must stop a write (error or fatal)."""
    return issue.severity in ("error", "fatal")


def operation_outcome(issues: list[Issue]) -> dict[str, object]:
    """Build an OperationOutcome resource from issues (an informational one if empty)."""
    if not issues:
        issues = [Issue("information", "informational", "All OK")]
    return {"resourceType": "OperationOutcome", "issue": [i.as_fhir() for i in issues]}


class FhirError(Exception):
    """Base of every error that becomes an OperationOutcome response."""

    code = "exception"
    message_id = "error"

    def __init__(self, diagnostics: str = "", *, issues: list[Issue] | None = None,
                 expression: str | None = None) -> None:
        super().__init__(diagnostics or (issues[0].diagnostics if issues else ""))
        self.issues = issues or [
            Issue("error", self.code, diagnostics, expression, self.message_id)
        ]


class NotFound(FhirError):
    code = "not-found"
    message_id = "not-found"


class Gone(FhirError):
    """The resource existed and was deleted."""

    code = "deleted"
    message_id = "deleted"


class Invalid(FhirError):
    """The request content is not valid (bad resource, bad parameter)."""

    code = "invalid"
    message_id = "invalid"


class Unprocessable(FhirError):
    """Syntactically fine but breaks FHIR rules (validation errors on a resource)."""

    code = "processing"
    message_id = "validation-failed"


class Conflict(FhirError):
    code = "conflict"
    message_id = "conflict"


class Contention(Conflict):
    """Concurrent transactions collided in the database; running the transaction again is
    safe (nothing of it was committed)."""


class PreconditionFailed(FhirError):
    code = "conflict"
    message_id = "precondition-failed"


class MultipleMatches(PreconditionFailed):
    """A conditional interaction matched more than one resource."""

    code = "multiple-matches"
    message_id = "multiple-matches"


class NotSupported(FhirError):
    code = "not-supported"
    message_id = "not-supported"


class MethodNotAllowed(NotSupported):
    message_id = "method-not-allowed"


class UnsupportedMediaType(FhirError):
    code = "not-supported"
    message_id = "unsupported-media-type"


class TooLarge(FhirError):
    code = "too-costly"
    message_id = "body-too-large"


class Unavailable(FhirError):
    """The database (or another dependency) cannot be reached."""

    code = "transient"
    message_id = "unavailable"


class Unauthorized(FhirError):
    """No valid access token (or client credentials) came with the request."""

    code = "login"
    message_id = "unauthorized"


class InvalidToken(Unauthorized):
    """An access token was sent but is expired, tampered with or not ours (RFC 6750)."""


class Forbidden(FhirError):
    """The caller is known but no rule lets it do this."""

    code = "forbidden"
    message_id = "forbidden"


class TooManyRequests(FhirError):
    """The caller exceeded its request rate; `retry_after` says when to try again (s)."""

    code = "throttled"
    message_id = "rate-limited"

    def __init__(self, diagnostics: str, retry_after: int) -> None:
        super().__init__(diagnostics)
        self.retry_after = retry_after
