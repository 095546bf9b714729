"""Binding checks for the validator, on top of `server.terminology` expansion.

`ValueSetExpander.expand` answers None for a ValueSet that cannot be expanded locally
(SNOMED CT, UCUM, BCP-47, MIME types...), so the caller skips the check instead of raising
false errors. `check_binding` applies a binding's strength to one coded value: required →
error, extensible → warning, preferred/example → nothing.
"""

from __future__ import annotations

from typing import Any

from server.definitions.registry import Definitions
from server.errors import Issue, NotFound, NotSupported
from server.terminology.expansion import Expansion, Terminology
from server.validation.issues import code_not_in_valueset

__all__ = ["Expansion", "ValueSetExpander", "check_binding", "code_not_in_extensible"]


class ValueSetExpander:
    """Expands ValueSets against a `Definitions` registry, caching every result."""

    def __init__(self, definitions: Definitions, terminology: Terminology | None = None) -> None:
        self.terminology = terminology or Terminology(definitions)

    def expand(self, url: str) -> Expansion | None:
        """Return the expansion of the ValueSet at `url`, or None if not expandable here."""
        try:
            return self.terminology.expansion(url)
        except (NotFound, NotSupported):
            return None


def code_not_in_extensible(code: str, value_set: str, expression: str) -> Issue:
    """Return the warning for a code outside the ValueSet of an extensible binding."""
    return Issue("warning", "code-invalid",
                 f"Code {code!r} is not in the extensible value set {value_set}",
                 expression, "code-not-in-valueset-extensible")


def check_binding(expander: ValueSetExpander, value_set: str, strength: str, value: Any,
                  type_code: str, path: str) -> list[Issue]:
    """Return the issues of one coded value (`code`, Coding or CodeableConcept) at `path`.

    Required bindings give errors (`code-not-in-valueset`), extensible ones warnings
    (`code-not-in-valueset-extensible`); other strengths, values of other types and
    value sets that cannot be expanded locally give no issues.
    """
    if strength not in ("required", "extensible"):
        return []
    expansion = expander.expand(value_set)
    if expansion is None:
        return []
    make = code_not_in_valueset if strength == "required" else code_not_in_extensible
    if type(value) is str:
        return [] if value in expansion.all_codes else [make(value, value_set, path)]
    if type(value) is not dict:
        return []
    if type_code == "Coding":
        system, code = value.get("system"), value.get("code")
        if (type(system) is str and type(code) is str and expansion.has_system(system)
                and not expansion.contains(system, code)):
            return [make(code, value_set, f"{path}.code")]
        return []
    if type_code != "CodeableConcept":
        return []
    return _concept(expansion, value, value_set, strength, path)


def _concept(expansion: Expansion, value: dict[str, Any], value_set: str, strength: str,
             path: str) -> list[Issue]:
    codings = value.get("coding")
    has_codings = type(codings) is list and bool(codings)
    if not has_codings and (strength == "required" or value.get("text")):
        return []  # a text-only concept is tolerated
    bad: tuple[str, str] | None = None
    for i, coding in enumerate(codings if type(codings) is list else []):
        if type(coding) is not dict:
            continue
        system, code = coding.get("system"), coding.get("code")
        if type(system) is str and type(code) is str:
            if expansion.contains(system, code):
                return []
            if bad is None and expansion.has_system(system):
                bad = code, f"{path}.coding[{i}].code"
    if bad is None and strength == "extensible" and value.get("text"):
        return []  # extensible: other codes are allowed when the concept is explained
    code, where = bad or ("(none)", path)
    if strength == "required":
        return [code_not_in_valueset(code, value_set, where)]
    return [code_not_in_extensible(code, value_set, where)]
