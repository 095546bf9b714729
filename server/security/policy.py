"""Need to know: who may read and amend records about a child, as rules anyone can point at.

Reading a record about a child is allowed for (in order):
- `operator`: the admin client or an operator token (bound only by scopes);
- `author`: the agency that created the record;
- `involvement`: an agency with an active involvement (EpisodeOfCare) with the child;
- `sharing-agreement`: an agency party, with the record's author, to an active sharing agreement
  (Consent) covering the record's type, in force now, for all children or for this child;
- `break-glass`: an emergency read with a stated reason and the break-glass scope.
Records about no child (agencies, code systems, ...) need only the scope. The policy data
(which statuses grant access, who receives a referral, who may amend what) is
`profiles/access-policy.json`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from server.security.principal import Principal

Json = dict[str, Any]
RULE_BASE = "https://cradle.example/fhir/access-rule/"


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether access is allowed, and the rules (URIs, or agreement references) that allow it."""

    allowed: bool
    rules: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Labels:
    """What access decisions need to know about one stored record."""

    resource_type: str
    owner: str | None  # the authoring agency (`Organization/id`), None if written by an operator
    subjects: tuple[str, ...]  # the children it is about (`Patient/id`)


@dataclass(frozen=True, slots=True)
class Involvement:
    """An agency's involvement with a child, from an EpisodeOfCare."""

    child: str
    agency: str
    status: str
    end: str | None

    @classmethod
    def from_resource(cls, episode: Json) -> Involvement | None:
        child = (episode.get("patient") or {}).get("reference")
        agency = (episode.get("managingOrganization") or {}).get("reference")
        if not isinstance(child, str) or not isinstance(agency, str):
            return None
        end = (episode.get("period") or {}).get("end")
        return cls(child, agency, str(episode.get("status", "")), end)


@dataclass(frozen=True, slots=True)
class Agreement:
    """An information-sharing agreement between agencies, from a Consent."""

    reference: str
    owner: str | None  # who wrote it: an operator (None) or an agency
    status: str
    parties: frozenset[str]
    classes: frozenset[str]
    start: str | None
    end: str | None
    child: str | None

    @classmethod
    def from_resource(cls, consent: Json, owner: str | None = None) -> Agreement:
        provision = consent.get("provision") or {}
        period = provision.get("period") or {}
        return cls(
            reference=f"Consent/{consent.get('id')}", owner=owner,
            status=str(consent.get("status", "")),
            parties=frozenset(str(o["reference"]) for o in consent.get("organization") or ()
                              if isinstance(o, dict) and isinstance(o.get("reference"), str)),
            classes=frozenset(str(c["code"]) for c in provision.get("class") or ()
                              if isinstance(c, dict) and isinstance(c.get("code"), str)),
            start=period.get("start"), end=period.get("end"),
            child=(consent.get("patient") or {}).get("reference"))

    def covers(self, author: str, reader: str, resource_type: str, child: str,
               today: str) -> bool:
        """True if this agreement, in force `today`, shares `author`'s record with `reader`.

        Only an operator's agreement or the author's own can share its records: an agency may
        share what it wrote, never what another agency wrote.
        """
        return (self.status == "active" and self.owner in (None, author)
                and author in self.parties and reader in self.parties
                and resource_type in self.classes and _within(today, self.start, self.end)
                and self.child in (None, child))


def _within(today: str, start: str | None, end: str | None) -> bool:
    # FHIR dates compare as text on their common prefix (2026, 2026-04, 2026-04-01...).
    return (start is None or start[:len(today)] <= today) and \
        (end is None or end[:len(today)] >= today[:len(end)])


