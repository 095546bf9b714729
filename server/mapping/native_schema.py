"""The native schema check: a parsed document against the agency's `schema.json`, each error
located in the agency's terms and assigned to the record it falls in.

Two validators of the same schema: jsonschema-rs (compiled, ~20x faster) answers whether a
record is valid; only for one it rejects does jsonschema walk it again to say why, in the
messages the reports have always given. Where the two could differ (a Python regex `$`
matches before a final newline, Rust's does not) jsonschema has the last word on a rejection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from server.mapping.formats import Document
from server.mapping.paths import Pointer
from server.mapping.report import MappingIssue


def schema_issues(schema: dict[str, Any], document: Document, record_pointers: list[Pointer],
                   per_row: bool) -> dict[Pointer | None, list[MappingIssue]]:
    """Return schema errors by the record they fall in (None: the document as a whole)."""
    validators = _validators(schema)
    out: dict[Pointer | None, list[MappingIssue]] = {}
    targets = ([(row, (i,)) for i, row in enumerate(document.tree)] if per_row
               else [(document.tree, ())])
    for tree, base in targets:
        if validators.quick.is_valid(tree):
            continue
        for error in validators.explaining.iter_errors(tree):
            error = _deepest(error)
            pointer: Pointer = (*base, *error.absolute_path)
            owner = next((p for p in sorted(record_pointers, key=len, reverse=True)
                          if pointer[:len(p)] == p and (p or per_row)), None)
            out.setdefault(owner, []).append(MappingIssue(
                "error", "structure", f"does not match the native schema: {error.message}",
                "map-native-schema", document.locate(pointer)))
    return out


@dataclass(frozen=True)
class _Validators:
    schema: dict[str, Any]  # held, so its id() is not reused while cached
    quick: Any  # jsonschema_rs.Draft202012Validator (untyped)
    explaining: Draft202012Validator


_COMPILED: dict[int, _Validators] = {}


def _validators(schema: dict[str, Any]) -> _Validators:
    found = _COMPILED.get(id(schema))
    if found is None or found.schema is not schema:
        if len(_COMPILED) > 64:  # maps reloaded many times: start again
            _COMPILED.clear()
        found = _COMPILED[id(schema)] = _Validators(
            schema, jsonschema_rs.Draft202012Validator(schema), Draft202012Validator(schema))
    return found


def _deepest(error: ValidationError) -> ValidationError:
    # oneOf/anyOf report at the top; the branch that got furthest names the real place.
    # best_match prefers shallow errors, which picks the wrong branch of a top-level oneOf.
    while error.context:
        error = max(error.context, key=lambda e: (
            len(e.absolute_path), e.validator not in ("type", "required", "oneOf", "anyOf")))
    return error
