"""Compile SearchParameter FHIRPath expressions into fast getters over FHIR JSON.

Indexing runs on every write, so the simple forms used by nearly all official parameters
(dotted paths, `|` unions, `ofType(T)`/`as T`, `where(resolve() is T)`, `where(f='x')`,
`extension('url')`, `[n]`, `first()`, and `X.exists() and X != false`) become a list of
dictionary steps. Anything else falls back to `fhirpathpy` (compiled once per expression and
cached).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from server.fhir.fhirpath_text import split_top_level
from server.search.registry import split_union

# A value found in the resource and, for choice elements, the FHIR type its JSON key names.
Found = tuple[Any, str | None]
Getter = Callable[[dict[str, Any]], list[Found]]
Step = tuple[str, str, str]
PRIMITIVES = frozenset({
    "boolean", "integer", "string", "decimal", "uri", "url", "canonical", "base64Binary",
    "instant", "date", "dateTime", "time", "code", "oid", "id", "markdown", "unsignedInt",
    "positiveInt", "uuid",
})

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INDEXED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\[(\d+)\]")
_CALL = re.compile(r"(ofType|as|where|extension|first)\((.*)\)", re.S)
_RESOLVE_IS = re.compile(r"resolve\(\)\s+is\s+([A-Za-z]+)")
_FIELD_EQ = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*'([^']*)'")
_AS = re.compile(r"(.+?)\s+as\s+([A-Za-z]+)", re.S)


class Unsupported(Exception):
    """The expression is outside the compiled subset (use the fallback)."""


def _strip_parens(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and _closing(text) == len(text) - 1:
        text = text[1:-1].strip()
    return text


def _closing(text: str) -> int:
    depth = 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return i
    return -1


def _type_key(name: str, fhir_type: str) -> str:
    return name + fhir_type[0].upper() + fhir_type[1:]


def compile_steps(branch: str, roots: frozenset[str]) -> list[Step]:
    """Return the steps of one union branch; raises `Unsupported` outside the subset."""
    text = _strip_parens(branch)
    if text.startswith("("):
        close = _closing(text)
        rest = text[close + 1:].strip()
        if not rest.startswith("."):
            raise Unsupported(branch)
        return compile_steps(text[1:close], roots) + compile_steps("X" + rest, frozenset({"X"}))
    as_match = _AS.fullmatch(text)
    if as_match:
        return _as_type(compile_steps(as_match[1], roots), as_match[2])
    parts = split_top_level(text, ".")
    if parts[0] not in roots:
        raise Unsupported(branch)
    steps: list[Step] = []
    for part in parts[1:]:
        call = _CALL.fullmatch(part)
        indexed = _INDEXED.fullmatch(part)
        if _IDENT.fullmatch(part):
            steps.append(("key", part, ""))
        elif indexed:
            steps += [("key", indexed[1], ""), ("index", indexed[2], "")]
        elif call and call[1] in ("ofType", "as") and _IDENT.fullmatch(call[2]):
            steps = _as_type(steps, call[2])
        elif call and call[1] == "first" and not call[2]:
            steps.append(("index", "0", ""))
        elif call and call[1] == "extension" and re.fullmatch(r"'[^']*'", call[2]):
            steps += [("key", "extension", ""), ("eq", "url", call[2][1:-1])]
        elif call and call[1] == "where" and _RESOLVE_IS.fullmatch(call[2]):
            steps.append(("resolve_is", _RESOLVE_IS.fullmatch(call[2])[1], ""))  # type: ignore[index]
        elif call and call[1] == "where" and _FIELD_EQ.fullmatch(call[2]):
            field = _FIELD_EQ.fullmatch(call[2])
            steps.append(("eq", field[1], field[2]))  # type: ignore[index]
        else:
            raise Unsupported(branch)
    return steps


def _as_type(steps: list[Step], fhir_type: str) -> list[Step]:
    if not steps or steps[-1][0] != "key":
        raise Unsupported(fhir_type)
    name = steps[-1][1]
    return [*steps[:-1], ("typed", _type_key(name, fhir_type), fhir_type)]


def run_steps(steps: list[Step], resource: dict[str, Any], choices: frozenset[str]) -> list[Found]:
    """Apply compiled steps to a resource; JSON arrays are flattened at every step."""
    values: list[Found] = [(resource, None)]
    for op, arg, arg2 in steps:
        out: list[Found] = []
        if op == "key" or op == "typed":
            hint = arg2 or None
            for value, _ in values:
                if not isinstance(value, dict):
                    continue
                found = value.get(arg)
                if found is None:
                    if op == "key" and arg in choices:
                        _choice(value, arg, out)
                    continue
                if isinstance(found, list):
                    out.extend((item, hint) for item in found)
                else:
                    out.append((found, hint))
        elif op == "index":
            out = values[int(arg):int(arg) + 1]
        elif op == "eq":
            out = [v for v in values if isinstance(v[0], dict) and v[0].get(arg) == arg2]
        elif op == "resolve_is":
            out = [v for v in values if _reference_type(v[0]) == arg]
        values = out
        if not values:
            break
    return values


def _choice(value: dict[str, Any], name: str, out: list[Found]) -> None:
    size = len(name)
    for key, found in value.items():
        if key.startswith(name) and len(key) > size and key[size].isupper():
            hint = key[size:]
            lowered = hint[0].lower() + hint[1:]
            out.append((found, lowered if lowered in PRIMITIVES else hint))


def _reference_type(value: Any) -> str | None:
    ref = value.get("reference") if isinstance(value, dict) else None
    if isinstance(ref, str) and "/" in ref:
        parts = ref.split("/")
        # Absolute URLs and `Type/id/_history/n` both keep the type before the id.
        if len(parts) >= 4 and parts[-2] == "_history":
            return parts[-4]
        return parts[-2]
    return value.get("type") if isinstance(value, dict) else None


# `X.exists() and X != false` (Patient.deceased): whether X holds anything but `false`.
_PRESENT_NOT_FALSE = re.compile(r"(?P<path>[A-Za-z.]+)\.exists\(\) and (?P=path) != false")


def compile_expression(expression: str, resource_type: str,
                       choices: frozenset[str]) -> Getter:
    """Return a getter evaluating `expression` on resources of `resource_type`."""
    roots = frozenset({resource_type, "Resource", "DomainResource"})
    flag = _PRESENT_NOT_FALSE.fullmatch(expression.strip())
    if flag:
        try:
            steps = compile_steps(flag["path"], roots)
        except Unsupported:
            pass
        else:
            return lambda resource: [(any(v is not False for v, _ in run_steps(
                steps, resource, choices)), None)]
    compiled: list[list[Step]] = []
    fallback: list[str] = []
    for branch in split_union(expression):
        try:
            compiled.append(compile_steps(branch, roots))
        except Unsupported:
            fallback.append(branch)
    slow = _fallback(" | ".join(fallback)) if fallback else None
    if len(compiled) == 1 and slow is None:
        only = compiled[0]
        return lambda resource: run_steps(only, resource, choices)

    def getter(resource: dict[str, Any]) -> list[Found]:
        out: list[Found] = []
        for steps in compiled:
            out.extend(run_steps(steps, resource, choices))
        if slow is not None:
            out.extend(slow(resource))
        return out

    return getter


def _fallback(expression: str) -> Getter:
    from fhirpathpy import compile as fp_compile
    from fhirpathpy.models import models

    evaluate = fp_compile(expression, model=models["r4"])

    def getter(resource: dict[str, Any]) -> list[Found]:
        try:
            found = evaluate(resource, {})
        except Exception:  # a failing expression must never block a write
            return []
        return [(v if isinstance(v, dict | list | str | bool | int | float) else str(v), None)
                for v in found]

    return getter
