"""Finding the resources a conditional interaction's search query matches."""

from __future__ import annotations

from urllib.parse import parse_qsl

from server.errors import Invalid
from server.interactions import access
from server.interactions.search import find, resolve
from server.interactions.services import Services
from server.search.query import parse_search


async def find_matching(services: Services, resource_type: str,
                        query: str) -> list[tuple[str, str]]:
    """Return (type, id) of every current resource matching a search query string.

    Unknown parameters are an error here (a conditional write must not widen silently).
    """
    params = parse_qsl(query.lstrip("?"), keep_blank_values=True)
    if not params:
        raise Invalid("A conditional interaction needs search parameters")
    parsed = parse_search(services.search_parameters, resource_type, params, strict=True)
    if not parsed.criteria.children:  # `_count`, `_sort`... alone would match everything
        raise Invalid("A conditional interaction needs search criteria, not only result "
                      "parameters such as _count or _sort")
    store, registry = services.store, services.search_parameters
    # Only what the caller may see can match: a hidden record behaves as if it did not exist,
    # so a condition cannot probe for it (nor a chain in it for a hidden child's details).
    gate = access.Gate(services)
    criterion = await resolve(store, registry, parsed.criteria, resource_type, gate)
    found = await find(store, registry, resource_type, criterion, gate)
    return [(c.resource_type, c.id) for c in found]
