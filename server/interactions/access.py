"""Enforcing who may do what: SMART scopes first, then need to know (`server.security.policy`).

Every decision about a child's record is made on its access labels (authoring agency, the
children it is about) and on facts read from the records themselves: the involvements
(EpisodeOfCare) with those children and the sharing agreements (Consent) the caller is party
to. The rules that allowed a read are noted in the request's audit record.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from server.errors import Forbidden, MethodNotAllowed
from server.fhir import json
from server.interactions.services import Services
from server.search.lookup import KeyLookup, driver_form
from server.security.policy import RULE_BASE, Agreement, Decision, Involvement, Labels
from server.store import Candidate, StoredResource

Json = dict[str, Any]
Labelled = Candidate | StoredResource


def require_scope(services: Services, resource_type: str, action: str) -> None:
    """Raise `Forbidden` unless the caller's scopes allow `action` (c r u d s) on the type."""
    if not services.caller.scopes.permits(resource_type, action):
        raise Forbidden(f"The access token's scopes do not allow '{action}' on {resource_type} "
                        f"(granted: {services.caller.scopes or 'none'})",
                        expression=resource_type)


def require_client_writable(services: Services, resource_type: str) -> None:
    """Raise `MethodNotAllowed` for types only the server writes (the audit trail)."""
    if resource_type in services.policy.server_written:
        raise MethodNotAllowed(f"{resource_type} records are written by the server only and "
                               "are never changed or deleted", expression=resource_type)


def labels(services: Services, item: Labelled) -> Labels:
    """Return the access labels of a stored version or search candidate."""
    subjects = item.subjects
    if subjects is None:  # stored before labels existed: derive them from the content
        keys: Sequence[str] = ()
        if isinstance(item, Candidate):
            keys = item.index.get("k", ())
        elif item.body is not None:
            keys = services.indexer.build_index(json.loads(item.body))["k"]
        subjects = services.compartment.subjects(item.resource_type, item.id, keys)
    return Labels(item.resource_type, item.owner, subjects)


async def decide(services: Services, records: Sequence[Labels]) -> list[Decision]:
    """Decide for each record whether the caller may read it (one query for all facts)."""
    who, policy = services.caller, services.policy
    # First the rules that need no facts; break-glass only once every other rule had its say.
    trivial = [policy.may_read(who, r, (), (), break_glass=False) for r in records]
    pending = {child for r, d in zip(records, trivial, strict=True) if not d.allowed
               for child in r.subjects}
    if not pending or who.agency is None:
        return [d if d.allowed else policy.may_read(who, r, (), ())
                for r, d in zip(records, trivial, strict=True)]
    involvements = await involvements_of(services, pending)
    agreements = await agreements_of(services, who.agency)
    today = date.today().isoformat()
    return [d if d.allowed else policy.may_read(who, r, involvements, agreements, today)
            for r, d in zip(records, trivial, strict=True)]


async def involvements_of(services: Services, children: set[str]) -> list[Involvement]:
    """Return the involvements (of any agency) with any of `children`."""
    rename = services.search_parameters.driver_names("EpisodeOfCare")
    keys = tuple(sorted({k for c in children if (k := driver_form(f"patient|{c}", rename))}))
    found = await services.store.find("EpisodeOfCare", KeyLookup(keys=keys)) if keys else []
    parsed = (Involvement.from_resource(json.loads(s.body)) for s in found if s.body)
    return [i for i in parsed if i is not None]


async def agreements_of(services: Services, agency: str) -> list[Agreement]:
    """Return the sharing agreements `agency` is party to."""
    rename = services.search_parameters.driver_names("Consent")
    key = driver_form(f"organization|{agency}", rename)
    found = await services.store.find("Consent", KeyLookup(keys=(key,))) if key else []
    return [Agreement.from_resource(json.loads(s.body), s.owner) for s in found if s.body]


async def check_read(services: Services, stored: StoredResource) -> None:
    """Raise `Forbidden` unless the caller may read `stored`; note it in the audit record."""
    require_scope(services, stored.resource_type, "r")
    record = labels(services, stored)
    [decision] = await decide(services, [record])
    if not decision.allowed:
        raise Forbidden(f"Access to {stored.reference} denied: {decision.reason}. "
                        "An emergency read may state a reason in the X-Break-Glass-Reason "
                        "header (with the cradle/break-glass scope)", expression=stored.reference)
    if services.record is not None:
        services.record.touched(f"{stored.reference}/_history/{stored.version_id}",
                                record.subjects, decision.rules)


class Gate:
    """The need-to-know filter of one request's searches, includes and history.

    It remembers why each resource it let through was allowed, so that the resources the
    request finally returns can be noted in its audit record (`note_returned`).
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self._allowed: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}

    async def visible(self, items: Sequence[Labelled]) -> list[bool]:
        """Return, for each item, whether the caller may see it."""
        records = [labels(self.services, item) for item in items]
        decisions = await decide(self.services, records)
        for item, record, decision in zip(items, records, decisions, strict=True):
            if decision.allowed:
                self._allowed[f"{item.resource_type}/{item.id}"] = (record.subjects,
                                                                   decision.rules)
        return [d.allowed for d in decisions]

    def note_returned(self, resources: Sequence[Json]) -> None:
        """Note in the audit record the resources a response carries."""
        for resource in resources:
            self.note(f"{resource.get('resourceType')}/{resource.get('id')}",
                      (resource.get("meta") or {}).get("versionId"))

    def note(self, reference: str, version: object = None) -> None:
        """Note one returned resource (`Type/id`, at `version` if known) in the audit record."""
        if self.services.record is None:
            return
        subjects, rules = self._allowed.get(reference, ((), ()))
        self.services.record.touched(
            f"{reference}/_history/{version}" if version else reference, subjects, rules)


def check_write(services: Services, resource_type: str, previous: StoredResource | None,
                action: str) -> None:
    """The checks of every client write: the type is client-writable; the scope allows the
    action (`c` create, `u` update or patch, `d` delete; an update that creates needs `c` too);
    and the caller may amend the version it replaces (its author, or a rule naming it)."""
    require_client_writable(services, resource_type)
    require_scope(services, resource_type, action)
    if resource_type in services.policy.operator_writes and not services.caller.operator:
        raise Forbidden(f"{resource_type} resources define the standard; only operators "
                        "(standards authors) write them", expression=resource_type)
    if previous is None:
        if action == "u":
            require_scope(services, resource_type, "c")
        _note_rules(services, (RULE_BASE + ("operator" if services.caller.operator
                                            else "scope"),))
        return
    body = json.loads(previous.body) if previous.body else None
    decision = services.policy.may_amend(services.caller, labels(services, previous), body,
                                         delete=action == "d")
    if not decision.allowed:
        raise Forbidden(f"{previous.reference} may not be changed by this client: "
                        f"{decision.reason}", expression=previous.reference)
    _note_rules(services, decision.rules)


def _note_rules(services: Services, rules: tuple[str, ...]) -> None:
    if services.record is not None:
        services.record.rules.extend(r for r in rules if r not in services.record.rules)
