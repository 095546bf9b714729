"""The same child from another agency: a mapped child whose national identifier (NHS number,
UPN, ULN) Cradle already holds is not created again; the new records refer to the child held.

Matching reads as the server (an existence check on identifiers the submitting agency already
knows) and costs a few queries per chunk of records, not per record.
"""

from __future__ import annotations

from server.fhir.references import rewrite_references
from server.interactions.search import search
from server.interactions.services import Services
from server.mapping.forward import MappedRecord, MappedResource
from server.mapping.report import MappingIssue


async def match_children(services: Services, records: list[MappedRecord],
                          base_url: str) -> None:
    """Point records at the children Cradle already holds under a national identifier.

    A record's own earlier copy is updated in place; otherwise a child stored by anyone under
    one of the `match` identifiers stands in for the new one. A few queries per chunk, not per
    record: one read of the records' own ids, one search per identifier system.
    """
    candidates = [(record, resource) for record in records for resource in record.resources
                  if resource.match]
    own = await services.store.read_current(
        (r.resource["resourceType"], r.resource["id"]) for _, r in candidates)
    new = [(record, resource) for record, resource in candidates
           if (key := (resource.resource["resourceType"], resource.resource["id"])) not in own
           or own[key].deleted]
    held = await _held(services, [resource for _, resource in new], base_url)
    for record, resource in new:
        found = next((held[(system, value)] for system, value in _identifiers(resource)
                      if (system, value) in held), None)
        if found is None or found == resource.reference:
            continue
        record.resources.remove(resource)
        for other in record.resources:
            other.resource = rewrite_references(other.resource, {resource.reference: found})
        record.issues.append(MappingIssue(
            "information", "informational",
            f"same child as {found} (matched on a national identifier): the records refer to "
            "it; its demographics stay with the agency that recorded them", "map-matched-child",
            record.location))


def _identifiers(resource: MappedResource) -> list[tuple[str, str]]:
    """The resource's (system, value) pairs in the systems it is matched on, in their order."""
    values = {(i.get("system"), i.get("value")) for i in resource.resource.get("identifier", [])}
    return [(system, value) for system in resource.match
            for s, value in sorted(values, key=str) if s == system and value]


async def _held(services: Services, resources: list[MappedResource],
                base_url: str) -> dict[tuple[str, str], str]:
    """Return {(system, value): stored reference} for the identifiers already held."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for resource in resources:
        for system, value in _identifiers(resource):
            wanted.setdefault((resource.resource["resourceType"], system), set()).add(value)
    held: dict[tuple[str, str], str] = {}
    for (resource_type, system), values in wanted.items():
        ordered = sorted(values)
        for start in range(0, len(ordered), 100):  # OR-ed values, a hundred per query
            part = ordered[start:start + 100]
            bundle = await search(services.store, services.search_parameters, resource_type,
                                  [("identifier", ",".join(f"{system}|{_escaped(v)}"
                                                           for v in part)),
                                   ("_count", str(len(part) * 2))], base_url)
            for entry in bundle.get("entry", []):
                if entry.get("search", {}).get("mode") != "match":
                    continue
                found = entry["resource"]
                for identifier in found.get("identifier", []):
                    key = (identifier.get("system"), identifier.get("value"))
                    if key[0] == system and key[1] in values:
                        held.setdefault(key, f"{found['resourceType']}/{found['id']}")
    return held


def _escaped(value: str) -> str:
    # Search syntax: `,` `|` `$` and `\` in a value are escaped with a backslash.
    return "".join("\\" + c if c in ",|$\\" else c for c in value)
