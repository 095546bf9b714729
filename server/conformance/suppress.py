"""Suppressions applied to conformance kit results.

A kit result is suppressed only by a suppression naming its test id with no expression (the
kit's failures carry a message id but no element path, so a message-id + expression
suppression cannot match one honestly). Only failures and errors are suppressed: a pass or a
skip has nothing to excuse. The result keeps its outcome and message; `suppressed_by` holds the
justification, and every report lists it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from server.conformance.model import Run
from server.conformance.suppressions import Suppression


@dataclass(frozen=True)
class Applied:
    """What applying suppressions did: those that matched a result, and those that did not
    (with why), so the CLI can say so rather than silently ignoring them."""

    used: tuple[Suppression, ...]
    unused: tuple[tuple[Suppression, str], ...]


def apply_suppressions(run: Run, suppressions: Sequence[Suppression]) -> Applied:
    """Mark each failed or errored result whose test id a suppression names (expression
    absent) as suppressed by its justification; return which suppressions were used."""
    used: list[Suppression] = []
    unused: list[tuple[Suppression, str]] = []
    test_ids = {r.test.id for r in run.results}
    for suppression in suppressions:
        if suppression.expression is not None:
            unused.append((suppression, "has an expression; conformance test results are "
                                        "suppressed by test id alone"))
            continue
        if suppression.id not in test_ids:
            unused.append((suppression, "names no test in this run"))
            continue
        matched = False
        for result in run.results:
            if result.test.id == suppression.id and result.outcome in ("fail", "error"):
                if result.suppressed_by is None:
                    result.suppressed_by = suppression.justification
                matched = True
        if matched:
            used.append(suppression)
        else:
            unused.append((suppression, "its test did not fail"))
    return Applied(tuple(used), tuple(unused))


def suppressions_of(run: Run) -> list[Suppression]:
    """The suppressions visible in `run`'s results (test id + justification), for reports
    given no list of their own."""
    seen: dict[str, Suppression] = {}
    for result in run.results:
        if result.suppressed_by is not None and result.test.id not in seen:
            seen[result.test.id] = Suppression(result.test.id, None, result.suppressed_by)
    return list(seen.values())
