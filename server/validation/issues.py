"""Constructors for the validator's issues, so codes and message ids stay consistent.

Every function returns an error-severity `Issue`; `expression` is the FHIRPath of the
offending element (None when it is the resource as a whole).
"""

from __future__ import annotations

from server.errors import Issue
from server.validation.primitives import EMPTY, WRONG_TYPE, Failure


def structure(message_id: str, diagnostics: str, expression: str | None) -> Issue:
    """Return a `structure` error with the given message id."""
    return Issue("error", "structure", diagnostics, expression, message_id)


def unknown_element(key: str, type_name: str, expression: str) -> Issue:
    """Return the error for a JSON property not defined on `type_name`."""
    return structure("unknown-element", f"Unknown element {key!r} in {type_name}", expression)


def missing_required(element: str, expression: str) -> Issue:
    """Return the error for a missing element whose min cardinality is >= 1."""
    return Issue("error", "required", f"{element} is required (min 1) but missing",
                 expression, "cardinality-min")


def cardinality_max(diagnostics: str, expression: str) -> Issue:
    """Return the error for too many values (or an array where one value is allowed)."""
    return structure("cardinality-max", diagnostics, expression)


def expected_array(element: str, expression: str) -> Issue:
    """Return the error for a repeating element not given as a JSON array."""
    return structure("expected-array", f"{element} repeats and must be a JSON array",
                     expression)


def empty_element(diagnostics: str, expression: str) -> Issue:
    """Return the error for an empty object, array or string (ele-1)."""
    return structure(EMPTY, diagnostics, expression)


def null_value(expression: str) -> Issue:
    """Return the error for a JSON null outside a primitive array placeholder."""
    return structure("null-value", "null is not allowed here", expression)


def wrong_type(diagnostics: str, expression: str) -> Issue:
    """Return the error for a JSON value of the wrong JSON type."""
    return structure(WRONG_TYPE, diagnostics, expression)


def primitive_failure(failure: Failure, expression: str) -> Issue:
    """Return the error for a primitive value that failed its type check."""
    message_id, diagnostics = failure
    code = "value" if message_id not in (WRONG_TYPE, EMPTY) else "structure"
    return Issue("error", code, diagnostics, expression, message_id)


def code_not_in_valueset(code: str, value_set: str, expression: str) -> Issue:
    """Return the error for a code outside the ValueSet of a required binding."""
    return Issue("error", "code-invalid",
                 f"Code {code!r} is not in the required value set {value_set}",
                 expression, "code-not-in-valueset")
