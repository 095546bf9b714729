"""Values at a simple dotted path in FHIR JSON, as discriminators and simple invariants use."""

from __future__ import annotations

from typing import Any


def values_at(focus: Any, keys: tuple[str, ...], with_extensions: bool = False) -> list[Any]:
    """Return the values at the path `keys` below `focus`, arrays flattened and nulls dropped.

    A key also matches a choice element (`value` finds `valueString`); with `with_extensions`
    the last key also finds a primitive's `_x` companion when it has no value.
    """
    current = [focus]
    for depth, key in enumerate(keys):
        found: list[Any] = []
        for item in current:
            if type(item) is not dict:
                continue
            value = item.get(key)
            if value is None:
                value = next((v for k, v in item.items() if k.startswith(key)
                              and k[len(key):len(key) + 1].isupper()), None)
            if value is None and with_extensions and depth == len(keys) - 1:
                value = item.get("_" + key)
            if type(value) is list:
                found.extend(v for v in value if v is not None)
            elif value is not None:
                found.append(value)
        current = found
    return current
