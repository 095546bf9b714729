"""The R4 search parameter registry and indexer, built once for the search unit tests."""

from __future__ import annotations

from functools import cache

from server.definitions.registry import load_r4
from server.search.index import SearchIndexer
from server.search.registry import SearchParameterRegistry


@cache
def registry() -> SearchParameterRegistry:
    return SearchParameterRegistry(load_r4())


@cache
def indexer() -> SearchIndexer:
    return SearchIndexer(registry())
