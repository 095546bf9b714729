"""Turning an element's value into the search value that finds it (a token as system|code, a
reference, a date or a Period's start, a name's text)."""

from __future__ import annotations

import re
from typing import Any

_RESOLVE = re.compile(r"\.where\(resolve\(\) is [A-Za-z]+\)")


def without_resolve(expression: str) -> str:
    """The expression with `.where(resolve() is T)` dropped: the kit cannot resolve
    references, and the record it made refers to the right type anyway."""
    return _RESOLVE.sub("", expression)


def as_search(type_: str, value: Any) -> str | None:
    """The search value that finds an element holding `value` (None: none can)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        if type_ == "reference":
            return str(value["reference"]) if "reference" in value else None
        if type_ == "date":
            start = value.get("start")  # a Period: it runs on from its start
            return f"ge{str(start)[:10]}" if start else None
        if type_ == "string":
            texts = [value.get("family"), *(value.get("given") or []), value.get("text"),
                     value.get("city"), value.get("postalCode"), *(value.get("line") or [])]
            return next((str(t) for t in texts if t), None)
        if value.get("coding"):
            value = value["coding"][0]
        code = value.get("code", value.get("value"))
        if code is None:
            return None
        system = value.get("system")
        return f"{system}|{code}" if system else str(code)
    return str(value)[:10] if type_ == "date" else str(value)
