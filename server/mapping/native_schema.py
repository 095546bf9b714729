"""The native schema check: a parsed document against the agency's `schema.json`, each error
located in the agency's terms and assigned to the record it falls in."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from server.mapping.formats import Document
from server.mapping.paths import Pointer
from server.mapping.report import MappingIssue


def schema_issues(schema: dict[str, Any], document: Document, record_pointers: list[Pointer],
                   per_row: bool) -> dict[Pointer | None, list[MappingIssue]]:
    """Return schema errors by the record they fall in (None: the document as a whole)."""
    validator = Draft202012Validator(schema)
    out: dict[Pointer | None, list[MappingIssue]] = {}
    targets = ([(row, (i,)) for i, row in enumerate(document.tree)] if per_row
               else [(document.tree, ())])
    for tree, base in targets:
        for error in validator.iter_errors(tree):
            error = _deepest(error)
            pointer: Pointer = (*base, *error.absolute_path)
            owner = next((p for p in sorted(record_pointers, key=len, reverse=True)
                          if pointer[:len(p)] == p and (p or per_row)), None)
            out.setdefault(owner, []).append(MappingIssue(
                "error", "structure", f"does not match the native schema: {error.message}",
                "map-native-schema", document.locate(pointer)))
    return out


def _deepest(error: ValidationError) -> ValidationError:
    # oneOf/anyOf report at the top; the branch that got furthest names the real place.
    # best_match prefers shallow errors, which picks the wrong branch of a top-level oneOf.
    while error.context:
        error = max(error.context, key=lambda e: (
            len(e.absolute_path), e.validator not in ("type", "required", "oneOf", "anyOf")))
    return error
