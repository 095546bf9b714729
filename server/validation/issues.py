"""Constructors for the validator's issues, so codes and message ids stay consistent.

Each function returns an `Issue` (errors unless noted); `expression` is the FHIRPath of the
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


def too_few(element: str, minimum: int, count: int, expression: str) -> Issue:
    """An element present fewer times than its minimum (`min` above 1)."""
    return Issue("error", "required",
                 f"{element} needs at least {minimum} (min {minimum}), found {count}",
                 expression, "cardinality-min")


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


class Found(list[Issue]):
    """The issues of one validation run, plus the context FHIRPath invariants need."""

    __slots__ = ("resource", "root", "skipped")

    def __init__(self, root: object) -> None:
        super().__init__()
        self.root = root  # %rootResource
        self.resource = root  # %resource: the innermost resource being walked
        self.skipped: set[str] = set()  # invariant keys already reported as not evaluated


def unknown_extension(url: str, modifier: bool, expression: str) -> Issue:
    """Return the issue for an extension whose definition is not known (error if modifier)."""
    kind = "modifierExtension" if modifier else "extension"
    return Issue("error" if modifier else "warning", "not-supported" if modifier else
                 "informational", f"Unknown {kind} {url!r}: its content is not checked",
                 expression, "unknown-extension")


def reference_target(ref_type: str, allowed: frozenset[str], expression: str) -> Issue:
    """Return the error for a Reference to a resource type its element does not allow."""
    return Issue("error", "structure", f"Reference to {ref_type} not allowed here (allowed: "
                 f"{', '.join(sorted(allowed))})", expression, "reference-target-type")


def target_profile_unchecked(profiles: list[str], expression: str) -> Issue:
    """Return the warning for a target profile that cannot be checked without resolving."""
    return Issue("warning", "informational", "The target must conform to "
                 f"{' or '.join(profiles)}; not checked (needs the referenced resource)",
                 expression, "reference-target-profile-unchecked")
