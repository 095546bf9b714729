"""Which children a record is about: the official R4 Patient compartment, read off the
record's search keys (so `Flag.patient`, `ServiceRequest.subject`, ... come from one table)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

CHILD = "Patient/"


class PatientCompartment:
    """The Patient compartment's membership parameters per resource type."""

    def __init__(self, definition: dict[str, Any]) -> None:
        self.params: dict[str, tuple[str, ...]] = {
            entry["code"]: tuple(entry.get("param") or ())
            for entry in definition.get("resource") or () if entry.get("param")}

    def subjects(self, resource_type: str, id_: str, keys: Iterable[str]) -> tuple[str, ...]:
        """Return the `Patient/id` references a record is about, given its search keys."""
        if resource_type == "Patient":
            return (CHILD + id_,)
        prefixes = tuple(f"{p}|{CHILD}" for p in self.params.get(resource_type, ()))
        if not prefixes:
            return ()
        return tuple(sorted({k.split("|", 1)[1] for k in keys if k.startswith(prefixes)}))
