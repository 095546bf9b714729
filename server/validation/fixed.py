"""fixed[x] and pattern[x]: comparing an instance value with a value from the profile.

`fixed` means exact JSON equality. `pattern` means the instance holds at least what the
pattern holds: objects recursively, and for arrays every pattern item matches some
instance item. Both are read from an ElementDefinition once, at compile time.
"""

from __future__ import annotations

from typing import Any

from server.errors import Issue


def constraint_value(element: dict[str, Any], prefix: str) -> Any:
    """Return the `fixed[x]`/`pattern[x]` value (prefix `fixed` or `pattern`), or None."""
    for key, value in element.items():
        if key.startswith(prefix) and key[len(prefix):len(prefix) + 1].isupper():
            return value
    return None


def contains(instance: Any, pattern: Any) -> bool:
    """Return True if `instance` holds every element of `pattern` (FHIR pattern[x] rule)."""
    if type(pattern) is dict:
        if type(instance) is not dict:
            return False
        return all(k in instance and contains(instance[k], v) for k, v in pattern.items())
    if type(pattern) is list:
        items = instance if type(instance) is list else [instance]
        return all(any(contains(i, p) for i in items) for p in pattern)
    if type(instance) is list:
        return any(contains(i, pattern) for i in instance)
    # bool is an int subclass in Python; `true` must never equal the pattern `1`.
    return type(instance) is type(pattern) and bool(instance == pattern)


def equal(instance: Any, fixed: Any) -> bool:
    """Return True if `instance` is exactly `fixed` (JSON equality, types respected)."""
    if type(instance) is not type(fixed):
        return False
    if type(fixed) is dict:
        return instance.keys() == fixed.keys() and all(equal(instance[k], fixed[k])
                                                       for k in fixed)
    if type(fixed) is list:
        return len(instance) == len(fixed) and all(
            equal(a, b) for a, b in zip(instance, fixed, strict=True))
    return bool(instance == fixed)


def fixed_mismatch(element: str, fixed: Any, expression: str) -> Issue:
    """Return the error for a value that differs from the profile's fixed[x]."""
    return Issue("error", "value", f"{element} must be exactly {_show(fixed)}", expression,
                 "fixed-value-mismatch")


def pattern_mismatch(element: str, pattern: Any, expression: str) -> Issue:
    """Return the error for a value that does not contain the profile's pattern[x]."""
    return Issue("error", "value", f"{element} must match the pattern {_show(pattern)}",
                 expression, "pattern-mismatch")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."
