"""Invariants every mapped record must meet, whatever the agency."""

from __future__ import annotations

from server.mapping.forward import MappedRecord


def check_invariants(records: list[MappedRecord], children: int | None = None) -> None:
    """Unique ids, references that resolve within the record (or to an agency Organization),
    no empty resources, and (when given) the number of Child resources."""
    for record in records:
        if record.rejected:
            continue
        ids = [r.reference for r in record.resources]
        assert len(ids) == len(set(ids)), f"duplicate ids in record {record.key}: {ids}"
        for resource in record.resources:
            body = resource.resource
            assert set(body) - {"resourceType", "id", "meta"}, f"empty {resource.reference}"
            for ref in _references(body):
                assert ref in ids or ref.startswith("Organization/"), \
                    f"{resource.reference} refers to {ref}, not in the record"
    if children is not None:
        found = sum(1 for rec in records if not rec.rejected for r in rec.resources
                    if r.resource["resourceType"] == "Patient")
        assert found == children, f"expected {children} children, mapped {found}"


def _references(value: object) -> list[str]:
    if isinstance(value, dict):
        out = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return out + [r for v in value.values() for r in _references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []
