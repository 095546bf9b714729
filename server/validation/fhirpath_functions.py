"""FHIRPath functions and type operators for `fhirpath_compile`.

`function()` builds the closure for `source.name(params)`; unknown functions, or known ones
with unexpected arguments, raise `Unsupported` when compiled.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

from server.validation import fhirpath_values as fv
from server.validation.fhirpath_values import Env, Fn, Undecidable, Unsupported

Node = dict[str, Any]
Compile = Callable[[Node], Fn]
# A caller's own function: its input collection and string arguments -> the result.
UserFunction = Callable[..., list[Any]]
# The caller's functions while one expression compiles (see `compile_expression`).
USER_FUNCTIONS: ContextVar[Mapping[str, UserFunction]] = ContextVar("fhirpath_user_functions",
                                                                    default=MappingProxyType({}))


def identity(focus: list[Any], env: Env) -> list[Any]:
    """Return the focus unchanged (the input of a function that starts a term)."""
    return focus


def function(name: str, params: list[Node], source: Fn | None, compile_: Compile) -> Fn:
    """Return the closure for `source.name(params)`; raise Unsupported if not compiled here."""
    src = source or identity
    if name == "trace":
        return src
    if name in ("ofType", "as", "is"):
        raise Unsupported(f"{name}() on a computed collection")
    if name in _SIMPLE and not params:
        simple = _SIMPLE[name]
        return lambda f, e: simple(src(f, e))
    args = [compile_(p) for p in params]
    if name in _LAMBDA and len(args) == 1:
        return _LAMBDA[name](src, args[0])
    if name == "exists" and len(args) == 1:
        where = _where(src, args[0])
        return lambda f, e: [bool(where(f, e))]
    if name == "iif" and len(args) in (2, 3):
        return _iif(src, args)
    if name == "matches" and len(args) == 1:
        return _matches(src, args[0])
    if name in _STRING and len(args) == 1:
        return _string_function(_STRING[name], src, args[0])
    if name == "substring" and len(args) in (1, 2):
        return _substring(src, args)
    if name in _COLLECTION and len(args) == 1:
        combine, other = _COLLECTION[name], args[0]
        return lambda f, e: combine(src(f, e), other(e.this, e))
    user = USER_FUNCTIONS.get().get(name)
    if user is not None:
        return _user_function(user, src, args)
    raise Unsupported(f"{name}() with {len(params)} argument(s) is not supported")


def _user_function(user: UserFunction, src: Fn, args: list[Fn]) -> Fn:
    def run(focus: list[Any], env: Env) -> list[Any]:
        values = [fv.singleton(a(focus, env)) for a in args]
        if not all(type(v) is str for v in values):
            raise Undecidable("a user function takes strings")
        return user([fv.plain(i) for i in src(focus, env)], *values)
    return run


def _not(c: list[Any]) -> list[Any]:
    value = fv.truth(c)
    return [] if value is None else [not value]


def _has_value(c: list[Any]) -> list[Any]:
    return [len(c) == 1 and type(c[0]) not in (dict, list) and fv.plain(c[0]) is not None]


def _length(c: list[Any]) -> list[Any]:
    value = fv.singleton(c)
    if value is None:
        return []
    if type(value) is not str:
        raise Undecidable("length() needs a string")
    return [len(value)]


def _to_integer(c: list[Any]) -> list[Any]:
    value = fv.singleton(c)
    if type(value) is bool:
        return [int(value)]
    if type(value) is int:
        return [value]
    if type(value) is str:
        return [int(value)] if re.fullmatch(r"[+-]?[0-9]+", value) else []
    if value is None or type(value) is dict:
        return []
    raise Undecidable("toInteger() of a decimal")


def _to_string(c: list[Any]) -> list[Any]:
    value = fv.singleton(c)
    if type(value) is bool:
        return ["true" if value else "false"]
    if type(value) is str:
        return [value]
    if type(value) is fv.DateLiteral:
        return [value.text]
    number = fv.number(value)
    if number is not None:
        return [str(number)]
    if value is None:
        return []
    raise Undecidable("toString() of a complex value")


def _all_is(wanted: bool) -> Callable[[list[Any]], list[Any]]:
    def run(c: list[Any]) -> list[Any]:
        values = [fv.plain(x) for x in c]
        if any(type(v) is not bool for v in values):
            raise Undecidable("expected booleans")
        return [all(v is wanted for v in values)]
    return run


def _any_is(wanted: bool) -> Callable[[list[Any]], list[Any]]:
    def run(c: list[Any]) -> list[Any]:
        values = [fv.plain(x) for x in c]
        if any(type(v) is not bool for v in values):
            raise Undecidable("expected booleans")
        return [any(v is wanted for v in values)]
    return run


def _descendants(c: list[Any]) -> list[Any]:
    out: list[Any] = []
    level = fv.children(c)
    while level:
        out.extend(level)
        level = fv.children(level)
    return out


_SIMPLE: dict[str, Callable[[list[Any]], list[Any]]] = {
    "exists": lambda c: [bool(c)], "empty": lambda c: [not c], "count": lambda c: [len(c)],
    "first": lambda c: c[:1], "last": lambda c: c[-1:], "tail": lambda c: c[1:],
    "not": _not, "hasValue": _has_value, "length": _length, "toInteger": _to_integer,
    "toString": _to_string, "distinct": fv.distinct,
    "isDistinct": lambda c: [len(fv.distinct(c)) == len(c)],
    "allTrue": _all_is(True), "allFalse": _all_is(False),
    "anyTrue": _any_is(True), "anyFalse": _any_is(False),
    "children": fv.children, "descendants": _descendants,
    "upper": lambda c: _string_map(c, str.upper), "lower": lambda c: _string_map(c, str.lower),
}


def _string_map(c: list[Any], change: Callable[[str], str]) -> list[Any]:
    value = fv.singleton(c)
    if value is None:
        return []
    if type(value) is not str:
        raise Undecidable("expected a string")
    return [change(value)]


def _where(src: Fn, criteria: Fn) -> Fn:
    def run(focus: list[Any], env: Env) -> list[Any]:
        saved, out = env.this, []
        try:
            for item in src(focus, env):
                env.this = [item]
                if fv.truth(criteria(env.this, env)) is True:
                    out.append(item)
        finally:
            env.this = saved
        return out
    return run


def _select(src: Fn, projection: Fn) -> Fn:
    def run(focus: list[Any], env: Env) -> list[Any]:
        saved, out = env.this, []
        try:
            for item in src(focus, env):
                env.this = [item]
                out.extend(projection(env.this, env))
        finally:
            env.this = saved
        return out
    return run


def _all(src: Fn, criteria: Fn) -> Fn:
    def run(focus: list[Any], env: Env) -> list[Any]:
        saved = env.this
        try:
            for item in src(focus, env):
                env.this = [item]
                if fv.truth(criteria(env.this, env)) is not True:
                    return [False]
        finally:
            env.this = saved
        return [True]
    return run


_LAMBDA: dict[str, Callable[[Fn, Fn], Fn]] = {"where": _where, "select": _select, "all": _all}


def _iif(src: Fn, args: list[Fn]) -> Fn:
    def run(focus: list[Any], env: Env) -> list[Any]:
        saved = env.this
        env.this = data = src(focus, env)
        try:
            if fv.truth(args[0](data, env)) is True:
                return args[1](data, env)
            return args[2](data, env) if len(args) == 3 else []
        finally:
            env.this = saved
    return run


def _string_argument(arg: Fn, env: Env) -> str | None:
    value = fv.singleton(arg(env.this, env))
    if value is not None and type(value) is not str:
        raise Undecidable("expected a string argument")
    return value


def _matches(src: Fn, pattern: Fn) -> Fn:
    cache: dict[str, re.Pattern[str]] = {}

    def run(focus: list[Any], env: Env) -> list[Any]:
        value, regex = fv.singleton(src(focus, env)), _string_argument(pattern, env)
        if value is None or regex is None:
            return []
        if type(value) is not str:
            raise Undecidable("matches() needs a string")
        compiled = cache.get(regex)
        if compiled is None:
            compiled = cache[regex] = re.compile(regex, re.DOTALL)
        return [compiled.search(value) is not None]
    return run


_STRING: dict[str, Callable[[str, str], Any]] = {
    "startsWith": str.startswith, "endsWith": str.endswith,
    "contains": lambda s, sub: sub in s, "indexOf": str.find}


def _string_function(test: Callable[[str, str], Any], src: Fn, arg: Fn) -> Fn:
    def run(focus: list[Any], env: Env) -> list[Any]:
        value, other = fv.singleton(src(focus, env)), _string_argument(arg, env)
        if value is None or other is None:
            return []
        if type(value) is not str:
            raise Undecidable("expected a string")
        return [test(value, other)]
    return run


def _substring(src: Fn, args: list[Fn]) -> Fn:
    def run(focus: list[Any], env: Env) -> list[Any]:
        value = fv.singleton(src(focus, env))
        start = fv.singleton(args[0](env.this, env))
        length = fv.singleton(args[1](env.this, env)) if len(args) == 2 else None
        if value is None or start is None:
            return []
        if type(value) is not str or type(start) is not int or (
                length is not None and (type(length) is not int or length < 0)):
            raise Undecidable("substring() needs a string and integers")
        if start < 0 or start >= len(value):
            return []
        return [value[start:] if length is None else value[start:start + length]]
    return run


_COLLECTION: dict[str, Callable[[list[Any], list[Any]], list[Any]]] = {
    "combine": lambda a, b: a + b,
    "union": lambda a, b: fv.distinct(a + b),
    "intersect": lambda a, b: fv.distinct([x for x in a if any(
        fv.equal_items(x, y) is True for y in b)]),
    "exclude": lambda a, b: [x for x in a if not any(fv.equal_items(x, y) is True for y in b)],
}
