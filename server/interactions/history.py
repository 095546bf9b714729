"""The history interaction at instance, type and system level."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from server.errors import Forbidden, Invalid, NotFound
from server.fhir.bundle import body_of, bundle
from server.fhir.ids import etag
from server.fhir.instant import format_instant, parse_instant
from server.interactions import access
from server.interactions.services import Services
from server.store import StoredResource

Json = dict[str, Any]
SUPPORTED = {"_count", "_since", "_offset", "_format"}
ALL = 1_000_000


async def history(services: Services, base_url: str, resource_type: str | None,
                  id_: str | None, params: list[tuple[str, str]]) -> Json:
    """Return a `history` Bundle, newest first, paged with `_count`/`_offset`.

    Raises `Invalid` for a bad `_since`/`_count` or an unsupported parameter, and `NotFound`
    for the history of an instance that never existed.
    """
    values = dict(params)
    unknown = sorted(set(values) - SUPPORTED)
    if unknown:
        raise Invalid(f"History does not support the parameter(s) {', '.join(unknown)}",
                      expression=unknown[0])
    since = parse_instant(values["_since"], "_since") if "_since" in values else None
    count = _int_param(values, "_count", services.settings.default_page_size)
    count = min(count, services.settings.max_page_size)
    offset = _int_param(values, "_offset", 0)
    if services.caller.operator:
        versions, total = await services.store.history_page(resource_type, id_, since, offset,
                                                            count)
    else:
        versions, total = await _visible_page(services, resource_type, id_, since, offset,
                                              count)
    if id_ is not None and total == 0 and since is None:
        raise NotFound(f"{resource_type}/{id_} is not known")
    path = "/".join(p for p in (base_url, resource_type, id_, "_history") if p)
    entries = []
    for stored in versions:
        url = f"{base_url}/{stored.reference}"
        entry: Json = {"fullUrl": url}
        resource = body_of(stored.body)
        if resource is not None:
            entry["resource"] = resource
        method = "DELETE" if stored.deleted else ("POST" if stored.method == "POST" else "PUT")
        request_url = stored.resource_type if method == "POST" else stored.reference
        entry["request"] = {"method": method, "url": request_url}
        entry["response"] = {
            "status": "204" if stored.deleted else ("201" if stored.version_id == 1 else "200"),
            "etag": etag(stored.version_id), "lastModified": format_instant(stored.last_updated),
        }
        entries.append(entry)
    links = _page_links(path, values, offset, count, total)
    return bundle("history", entries, total=total, links=links)


async def _visible_page(services: Services, resource_type: str | None, id_: str | None,
                        since: datetime | None, offset: int,
                        count: int) -> tuple[list[StoredResource], int]:
    """An instance's history as an agency sees it: only the versions it may read.

    Type and system history would have to weigh every version of every record, so agencies
    poll with a search on `_lastUpdated` instead, which need-to-know filters exactly.
    """
    if resource_type is None or id_ is None:
        raise Forbidden("Type and system history are for operators; search with "
                        "_lastUpdated=gt<instant> to follow changes you may see")
    access.require_scope(services, resource_type, "r")
    versions, _ = await services.store.history_page(resource_type, id_, since, 0, ALL)
    if not versions:
        return [], 0
    gate = access.Gate(services)
    allowed = [v for v, ok in zip(versions, await gate.visible(versions), strict=True) if ok]
    if not allowed:
        raise Forbidden(f"{resource_type}/{id_} may not be read by this client",
                        expression=resource_type)
    page = allowed[offset:offset + count]
    for version in page:
        gate.note(version.reference, version.version_id)
    return page, len(allowed)


def _int_param(values: dict[str, str], name: str, default: int) -> int:
    raw = values.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise Invalid(f"{name} must be a non-negative integer, not '{raw}'", expression=name)
    return int(raw)


def _page_links(path: str, values: dict[str, str], offset: int, count: int,
                total: int) -> dict[str, str]:
    def page(at: int) -> str:
        return f"{path}?{urlencode({**values, '_count': count, '_offset': at})}"

    links = {"self": page(offset), "first": page(0)}
    if count and offset + count < total:
        links["next"] = page(offset + count)
    if offset > 0 and count:
        links["previous"] = page(max(offset - count, 0))
    if count and total:
        links["last"] = page((total - 1) // count * count)
    return links
