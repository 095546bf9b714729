"""Result parameters of a search: paging, sorting, totals, summaries, elements, includes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from server.errors import Invalid, Issue
from server.search.criteria import AllOf
from server.search.registry import SearchParameterRegistry

DEFAULT_COUNT = 20
MAX_COUNT = 1000
RESULT_PARAMS = frozenset({"_count", "_offset", "_sort", "_total", "_summary", "_elements",
                           "_include", "_revinclude"})
SUMMARY = ("true", "text", "data", "count", "false")
TOTAL = ("none", "estimate", "accurate")


@dataclass(frozen=True, slots=True)
class Include:
    """`_include`/`_revinclude` = `source:param[:target]`; `source` and `param` may be `*`."""

    source: str
    param: str
    target: str | None = None
    iterate: bool = False


@dataclass(slots=True)
class SearchQuery:
    """A parsed search.

    `sort` holds (parameter, descending) pairs; `summary` is None when absent; `echo` keeps the
    received parameters (except `_count`/`_offset`) for the Bundle links; `warnings` are the
    issues to report in an OperationOutcome entry.
    """

    resource_type: str | None
    criteria: AllOf = field(default_factory=lambda: AllOf(()))
    count: int = DEFAULT_COUNT
    offset: int = 0
    sort: tuple[tuple[str, bool], ...] = ()
    total: str = "accurate"
    summary: str | None = None
    elements: tuple[str, ...] = ()
    includes: tuple[Include, ...] = ()
    revincludes: tuple[Include, ...] = ()
    warnings: list[Issue] = field(default_factory=list)
    echo: list[tuple[str, str]] = field(default_factory=list)


def _int(name: str, value: str) -> int:
    if not value.isdigit():
        raise Invalid(f"{name}: expected a non-negative integer, got '{value}'", expression=name)
    return int(value)


def apply_result_param(query: SearchQuery, registry: SearchParameterRegistry, name: str,
                       value: str, unknown: Callable[[str, str], None]) -> None:
    """Set one result parameter on `query`; raises `Invalid` for a malformed value.

    `unknown(name, message)` reports references to unknown parameters (warning or strict error).
    """
    base, _, modifier = name.partition(":")
    scope = query.resource_type or "Resource"
    if base == "_count":
        query.count = min(_int(name, value), MAX_COUNT)
    elif base == "_offset":
        query.offset = _int(name, value)
    elif base == "_total":
        if value not in TOTAL:
            raise Invalid(f"_total: expected one of {', '.join(TOTAL)}", expression=name)
        query.total = value
    elif base == "_summary":
        if value not in SUMMARY:
            raise Invalid(f"_summary: expected one of {', '.join(SUMMARY)}", expression=name)
        query.summary = None if value == "false" else value
    elif base == "_elements":
        query.elements += tuple(e.strip() for e in value.split(",") if e.strip())
    elif base == "_sort":
        keys = list(query.sort)
        for item in value.split(","):
            desc = item.startswith("-")
            pname = item[1:] if desc else item
            if registry.get(scope, pname) is None:
                unknown(name, f"_sort: unknown search parameter '{pname}' for {scope}")
            else:
                keys.append((pname, desc))
        query.sort = tuple(keys)
    elif modifier not in ("", "iterate"):
        unknown(name, f"{base}: unknown modifier '{modifier}'")
    else:
        include = _include(registry, name, value, modifier == "iterate", unknown)
        if include is not None and base == "_include":
            query.includes += (include,)
        elif include is not None:
            query.revincludes += (include,)


def _include(registry: SearchParameterRegistry, name: str, value: str, iterate: bool,
             unknown: Callable[[str, str], None]) -> Include | None:
    if value == "*":
        return Include("*", "*", None, iterate)
    parts = value.split(":")
    if len(parts) not in (2, 3):
        raise Invalid(f"{name}: expected 'Type:parameter[:targetType]', got '{value}'",
                      expression=name)
    source, pname = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if source not in registry.definitions.resource_types:
        unknown(name, f"{name}: unknown resource type '{source}'")
        return None
    if pname == "*":
        return Include(source, "*", target, iterate)
    param = registry.get(source, pname)
    if param is None or param.type != "reference":
        unknown(name, f"{name}: '{pname}' is not a reference parameter of {source}")
        return None
    if target is not None and target not in param.targets:
        unknown(name, f"{name}: '{target}' is not a target type of {source}:{pname}")
        return None
    return Include(source, pname, target, iterate)
