"""The search interaction: parse, resolve chains/_has, filter, sort, page, include, bundle.

Candidates come from the store through at most one index lookup per (sub)search; every criterion
is then checked in Python on the candidate's index document. Default order (no `_sort`): most
recently updated first, then by type and id, so paging is stable.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

import orjson

from server.errors import operation_outcome
from server.interactions import access
from server.interactions.services import Services
from server.search.criteria import (
    AllOf,
    AnyOf,
    Chain,
    Criterion,
    Has,
    HasKey,
    Not,
    driving_lookup,
    matches,
)
from server.search.index import SearchIndexer
from server.search.lookup import KeyLookup, driver_form
from server.search.options import Include, SearchQuery
from server.search.query import parse_search
from server.search.registry import SearchParameterRegistry
from server.search.shape import shape
from server.store.model import Candidate, StoredResource


class Gate(Protocol):
    """Decides which stored resources the caller may see (`server.interactions.access.Gate`)."""

    async def visible(self, items: Sequence[Candidate | StoredResource]) -> list[bool]: ...


Item = TypeVar("Item", Candidate, StoredResource)


async def only_visible(gate: Gate | None, items: list[Item]) -> list[Item]:
    """Return the items the gate lets through (all of them without a gate)."""
    if gate is None or not items:
        return items
    return [item for item, ok in zip(items, await gate.visible(items), strict=True) if ok]


class SearchStore(Protocol):
    """The two store methods search needs (implemented by `ResourceStore`)."""

    async def candidates(self, resource_type: str | None,
                         lookup: KeyLookup | None) -> list[Candidate]: ...

    async def read_many(self, refs: Iterable[tuple[str, str]]) -> list[StoredResource]: ...


@cache
def indexer_for(registry: SearchParameterRegistry) -> SearchIndexer:
    """Return the (cached) indexer of a registry, used to index included resources."""
    return SearchIndexer(registry)


async def resolve(store: SearchStore, registry: SearchParameterRegistry, criterion: Criterion,
                  resource_type: str | None, gate: Gate | None = None) -> Criterion:
    """Return `criterion` with every `Chain`/`Has` replaced by the keys of what they found
    (only what the gate lets the caller see, so a chain cannot probe hidden records)."""
    if isinstance(criterion, Chain):
        target = criterion.targets[0]
        inner = await resolve(store, registry, criterion.inner, target, gate)
        found = await find(store, registry, target, inner, gate)
        return HasKey(tuple(f"{criterion.param}|{target}/{c.id}" for c in found))
    if isinstance(criterion, Has):
        inner = await resolve(store, registry, criterion.inner, criterion.resource_type, gate)
        found = await find(store, registry, criterion.resource_type, inner, gate)
        prefix = f"{criterion.param}|{resource_type}/" if resource_type else f"{criterion.param}|"
        ids = {k[len(prefix):].rsplit("/", 1)[-1] for c in found for k in c.index.get("k", ())
               if k.startswith(prefix)}
        return HasKey(tuple(sorted(f"_id|{i}" for i in ids)))
    if isinstance(criterion, AllOf | AnyOf):
        resolved = tuple([await resolve(store, registry, c, resource_type, gate)
                          for c in criterion.children])
        return type(criterion)(resolved)
    if isinstance(criterion, Not):
        return Not(await resolve(store, registry, criterion.child, resource_type, gate))
    return criterion


async def find(store: SearchStore, registry: SearchParameterRegistry, resource_type: str | None,
               criterion: Criterion, gate: Gate | None = None) -> list[Candidate]:
    """Return the current resources matching a resolved criterion (that the gate lets see)."""
    if isinstance(criterion, AllOf) and any(
            isinstance(c, HasKey) and not c.keys for c in criterion.children):
        return []  # a chain or _has that found nothing
    if isinstance(criterion, HasKey) and not criterion.keys:
        return []
    rename = registry.driver_names(resource_type) if resource_type else {}
    candidates = await store.candidates(resource_type, driving_lookup(criterion, rename))
    return await only_visible(gate, [c for c in candidates if matches(criterion, c.index)])


def sort_candidates(found: list[Candidate], keys: tuple[tuple[str, bool], ...]) -> list[Candidate]:
    """Return candidates in `_sort` order (missing values last), default newest first."""
    out = sorted(found, key=lambda c: (c.resource_type, c.id))
    out.sort(key=lambda c: c.last_updated, reverse=True)
    if keys:
        out.sort(key=lambda c: (c.resource_type, c.id))
    for name, desc in reversed(keys):
        present = [c for c in out if c.index.get("s", {}).get(name) is not None]
        missing = [c for c in out if c.index.get("s", {}).get(name) is None]
        present.sort(key=lambda c: c.index["s"][name], reverse=desc)
        out = present + missing
    return out


Node = tuple[str, str, dict[str, Any]]  # (type, id, index document)
MAX_INCLUDE_ROUNDS = 4


def _lookup(registry: SearchParameterRegistry, resource_type: str,
            keys: set[str]) -> KeyLookup | None:
    """The lookup finding every resource with one of `keys` (a superset: drivers may be wider
    parameters; None, a type scan, when a key has no driver)."""
    rename = registry.driver_names(resource_type)
    found = {driver_form(k, rename) for k in keys}
    return None if None in found else KeyLookup(keys=tuple(sorted(k for k in found if k)))


def _ref_names(registry: SearchParameterRegistry, resource_type: str, param: str) -> list[str]:
    if param != "*":
        return [param]
    return [p.name for p in registry.for_type(resource_type).values() if p.type == "reference"]


def _forward(registry: SearchParameterRegistry, specs: tuple[Include, ...],
             frontier: list[Node]) -> set[tuple[str, str]]:
    refs: set[tuple[str, str]] = set()
    for rtype, _id, index in frontier:
        for inc in specs:
            if inc.source not in ("*", rtype):
                continue
            prefixes = tuple(f"{n}|" for n in _ref_names(registry, rtype, inc.param))
            for key in index.get("k", ()):
                if key.startswith(prefixes):
                    parts = key.split("|", 1)[1].split("/")
                    if len(parts) == 2 and parts[0][:1].isupper() and inc.target in (
                            None, parts[0]):
                        refs.add((parts[0], parts[1]))
    return refs


async def collect_includes(store: SearchStore, registry: SearchParameterRegistry,
                           query: SearchQuery, page: list[Node],
                           gate: Gate | None = None) -> list[StoredResource]:
    """Return the resources `_include`d/`_revinclude`d by the page (`:iterate` repeats), only
    those the gate lets the caller see."""
    seen = {(t, i) for t, i, _ in page}
    out: list[StoredResource] = []
    frontier = page
    for rounds in range(MAX_INCLUDE_ROUNDS):
        includes = tuple(i for i in query.includes if rounds == 0 or i.iterate)
        revincludes = tuple(i for i in query.revincludes if rounds == 0 or i.iterate)
        if not frontier or not (includes or revincludes):
            break
        refs = _forward(registry, includes, frontier)
        for inc in revincludes:
            if inc.source == "*":
                continue  # a reverse include needs a source type to query
            keys = {f"{n}|{t}/{i}" for n in _ref_names(registry, inc.source, inc.param)
                    for t, i, _ in frontier}
            found = await store.candidates(inc.source, _lookup(registry, inc.source, keys))
            refs |= {(c.resource_type, c.id) for c in found
                     if not keys.isdisjoint(c.index.get("k", ()))}
        new = await only_visible(gate, await store.read_many(sorted(refs - seen)))
        seen |= {(s.resource_type, s.id) for s in new}
        out += new
        indexer = indexer_for(registry)
        frontier = [(s.resource_type, s.id, indexer.build_index(orjson.loads(s.body)))
                    for s in new if s.body]
    return out


def _link(base_url: str, query: SearchQuery, relation: str, offset: int) -> dict[str, str]:
    path = f"{base_url}/{query.resource_type}" if query.resource_type else base_url
    params = [*query.echo, ("_count", str(query.count)), ("_offset", str(offset))]
    return {"relation": relation, "url": f"{path}?{urlencode(params)}"}


def _links(base_url: str, query: SearchQuery, total: int) -> list[dict[str, str]]:
    links = [_link(base_url, query, "self", query.offset), _link(base_url, query, "first", 0)]
    if query.count and query.offset + query.count < total:
        links.append(_link(base_url, query, "next", query.offset + query.count))
    if query.offset > 0 and query.count:
        links.append(_link(base_url, query, "previous", max(0, query.offset - query.count)))
    return links


def _entry(base_url: str, stored: StoredResource, mode: str, query: SearchQuery,
           registry: SearchParameterRegistry) -> dict[str, Any]:
    resource = orjson.loads(stored.body or b"{}")
    if mode == "match":
        resource = shape(resource, registry.definitions, query.summary, query.elements)
    return {"fullUrl": f"{base_url}/{stored.resource_type}/{stored.id}", "resource": resource,
            "search": {"mode": mode}}


async def search(store: SearchStore, registry: SearchParameterRegistry,
                 resource_type: str | None, params: list[tuple[str, str]], base_url: str,
                 strict: bool = False, gate: Gate | None = None) -> dict[str, Any]:
    """Run a search and return its `searchset` Bundle: with a gate, only what the caller may
    see is matched, counted or included.

    Raises `Invalid` for malformed values (and, when `strict`, unknown parameters/modifiers).
    """
    base_url = base_url.rstrip("/")
    query = parse_search(registry, resource_type, params, strict)
    criterion = await resolve(store, registry, query.criteria, resource_type, gate)
    found = sort_candidates(await find(store, registry, resource_type, criterion, gate),
                            query.sort)
    page = [] if query.summary == "count" else found[query.offset:query.offset + query.count]
    stored = {(s.resource_type, s.id): s
              for s in await store.read_many((c.resource_type, c.id) for c in page)}
    matched = [stored[(c.resource_type, c.id)] for c in page if (c.resource_type, c.id) in stored]
    entries = [_entry(base_url, s, "match", query, registry) for s in matched]
    included = await collect_includes(store, registry, query,
                                      [(c.resource_type, c.id, c.index) for c in page], gate)
    entries += [_entry(base_url, s, "include", query, registry) for s in included]
    if query.warnings:
        entries.insert(0, {"fullUrl": f"urn:uuid:{uuid.uuid4()}",
                           "resource": operation_outcome(query.warnings),
                           "search": {"mode": "outcome"}})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "id": str(uuid.uuid4()),
                              "type": "searchset"}
    if query.total != "none":
        bundle["total"] = len(found)
    bundle["link"] = _links(base_url, query, len(found))
    if entries:
        bundle["entry"] = entries
    return bundle


async def search_as_caller(services: Services, resource_type: str | None,
                           params: list[tuple[str, str]], base_url: str,
                           strict: bool = False) -> dict[str, Any]:
    """Run a search as the request's caller: the `s` scope is needed, need-to-know filters
    every match, count and include, and the returned resources go into the audit record."""
    if resource_type is not None:
        access.require_scope(services, resource_type, "s")
    gate = access.Gate(services)
    result = await search(services.store, services.search_parameters, resource_type, params,
                          base_url, strict, gate)
    gate.note_returned([e["resource"] for e in result.get("entry", ())
                        if e.get("search", {}).get("mode") != "outcome"])
    return result
