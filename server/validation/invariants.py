"""FHIRPath invariants (`ElementDefinition.constraint`), compiled once per expression.

The shapes that dominate the base specification (`a.exists() or b.empty()`,
`x.count() <= 1`, `start <= end`, `type = 'x' implies ...`) are compiled into Python
predicates, because fhirpathpy costs ~40 µs per call and base R4 puts constraints on most
data types. Everything else falls back to fhirpathpy. A predicate returns True, False or
None (FHIRPath's empty); only False breaks the constraint.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fhirpathpy import compile as fhirpath_compile
from fhirpathpy.models import models

from server.errors import Issue, Severity
from server.fhir.fhirpath_text import split_top_level
from server.validation.fhirpath_compile import compile_expression
from server.validation.fhirpath_values import Env, Undecidable, Unsupported, plain
from server.validation.paths import values_at

# (focus, %resource, %rootResource) -> True, False or None (empty)
Predicate = Callable[[Any, Any, Any], bool | None]

BEST_PRACTICE = "http://hl7.org/fhir/StructureDefinition/elementdefinition-bestpractice"
# ele-1/ext-1 are checked structurally; dom-3 needs resolve(); txt-1/2 need htmlChecks().
SKIPPED = frozenset({"ele-1", "ext-1", "dom-3", "txt-1", "txt-2"})
_PATH = r"[A-Za-z`][A-Za-z0-9`]*(?:\.[A-Za-z`][A-Za-z0-9`]*)*"
_TEST = re.compile(rf"^({_PATH})\.(exists|empty|hasValue)\(\)(\.not\(\))?$")
_COUNT = re.compile(rf"^({_PATH})\.count\(\) (<=|=|<|>=|>) (\d+)$")
_COMPARE = re.compile(rf"^({_PATH}) (<=|<|>=|>) ({_PATH})$")
_EQUALS = re.compile(rf"^({_PATH}) (=|!=) '([^'\\]*)'$")
_MATCHES = re.compile(rf"^({_PATH})\.matches\('([^'\\]*)'\)$")
_TRACE = re.compile(r"\.trace\('[^']*'\)")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le, "<": operator.lt, "=": operator.eq, ">=": operator.ge, ">": operator.gt}


class NotEvaluable(Exception):
    """Raised when an invariant cannot be evaluated (unsupported FHIRPath or bad data)."""


@dataclass(frozen=True, slots=True)
class Constraint:
    """One invariant ready to run: `check` raises NotEvaluable when it cannot decide."""

    key: str
    severity: str
    human: str
    check: Predicate

    def issue(self, expression: str) -> Issue:
        """Return the issue for this invariant failing at `expression`."""
        severity: Severity = "error" if self.severity == "error" else "warning"
        return Issue(severity, "invariant", f"{self.key}: {self.human}", expression,
                     f"invariant-{self.key}")


class InvariantCompiler:
    """Turns ElementDefinition constraints into `Constraint`s, caching by expression."""

    def __init__(self) -> None:
        self._cache: dict[str, Predicate] = {}

    def constraints(self, element: dict[str, Any]) -> tuple[Constraint, ...]:
        """Return the evaluable constraints of an element (skipped ones left out)."""
        out: list[Constraint] = []
        for con in element.get("constraint", ()):
            key, expression = con.get("key", ""), con.get("expression")
            if key in SKIPPED or not expression or "resolve()" in expression:
                continue
            if any(e.get("url") == BEST_PRACTICE and e.get("valueBoolean")
                   for e in con.get("extension", ())):
                continue
            out.append(Constraint(key, con.get("severity", "error"), con.get("human", ""),
                                  self.predicate(expression)))
        return tuple(out)

    def predicate(self, expression: str) -> Predicate:
        """Return the compiled predicate for a FHIRPath expression (compiled once)."""
        found = self._cache.get(expression)
        if found is None:
            found = (_KNOWN.get(expression) or _fast(expression.strip())
                     or _compiled(expression) or _fallback(expression))
            self._cache[expression] = found
        return found


def _local_reference(focus: Any, resource: Any, root: Any) -> bool | None:
    """ref-1: a `#id` reference must name a resource contained in the root resource."""
    ref = focus.get("reference") if type(focus) is dict else None
    if type(ref) is not str or not ref.startswith("#"):
        return True
    contained = root.get("contained") if type(root) is dict else None
    ids = [c.get("id") for c in contained if type(c) is dict] if type(contained) is list else []
    return ref[1:] in ids


# Hand-compiled forms of frequent expressions the generic shapes do not cover.
_KNOWN: dict[str, Predicate] = {
    "reference.startsWith('#').not() or (reference.substring(1).trace('url') in "
    "%rootResource.contained.id.trace('ids'))": _local_reference,
}


def _compiled(expression: str) -> Predicate | None:
    """Return a predicate from the FHIRPath compiler, or None if it refuses the expression.

    At run time, data the compiler cannot settle (`Undecidable`) goes to fhirpathpy.
    """
    try:
        compiled = compile_expression(_TRACE.sub("", expression))
    except Unsupported:
        return None
    fallback: list[Predicate] = []

    def run(focus: Any, resource: Any, root: Any) -> bool | None:
        try:
            result = compiled([] if focus is None else [focus], Env(resource, root, focus))
        except Undecidable:
            if not fallback:
                fallback.append(_fallback(expression))
            return fallback[0](focus, resource, root)
        if not result:
            return None
        first = plain(result[0])
        return first if len(result) == 1 and type(first) is bool else True
    return run


def _fallback(expression: str) -> Predicate:
    try:
        compiled = fhirpath_compile(_TRACE.sub("", expression), models["r4"])
    except Exception as exc:  # fhirpathpy raises bare Exceptions for unsupported syntax
        reason = str(exc)

        def unparsable(focus: Any, resource: Any, root: Any) -> bool | None:
            raise NotEvaluable(reason)
        return unparsable

    def run(focus: Any, resource: Any, root: Any) -> bool | None:
        try:
            result = compiled(focus, {"resource": resource, "rootResource": root,
                                      "context": focus})
        except Exception as exc:  # e.g. "Not implemented: hasValue"
            raise NotEvaluable(str(exc)) from exc
        if not result:
            return None
        return result[0] if len(result) == 1 and type(result[0]) is bool else True
    return run


def _fast(expression: str) -> Predicate | None:
    """Return a Python predicate for the common shapes, or None to use fhirpathpy."""
    if _wrapped(expression):
        return _fast(expression[1:-1].strip())
    for op in (" implies ", " or ", " xor ", " and "):
        parts = split_top_level(expression, op)
        if len(parts) > 1:
            subs = [_fast(p.strip()) for p in parts]
            if any(s is None for s in subs):
                return None
            return _combine(op.strip(), [s for s in subs if s is not None])
    return _term(expression)


def _wrapped(expression: str) -> bool:
    """Return True if the whole expression sits inside one pair of parentheses."""
    if not (expression.startswith("(") and expression.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(expression):
        depth += 1 if ch == "(" else -1 if ch == ")" else 0
        if depth == 0 and i < len(expression) - 1:
            return False
    return True


def _combine(op: str, subs: list[Predicate]) -> Predicate:
    def either(f: Any, r: Any, root: Any) -> bool | None:
        results = [s(f, r, root) for s in subs]
        return True if True in results else (False if None not in results else None)

    def both(f: Any, r: Any, root: Any) -> bool | None:
        results = [s(f, r, root) for s in subs]
        return False if False in results else (True if None not in results else None)

    def implies(f: Any, r: Any, root: Any) -> bool | None:
        left = subs[0](f, r, root)
        for sub in subs[1:]:
            right = sub(f, r, root)
            left = True if left is False or right is True else (None if left is None
                                                                 else right)
        return left
    def exclusive(f: Any, r: Any, root: Any) -> bool | None:
        results = [s(f, r, root) for s in subs]
        return None if None in results else results.count(True) % 2 == 1

    return {"or": either, "and": both, "xor": exclusive}.get(op, implies)


def _term(expression: str) -> Predicate | None:
    if m := _TEST.match(expression):
        keys, fn, negate = _keys(m[1]), m[2], bool(m[3])

        def test(focus: Any, r: Any, root: Any) -> bool | None:
            values = values_at(focus, keys, fn != "hasValue")
            if fn == "hasValue":
                result = len(values) == 1 and type(values[0]) not in (dict, list)
            else:
                result = bool(values) == (fn == "exists")
            return result is not negate
        return test
    if m := _COUNT.match(expression):
        keys, compare, limit = _keys(m[1]), _OPS[m[2]], int(m[3])
        return lambda f, r, root: bool(compare(len(values_at(f, keys, True)), limit))
    if m := _EQUALS.match(expression):
        keys, negate, literal = _keys(m[1]), m[2] == "!=", m[3]

        def equals(focus: Any, r: Any, root: Any) -> bool | None:
            values = values_at(focus, keys, False)
            return None if len(values) != 1 else (values[0] == literal) is not negate
        return equals
    if m := _MATCHES.match(expression):
        keys, regex = _keys(m[1]), re.compile(m[2])

        def matches(focus: Any, r: Any, root: Any) -> bool | None:
            values = values_at(focus, keys, False)
            if len(values) != 1 or type(values[0]) is not str:
                return None
            return regex.search(values[0]) is not None
        return matches
    if m := _COMPARE.match(expression):
        left, compare, right = _keys(m[1]), _OPS[m[2]], _keys(m[3])
        return lambda f, r, root: _ordered(values_at(f, left, False), values_at(f, right, False),
                                           compare)
    return None


def _ordered(left: list[Any], right: list[Any], compare: Callable[[Any, Any], bool]) -> \
        bool | None:
    if len(left) != 1 or len(right) != 1:
        return None
    a, b = left[0], right[0]
    if type(a) is str and type(b) is str:
        # Dates of different precision, or with time zones, compare as empty in FHIRPath
        # unless they are plain same-precision dates; leave those to "unknown".
        if len(a) != len(b) or "T" in a or "T" in b:
            return None
    elif type(a) not in (int, float) or type(b) not in (int, float):
        return None
    return bool(compare(a, b))


def _keys(path: str) -> tuple[str, ...]:
    return tuple(step.strip("`") for step in path.split("."))
