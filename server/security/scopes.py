"""SMART on FHIR v2 system scopes (`system/Patient.rs`, `system/*.cruds`), and v1 equivalents.

A scope set answers one question: may this client perform action `c|r|u|d|s` on a type?
Scopes with search restrictions (`system/Observation.rs?category=...`) are not supported and
are never granted, so a client cannot believe it holds a narrower grant than it does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ACTIONS = "cruds"  # create, read, update, delete, search (SMART v2 order)
V1_ACTIONS = {"read": "rs", "write": "cud", "*": "cruds"}
BREAK_GLASS = "cradle/break-glass"  # may lift need-to-know for an emergency read
SPECIAL = frozenset({BREAK_GLASS})
_PATTERN = re.compile(r"^system/(\*|[A-Z][A-Za-z]+)\.([a-z*]+)$")


@dataclass(frozen=True, slots=True, order=True)
class Scope:
    """One resource scope: a type (or `*`) and the actions it allows."""

    resource_type: str
    actions: str  # a subsequence of "cruds"

    def __str__(self) -> str:
        return f"system/{self.resource_type}.{self.actions}"


def parse_scope(text: str) -> Scope | None:
    """Return the resource scope `text` names, or None if it is not one Cradle grants."""
    match = _PATTERN.match(text)
    if not match:
        return None
    resource_type, actions = match.groups()
    if actions in V1_ACTIONS:
        return Scope(resource_type, V1_ACTIONS[actions])
    if not actions or any(a not in ACTIONS for a in actions) or \
            "".join(a for a in ACTIONS if a in actions) != actions:
        return None  # v2 actions must appear once each, in c-r-u-d-s order
    return Scope(resource_type, actions)


@dataclass(frozen=True, slots=True)
class Scopes:
    """A set of granted scopes."""

    resources: frozenset[Scope] = frozenset()
    special: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> Scopes:
        """Parse a space-separated scope string, dropping scopes Cradle does not grant."""
        words = text.split()
        return cls(frozenset(s for s in map(parse_scope, words) if s is not None),
                   frozenset(w for w in words if w in SPECIAL))

    @classmethod
    def everything(cls) -> Scopes:
        return cls(frozenset({Scope("*", ACTIONS)}), SPECIAL)

    def permits(self, resource_type: str, action: str) -> bool:
        """True if some scope allows `action` (one of c, r, u, d, s) on `resource_type`."""
        return any(action in s.actions and s.resource_type in ("*", resource_type)
                   for s in self.resources)

    @property
    def break_glass(self) -> bool:
        return BREAK_GLASS in self.special

    def narrow(self, requested: Scopes) -> Scopes:
        """Return what may be granted of `requested` within these (allowed) scopes."""
        granted: set[Scope] = set()
        for want in requested.resources:
            for have in self.resources:
                if have.resource_type == "*":
                    resource_type = want.resource_type
                elif want.resource_type in ("*", have.resource_type):
                    resource_type = have.resource_type
                else:
                    continue
                actions = "".join(a for a in ACTIONS if a in want.actions and a in have.actions)
                if actions:
                    granted.add(Scope(resource_type, actions))
        return Scopes(frozenset(granted), requested.special & self.special)

    def __str__(self) -> str:
        return " ".join([*map(str, sorted(self.resources)), *sorted(self.special)])

    def __bool__(self) -> bool:
        return bool(self.resources or self.special)
