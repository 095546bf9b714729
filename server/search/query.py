"""Parse search parameters (`[(name, value), ...]` in received order) into a `SearchQuery`.

Repeated parameters are ANDed, comma-separated values are ORed. Unknown parameters and
modifiers become warnings (or `Invalid` when `strict`); malformed values are always `Invalid`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from server.errors import Invalid, Issue
from server.search.criteria import AllOf, AnyOf, Chain, Criterion, Has, HasKey, Not
from server.search.options import RESULT_PARAMS, SearchQuery, apply_result_param
from server.search.registry import SearchParam, SearchParameterRegistry
from server.search.types import UnknownModifier, date, quantity, reference, string, token

Parser = Callable[[SearchParam, str | None, str], Criterion]
PARSERS: dict[str, Parser] = {
    "token": token.criterion,
    "string": string.criterion,
    "date": date.criterion,
    "reference": reference.criterion,
    "uri": reference.uri_criterion,
    "number": quantity.criterion,
    "quantity": quantity.quantity_criterion,
}
IGNORED = frozenset({"_format", "_pretty"})
_COMMA = re.compile(r"(?<!\\),")


class Unknown(Exception):
    """An unknown parameter or modifier (a warning, or `Invalid` in strict mode)."""


def split_values(value: str) -> list[str]:
    """Split a parameter value on unescaped commas and unescape `\\,`."""
    return [v.replace("\\,", ",") for v in _COMMA.split(value)]


class _Parser:
    def __init__(self, registry: SearchParameterRegistry, strict: bool) -> None:
        self.registry = registry
        self.strict = strict
        self.warnings: list[Issue] = []

    def unknown(self, name: str, message: str) -> None:
        if self.strict:
            raise Invalid(message, expression=name)
        self.warnings.append(Issue("warning", "not-supported", message, name, "unknown-parameter"))

    def criterion(self, resource_type: str, name: str, value: str) -> Criterion:
        """Return the criterion for one `name=value` on `resource_type`; raises `Unknown`."""
        if name.startswith("_has:"):
            return self._has(resource_type, name, value)
        head, _, rest = name.partition(".")
        pname, _, modifier_text = head.partition(":")
        modifier = modifier_text or None
        param = self.registry.get(resource_type, pname)
        if param is None:
            raise Unknown(f"Unknown search parameter '{pname}' for {resource_type}")
        if rest:
            return self._chain(param, modifier, rest, value)
        if modifier == "missing":
            if value not in ("true", "false"):
                raise Invalid(f"{name}: expected true or false", expression=name)
            present = HasKey((f"?{pname}",))
            return Not(present) if value == "true" else present
        values = split_values(value)
        try:
            if pname == "_id" and modifier in (None, "not"):
                keys = HasKey(tuple(f"_id|{v}" for v in values))
                return Not(keys) if modifier else keys
            parsed = [PARSERS[param.type](param, modifier, v) for v in values]
        except UnknownModifier:
            raise Unknown(f"Unknown modifier '{modifier}' for {param.type} parameter "
                          f"'{pname}'") from None
        if modifier == "not":  # not any of the values
            return parsed[0] if len(parsed) == 1 else AllOf(tuple(parsed))
        return parsed[0] if len(parsed) == 1 else AnyOf(tuple(parsed))

    def _chain(self, param: SearchParam, modifier: str | None, rest: str,
               value: str) -> Criterion:
        if param.type != "reference":
            raise Unknown(f"'{param.name}' is not a reference parameter and cannot be chained")
        if modifier is not None and modifier not in param.targets:
            raise Unknown(f"'{modifier}' is not a target type of '{param.name}'")
        targets = (modifier,) if modifier else param.targets
        chains: list[Criterion] = []
        for target in targets:
            try:
                chains.append(Chain(param.name, (target,), self.criterion(target, rest, value)))
            except Unknown:
                continue  # this target type does not define the chained parameter
        if not chains:
            raise Unknown(f"Chained parameter '{rest}' is not defined on any target of "
                          f"'{param.name}'")
        if len(chains) > 1:
            name = f"{param.name}.{rest}"
            raise Invalid(f"{name}: ambiguous chain, '{rest}' exists on several target types of "
                          f"'{param.name}'; name one, e.g. {param.name}:{chains[0].targets[0]}"  # type: ignore[union-attr]
                          f".{rest}", expression=name)
        return chains[0]

    def _has(self, resource_type: str, name: str, value: str) -> Criterion:
        parts = name.split(":", 3)
        if len(parts) != 4:
            raise Invalid(f"'{name}': expected _has:Type:reference:parameter", expression=name)
        _, other, ref_name, inner = parts
        if other not in self.registry.definitions.resource_types:
            raise Unknown(f"_has: unknown resource type '{other}'")
        ref = self.registry.get(other, ref_name)
        if ref is None or ref.type != "reference":
            raise Unknown(f"_has: '{ref_name}' is not a reference parameter of {other}")
        return Has(other, ref_name, self.criterion(other, inner, value))


def parse_search(registry: SearchParameterRegistry, resource_type: str | None,
                 params: list[tuple[str, str]], strict: bool) -> SearchQuery:
    """Return the parsed query; raises `Invalid` for malformed values (and unknowns if strict).

    `resource_type` None parses a system-level search (Resource-level parameters only).
    """
    parser = _Parser(registry, strict)
    query = SearchQuery(resource_type)
    criteria: list[Criterion] = []
    scope = resource_type or "Resource"
    for name, value in params:
        base = name.split(":", 1)[0]
        if base in IGNORED:
            continue
        if base in RESULT_PARAMS:
            apply_result_param(query, registry, name, value, parser.unknown)
            if base not in ("_count", "_offset"):  # paging links set these themselves
                query.echo.append((name, value))
            continue
        try:
            criteria.append(parser.criterion(scope, name, value))
        except Unknown as exc:
            parser.unknown(name, str(exc))
            continue
        query.echo.append((name, value))
    query.criteria = AllOf(tuple(criteria))
    query.warnings = parser.warnings
    return query
