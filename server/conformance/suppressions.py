"""Known issues a vendor has accepted: suppressed only by message id + FHIRPath expression (or
test id) with a written justification, never by matching message text; every suppression is
listed in the reports.

The file (YAML):

    suppressions:
      - id: invariant-nhs-2                 # a message id, or a conformance test id
        expression: Patient.identifier[0]   # required for message ids; "*" is not allowed
        justification: Test data uses a known-invalid NHS number (ticket VEND-123)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from server.errors import Invalid


@dataclass(frozen=True)
class Suppression:
    id: str
    expression: str | None
    justification: str

    def covers(self, message_id: str, expression: str | None) -> bool:
        """True when this suppression names exactly that id and (if given) expression."""
        return self.id == message_id and (self.expression is None
                                          or self.expression == expression)


def load_suppressions(file: Path) -> list[Suppression]:
    """Return the suppressions in `file`; raises Invalid for an entry without a justification,
    with a wildcard, or with anything but id/expression/justification."""
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise Invalid(f"{file}: cannot read suppressions: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("suppressions") or [], list):
        raise Invalid(f"{file}: expected 'suppressions:' followed by a list")
    out: list[Suppression] = []
    for number, entry in enumerate(data.get("suppressions") or [], 1):
        if not isinstance(entry, dict) or set(entry) - {"id", "expression", "justification"}:
            raise Invalid(f"{file}: suppression {number}: only id, expression and "
                          "justification are allowed")
        ident, why = entry.get("id"), str(entry.get("justification") or "").strip()
        expression = entry.get("expression")
        if not ident or not why or "*" in str(ident):
            raise Invalid(f"{file}: suppression {number}: needs one id (no wildcards) and a "
                          "written justification")
        if expression is not None and ("*" in str(expression) or not str(expression)):
            raise Invalid(f"{file}: suppression {number}: the expression must name one "
                          "element (no wildcards)")
        out.append(Suppression(str(ident), None if expression is None else str(expression),
                               why))
    return out


def find(suppressions: list[Suppression], message_id: str,
         expression: str | None) -> Suppression | None:
    """Return the suppression covering this issue, if any."""
    return next((s for s in suppressions if s.covers(message_id, expression)), None)
