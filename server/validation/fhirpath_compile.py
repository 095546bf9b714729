"""Compile FHIRPath expressions (as parsed by fhirpathpy) into nested Python closures.

`compile_expression(text)` parses once with fhirpathpy's ANTLR parser and turns the tree into
a `Fn`, `fn(focus, env) -> collection`, over raw FHIR JSON. Anything outside the supported
subset raises `Unsupported` at compile time; data the raw JSON cannot settle raises
`Undecidable` at run time. Both mean "ask fhirpathpy instead", never a guessed answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from fhirpathpy.parser import parse

from server.validation import fhirpath_values as fv
from server.validation.fhirpath_functions import USER_FUNCTIONS, UserFunction, function
from server.validation.fhirpath_types import type_filter
from server.validation.fhirpath_values import Env, Fn, Unsupported

Node = dict[str, Any]
UCUM = "http://unitsofmeasure.org"
_ESCAPES = {"'": "'", '"': '"', "`": "`", "r": "\r", "n": "\n", "t": "\t", "f": "\f",
            "\\": "\\", "/": "/"}


def compile_expression(expression: str, functions: Mapping[str, UserFunction] | None = None,
                       ) -> Fn:
    """Return the compiled form of `expression`; raise Unsupported if it is outside the subset.

    `functions` adds functions of string arguments (the maps' `translate()`, `convert()`).
    Parse errors raise Unsupported too (fhirpathpy then reports them as it does today).
    """
    try:
        tree: Node = parse(expression)  # type: ignore[no-untyped-call]
    except Exception as exc:  # the ANTLR parser raises assorted exception types
        raise Unsupported(f"cannot parse: {exc}") from exc
    token = USER_FUNCTIONS.set(functions or {})
    try:
        return expr(tree["children"][0])
    finally:
        USER_FUNCTIONS.reset(token)


def expr(node: Node) -> Fn:
    """Return the closure for one expression node; raise Unsupported for unknown shapes."""
    kind, kids = node["type"], node.get("children", [])
    if kind in ("TermExpression", "ParenthesizedTerm"):
        return expr(kids[0])
    if kind == "InvocationTerm":
        return invocation(kids[0], None)
    if kind == "LiteralTerm":
        return _literal(kids[0])
    if kind == "ExternalConstantTerm":
        return _constant(kids[0]["children"][0])
    if kind == "InvocationExpression":
        typed = _type_function(kids[1])
        if typed is not None:
            return type_filter(kids[0], typed[1], typed[0], expr)
        return invocation(kids[1], expr(kids[0]))
    if kind == "IndexerExpression":
        return _indexer(expr(kids[0]), expr(kids[1]))
    if kind == "PolarityExpression":
        return _polarity(node["terminalNodeText"][0], expr(kids[0]))
    if kind == "TypeExpression":
        op, spec = node["terminalNodeText"][0], kids[1]["text"]
        return type_filter(kids[0], spec, op, expr)
    op = node["terminalNodeText"][0]
    left, right = expr(kids[0]), expr(kids[1])
    if kind in ("AndExpression", "OrExpression", "ImpliesExpression"):
        return _logic(op, left, right)
    if kind in ("MultiplicativeExpression", "AdditiveExpression"):
        return _concat(left, right) if op == "&" else _arithmetic(op, left, right)
    if kind == "UnionExpression":
        return lambda f, e: fv.distinct(left(f, e) + right(f, e))
    if kind == "InequalityExpression":
        return _inequality(op, left, right)
    if kind == "EqualityExpression":
        return _equality(op, left, right)
    if kind == "MembershipExpression":
        return _membership(left, right) if op == "in" else _membership(right, left)
    raise Unsupported(f"{kind} is not supported")


def invocation(node: Node, source: Fn | None) -> Fn:
    """Return the closure for `source.node` (source None: the invocation starts a term)."""
    kind = node["type"]
    if kind == "ThisInvocation":
        return lambda f, e: e.this
    if kind == "MemberInvocation":
        key = node["children"][0]["text"].strip("`")
        if key[:1].isupper():
            if source is not None:
                raise Unsupported("type names inside a path")
            return _resource_type(key)
        if source is None:
            return lambda f, e: fv.member(f, key)
        src = source
        return lambda f, e: fv.member(src(f, e), key)
    typed = _type_function(node)
    if typed is not None and source is None:
        return type_filter(None, typed[1], typed[0], expr)
    if kind == "FunctionInvocation":
        functn = node["children"][0]["children"]
        name = functn[0]["text"]
        params = functn[1]["children"] if len(functn) > 1 else []
        return function(name, params, source, expr)
    raise Unsupported(f"{kind} is not supported")


def _type_function(node: Node) -> tuple[str, str] | None:
    """Return (function, type name) for `ofType(T)`, `as(T)`, `is(T)`, else None."""
    if node["type"] != "FunctionInvocation":
        return None
    functn = node["children"][0]["children"]
    params = functn[1]["children"] if len(functn) > 1 else []
    if functn[0]["text"] not in ("ofType", "as", "is") or len(params) != 1:
        return None
    return functn[0]["text"], params[0].get("text", "")


def _resource_type(name: str) -> Fn:
    def run(focus: list[Any], env: Env) -> list[Any]:
        for item in focus:
            if type(item) is not dict or "resourceType" not in item:
                raise fv.Undecidable(f"{name} on a non-resource")
        return [item for item in focus if item["resourceType"] == name]
    return run


def _literal(node: Node) -> Fn:
    kind, text = node["type"], node.get("text", "")
    value: Any
    if kind == "NullLiteral":
        return lambda f, e: []
    if kind == "BooleanLiteral":
        value = text == "true"
    elif kind == "StringLiteral":
        value = _unescape(text[1:-1])
    elif kind == "NumberLiteral":
        number = Decimal(text)
        value = int(number) if "." not in text else number
    elif kind == "DateTimeLiteral" and fv.date_text_ok(text[1:]):
        value = fv.DateLiteral(text[1:])
    else:
        raise Unsupported(f"{kind} {text} is not supported")
    return lambda f, e: [value]


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        if code[0] == "u":
            return chr(int(code[1:], 16))
        if code not in _ESCAPES:
            raise Unsupported(f"escape \\{code}")
        return _ESCAPES[code]
    return re.sub(r"\\(u[0-9A-Fa-f]{4}|.)", one, text)


def _constant(node: Node) -> Fn:
    name = node.get("text", "").strip("`")
    if name == "resource":
        return lambda f, e: [] if e.resource is None else [e.resource]
    if name == "rootResource":
        return lambda f, e: [] if e.root is None else [e.root]
    if name == "context":
        return lambda f, e: [] if e.context is None else [e.context]
    if name == "ucum":
        return lambda f, e: [UCUM]

    def variable(focus: list[Any], env: Env) -> list[Any]:
        if env.variables is None or name not in env.variables:
            raise fv.Undecidable(f"%{name} is not bound")
        value = env.variables[name]
        return [] if value is None else list(value) if type(value) is list else [value]
    return variable


def _indexer(source: Fn, index: Fn) -> Fn:
    def run(focus: list[Any], env: Env) -> list[Any]:
        collection, at = source(focus, env), fv.singleton(index(focus, env))
        if at is None:
            return []
        if type(at) is not int:
            raise fv.Undecidable("index must be an integer")
        return [collection[at]] if 0 <= at < len(collection) else []
    return run


def _polarity(sign: str, operand: Fn) -> Fn:
    def run(focus: list[Any], env: Env) -> list[Any]:
        value = fv.number(fv.singleton(operand(focus, env)))
        if value is None:
            raise fv.Undecidable("unary sign needs one number")
        return [-value if sign == "-" else value]
    return run


def _logic(op: str, left: Fn, right: Fn) -> Fn:
    def run(focus: list[Any], env: Env) -> list[Any]:
        a = fv.truth(left(focus, env))
        if (op == "and" and a is False) or (op == "or" and a is True):
            return [a]
        if op == "implies" and a is False:
            return [True]
        b = fv.truth(right(focus, env))
        if op == "and":
            result = False if b is False else (True if a and b else None)
        elif op == "or":
            result = True if b is True else (False if a is False and b is False else None)
        elif op == "xor":
            result = None if a is None or b is None else a != b
        else:  # implies, a is True or empty
            result = True if b is True else (b if a is True else None)
        return [] if result is None else [result]
    return run


def _arithmetic(op: str, left: Fn, right: Fn) -> Fn:
    def run(focus: list[Any], env: Env) -> list[Any]:
        a, b = fv.singleton(left(focus, env)), fv.singleton(right(focus, env))
        if a is None or b is None:
            return []
        result = fv.arithmetic(op, a, b)
        return [] if result is None else [result]
    return run


def _concat(left: Fn, right: Fn) -> Fn:
    def run(focus: list[Any], env: Env) -> list[Any]:
        a, b = fv.singleton(left(focus, env)), fv.singleton(right(focus, env))
        a, b = "" if a is None else a, "" if b is None else b
        if type(a) is not str or type(b) is not str:
            raise fv.Undecidable("& needs strings")
        return [a + b]
    return run


def _inequality(op: str, left: Fn, right: Fn) -> Fn:
    tests: dict[str, Callable[[int], bool]] = {
        "<": lambda s: s < 0, "<=": lambda s: s <= 0, ">": lambda s: s > 0,
        ">=": lambda s: s >= 0}
    test = tests[op]

    def run(focus: list[Any], env: Env) -> list[Any]:
        result = fv.order(left(focus, env), right(focus, env), test)
        return [] if result is None else [result]
    return run


def _equality(op: str, left: Fn, right: Fn) -> Fn:
    negate = op[0] == "!"
    if op in ("~", "!~"):
        return lambda f, e: [fv.equivalent(left(f, e), right(f, e)) is not negate]

    def run(focus: list[Any], env: Env) -> list[Any]:
        result = fv.equal(left(focus, env), right(focus, env))
        return [] if result is None else [result is not negate]
    return run


def _membership(item: Fn, collection: Fn) -> Fn:
    def run(focus: list[Any], env: Env) -> list[Any]:
        needle = item(focus, env)
        if not needle:
            return []
        if len(needle) > 1:
            raise fv.Undecidable("membership needs a single item")
        return [any(fv.equal_items(needle[0], x) is True for x in collection(focus, env))]
    return run