@dataclass(frozen=True)
class AccessPolicy:
    """The access rules, from data (see `profiles/access-policy.json`)."""

    granting_statuses: frozenset[str]
    submitter_type: str  # the involvement type of an agency that submitted a record
    recipient_type: str  # ... and of an agency a record is addressed to
    recipient_status: str  # the status a recipient's involvement starts in
    recipients: dict[str, tuple[str, ...]]  # type → elements naming receiving agencies
    amenders: dict[str, tuple[str, ...]]  # type → elements naming agencies that may amend
    scope_only: frozenset[str]  # types governed by scopes alone (the audit trail)
    operator_writes: frozenset[str]  # types only operators write (the standard itself)
    server_written: frozenset[str]  # types only the server writes (append-only records)

    @classmethod
    def from_json(cls, data: Json) -> AccessPolicy:
        involvement = data["involvement"]
        return cls(
            granting_statuses=frozenset(involvement["grantingStatuses"]),
            submitter_type=involvement["submitterType"],
            recipient_type=involvement["recipientType"],
            recipient_status=involvement["recipientStatus"],
            recipients={k: tuple(v) for k, v in data.get("recipients", {}).items()},
            amenders={k: tuple(v) for k, v in data.get("amenders", {}).items()},
            scope_only=frozenset(data.get("scopeOnly", ())),
            operator_writes=frozenset(data.get("operatorWrites", ())),
            server_written=frozenset(data.get("serverWritten", ())))

    def grants(self, involvement: Involvement, today: str) -> bool:
        """True if an involvement currently gives its agency access to the child."""
        return involvement.status in self.granting_statuses and _within(
            today, None, involvement.end)

    def may_read(self, who: Principal, record: Labels, involvements: Iterable[Involvement],
                 agreements: Iterable[Agreement], today: str | None = None,
                 break_glass: bool = True) -> Decision:
        """Decide whether `who` may read `record`, given the involvements with its children
        and the sharing agreements its reader is party to (break-glass is considered last,
        and not at all when `break_glass` is False)."""
        if who.operator:
            return Decision(True, (RULE_BASE + "operator",))
        if record.resource_type in self.scope_only or not record.subjects:
            return Decision(True, (RULE_BASE + "scope",))
        if who.agency is None:
            return Decision(False, reason="the client belongs to no agency")
        if record.owner == who.agency:
            return Decision(True, (RULE_BASE + "author",))
        today = today or date.today().isoformat()
        if any(i.agency == who.agency and i.child in record.subjects and self.grants(i, today)
               for i in involvements):
            return Decision(True, (RULE_BASE + "involvement",))
        if record.owner is not None:
            shared = tuple(a.reference for a in agreements for child in record.subjects
                           if a.covers(record.owner, who.agency, record.resource_type, child,
                                       today))
            if shared:
                return Decision(True, (RULE_BASE + "sharing-agreement", *sorted(set(shared))))
        if break_glass and who.break_glass and who.scopes.break_glass:
            return Decision(True, (RULE_BASE + "break-glass",))
        return Decision(False, reason="the agency has no active involvement with the child and "
                                      "no sharing agreement covers the record")

    def may_amend(self, who: Principal, record: Labels, resource: Json | None,
                  delete: bool = False) -> Decision:
        """Decide whether `who` may update (or `delete`) the current version `record`
        (`resource`): its author may; an agency named in an amender element may update only."""
        if who.operator:
            return Decision(True, (RULE_BASE + "operator",))
        if record.owner is not None and record.owner == who.agency:
            return Decision(True, (RULE_BASE + "author",))
        named = agencies_named(resource or {}, self.amenders.get(record.resource_type, ()))
        if not delete and who.agency is not None and who.agency in named:
            return Decision(True, (RULE_BASE + "named-recipient",))
        return Decision(False, reason="only the authoring agency may amend this record")

    def recipients_of(self, resource: Json) -> list[str]:
        """Return the agencies a record is addressed to (they become involved)."""
        return agencies_named(resource, self.recipients.get(resource.get("resourceType", ""), ()))


def agencies_named(resource: Json, elements: Iterable[str]) -> list[str]:
    """Return the `Organization/id` references found in the named top-level elements."""
    found: list[str] = []
    for name in elements:
        values = resource.get(name)
        for value in values if isinstance(values, list) else [values]:
            ref = value.get("reference") if isinstance(value, dict) else None
            if isinstance(ref, str) and ref.startswith("Organization/") and ref not in found:
                found.append(ref)
    return found
