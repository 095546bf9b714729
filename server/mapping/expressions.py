"""FHIRPath, the one expression language of the maps: conditions (`when`, checks) and
computed values (`expression`, `reverse`) over native records and FHIR resources alike.
Expressions are compiled once and cached: over text alone on the validator's compiled subset,
otherwise (and for whatever the subset cannot settle) on fhirpathpy.

One function is added to FHIRPath for maps: `code.translate(conceptMap, system, target)` gives
the target code(s) of a code through a ConceptMap (nothing when unmapped), so a condition such
as "this activity is NEET" is read from the ConceptMap, not written into the map; and
`value.convert(format)` reads a native value with one of the rule formats
(`LapseDate.convert('date:DD/MM/YYYY')`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from fhirpathpy import compile as compile_fhirpath

from server.mapping.codes import Codes
from server.mapping.conversions import CONVERSIONS, ConversionError
from server.validation.fhirpath_compile import compile_expression as compile_fast
from server.validation.fhirpath_values import Env, Fn, Unsupported, plain

_CODES: ContextVar[Codes | None] = ContextVar("mapping_codes", default=None)


def _translate(inputs: list[Any], concept_map: str, system: str, target: str) -> list[Any]:
    codes = _CODES.get()
    if codes is None:
        return []
    return [coding["code"] for code in inputs
            for coding in codes.translate_all(concept_map, str(code), system, target)]


def _convert(inputs: list[Any], name: str) -> list[Any]:
    conversion = CONVERSIONS.get(name)
    if conversion is None:
        return []
    out = []
    for value in inputs:
        try:
            out.append(conversion.to_fhir(value))
        except ConversionError:
            continue  # an unreadable value gives nothing; the rule reading it reports it
    return out


_FUNCTIONS = {"translate": {"fn": _translate, "arity": {3: ["String", "String", "String"]}},
              "convert": {"fn": _convert, "arity": {1: ["String"]}}}


@contextmanager
def translating(codes: Codes) -> Iterator[None]:
    """Within the block, `translate()` in expressions uses `codes`."""
    token = _CODES.set(codes)
    try:
        yield
    finally:
        _CODES.reset(token)


@lru_cache(maxsize=2048)
def _compiled(expression: str) -> Any:
    return compile_fhirpath(expression, None, {"userInvocationTable": _FUNCTIONS})


_SCALARS = (str, int, float, bool, type(None))


def evaluate(expression: str, node: Any, variables: dict[str, Any]) -> list[Any]:
    """Return the collection `expression` gives over `node` with `%name` variables.

    Over no node and plain-text variables the answer depends on the text alone, so it is
    remembered: a bulk extract repeats the same periods, dates and codes row after row.
    """
    # Only the variables the expression names matter (a check sees every mapped resource).
    variables = {k: v for k, v in variables.items() if f"%{k}" in expression}
    if node or not all(isinstance(v, _SCALARS) for v in variables.values()):
        return _evaluate(expression, node, variables)
    key = (expression, tuple(sorted(variables.items())))
    if "translate(" not in expression:
        return list(_remembered(*key))
    # translate() reads ConceptMaps, which can change while the server runs: remembered only
    # for as long as the Codes of this one request (one upload) live.
    codes = _CODES.get()
    if codes is None:
        return _evaluate(expression, node, variables)
    if key not in codes.remembered:
        codes.remembered[key] = _evaluate(expression, node, variables)
    return list(codes.remembered[key])


@lru_cache(maxsize=65536)
def _remembered(expression: str, variables: tuple[tuple[str, Any], ...]) -> tuple[Any, ...]:
    return tuple(_evaluate(expression, {}, dict(variables)))


class ExpressionError(ValueError):
    """A map's expression that cannot be evaluated (a defect of the map, not of the record)."""


def _evaluate(expression: str, node: Any, variables: dict[str, Any]) -> list[Any]:
    try:
        return _run(expression, node, variables)
    except Exception as error:  # fhirpathpy raises many types for bad expressions or data
        raise ExpressionError(f"{expression!r}: {error}") from None


def _run(expression: str, node: Any, variables: dict[str, Any]) -> list[Any]:
    # Over text alone (no node; values of text, or lists of text), the compiled subset: native
    # trees nest lists (HL7 components), which fhirpathpy flattens in its own way.
    fast = None if node else _fast(expression)
    if not isinstance(node, dict):
        node = {"value": node}
    if "resourceType" not in node:
        # FHIRPath reads a capitalised first name (`Surname`) as a resource type test; a
        # native record has no type, so give it one that no name will test for.
        node = {"resourceType": "NativeRecord", **node}
    if fast is not None and all(_text(v) for v in variables.values()):
        try:
            return [plain(v) for v in fast([node], Env(node, node, node, variables))]
        except Exception:  # what the subset cannot settle (or raises on), fhirpathpy decides
            pass
    return list(_compiled(expression)(node, variables))


def _text(value: Any) -> bool:
    return type(value) in _TEXT or (type(value) is list and all(type(v) in _TEXT for v in value))


_TEXT = (str, int, float, bool, type(None))


@lru_cache(maxsize=2048)
def _fast(expression: str) -> Fn | None:
    # The validator's compiled FHIRPath (closures over JSON, ~10x fhirpathpy), or None
    # outside its subset. Both give the same answers: tests run every map both ways.
    try:
        return compile_fast(expression, {"translate": _translate, "convert": _convert})
    except Unsupported:
        return None


def first(expression: str, node: Any, variables: dict[str, Any]) -> Any:
    """Return the first item `expression` gives, or None for an empty result."""
    result = evaluate(expression, node, variables)
    return result[0] if result else None


def holds(expression: str, node: Any, variables: dict[str, Any]) -> bool | None:
    """Return the expression's boolean value; None when it gives nothing (unknown)."""
    result = evaluate(expression, node, variables)
    if not result:
        return None
    return all(bool(item) for item in result)
