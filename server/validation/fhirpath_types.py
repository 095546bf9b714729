"""FHIRPath type operators (`is`, `as`, `ofType()`) over raw FHIR JSON.

Resource types are read from `resourceType`; data types only through a choice element's JSON
name (`valueQuantity`), so anything else raises `Unsupported` (compile time) or `Undecidable`
(run time, e.g. a non-choice element whose type the JSON does not carry).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fhirpathpy.models import models

from server.validation import fhirpath_values as fv
from server.validation.fhirpath_functions import identity
from server.validation.fhirpath_values import Env, Fn, Undecidable, Unsupported

Node = dict[str, Any]
Compile = Callable[[Node], Fn]
_PARENT: dict[str, str] = models["r4"]["type2Parent"]
_BY_SUFFIX = {name[0].upper() + name[1:]: name for name in _PARENT}
# Capitalised System types would need FHIR-to-System type mapping rules; leave them to fhirpathpy.
_SYSTEM = frozenset({"Boolean", "String", "Integer", "Decimal", "Date", "DateTime", "Time"})


def _is_a(name: str, ancestor: str) -> bool:
    current: str | None = name
    while current is not None:
        if current == ancestor:
            return True
        current = _PARENT.get(current)
    return False


def type_filter(operand: Node | None, spec: str, op: str, compile_: Compile) -> Fn:
    """Return `operand is/as/ofType spec`; raise Unsupported unless the type is knowable.

    Resource types are read from `resourceType`; data types only through a choice element's
    JSON name (`valueQuantity`), so the operand must then be a member access.
    """
    parts = spec.replace("`", "").split(".")
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != "FHIR"):
        raise Unsupported(f"type {spec}")
    name = parts[-1]
    if name in _SYSTEM or name not in _PARENT:
        raise Unsupported(f"type {spec}")
    if _is_a(name, "Resource"):
        source = compile_(operand) if operand is not None else identity
        return _typed(op, source, lambda item: type(item) is dict
                      and item.get("resourceType") == name)
    parent, key = _member_operand(operand, compile_)

    def choice_of(focus: list[Any], env: Env) -> list[Any]:
        out = []
        for item in parent(focus, env):
            item = item.element if type(item) is fv.Primitive else item
            if type(item) is not dict:
                continue
            if key in item or "_" + key in item:
                raise Undecidable(f"type of {key} is not in the JSON")
            found = fv.choice_name(item, key)
            if found is not None and _is_a(_BY_SUFFIX[found[len(key):]], name):
                out.extend(fv.member([item], key))
            elif found is not None and op == "is":
                out.append(None)
        return out
    return _typed(op, choice_of, lambda item: item is not None)


def _member_operand(operand: Node | None, compile_: Compile) -> tuple[Fn, str]:
    if operand is not None and operand["type"] == "TermExpression":
        term = operand["children"][0]
        if term["type"] == "InvocationTerm" and term["children"][0]["type"] == (
                "MemberInvocation"):
            return identity, term["children"][0]["children"][0]["text"].strip("`")
    if operand is not None and operand["type"] == "InvocationExpression":
        step = operand["children"][1]
        if step["type"] == "MemberInvocation":
            return compile_(operand["children"][0]), step["children"][0]["text"].strip("`")
    raise Unsupported("a data type test needs a choice element")


def _typed(op: str, source: Fn, test: Callable[[Any], bool]) -> Fn:
    def run(focus: list[Any], env: Env) -> list[Any]:
        items = source(focus, env)
        if op == "ofType":
            return [x for x in items if test(x)]
        if len(items) > 1:
            raise Undecidable(f"{op} needs a single item")
        if op == "is":
            return [test(items[0])] if items else []
        return [x for x in items if test(x)]
    return run
