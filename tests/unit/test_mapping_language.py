"""The map language on a small synthetic map (a JSON register of families, children and
their concerns): record kinds, repeated items, nested resources and their references, checks
per resource, reverse rendering, reported losses. Agency maps are tested in tests/mappings."""

from __future__ import annotations

from typing import Any

from server.mapping import reverse
from server.mapping.formats import FORMATS
from server.mapping.forward import MappedRecord, transform
from server.mapping.mapfile import from_json
from tests.mappings.harness import tools

CHILD = "https://cradle.example/fhir/StructureDefinition/Child"
MAP: dict[str, Any] = {
    "agency": "test", "version": "1.0.0", "format": "json", "key": "ref",
    "records": [{"name": "family", "path": "families"},
                {"name": "alert", "path": "alerts", "key": "id"}],
    "unmapped": {"children.note": "notes stay with the register",
                 "ref": "the register's own family reference"},
    "checks": [{"id": "born", "each": "child", "native": "born",
                "inputs": {"born": "born"}, "expression": "%born.exists()",
                "message": "every child needs a birth date"}],
    "resources": [
        {"name": "child", "type": "Patient", "records": "family", "each": "children",
         "key": "nhs",
         "rules": [{"native": "nhs", "fhir": "identifier[system=urn:nhs].value"},
                   {"native": "name", "fhir": "name[0].family"},
                   {"native": "born", "fhir": "birthDate", "format": "date:DD/MM/YYYY"}],
         "resources": [
             {"name": "worry", "type": "Flag", "each": "worries",
              "rules": [{"fhir": "status", "value": "active"},
                        {"native": "$this", "fhir": "code.text"},
                        {"fhir": "subject", "reference": "child"}]}]},
        {"name": "alert", "type": "Flag", "records": "alert",
         "rules": [{"fhir": "status", "value": "active"},
                   {"native": "text", "fhir": "code.text"}]}]}

DOCUMENT = {
    "families": [{"ref": "F1", "children": [
        {"nhs": "1", "name": "Ames", "born": "01/02/2015", "worries": ["hunger", "cold"],
         "note": "n"},
        {"nhs": "2", "name": "Ames", "worries": ["school"]}]}],
    "alerts": [{"id": "A1", "text": "dog at address"}]}


def mapped() -> list[MappedRecord]:
    codes, _ = tools()
    document = FORMATS["json"].read(__import__("json").dumps(DOCUMENT).encode())
    return transform(from_json(MAP), document, {}, codes, "agency-1")


def test_each_kind_of_record_is_found_and_mapped_by_its_own_resource_maps() -> None:
    family, alert = mapped()
    assert (family.kind, family.key, alert.kind, alert.key) == ("family", "F1", "alert", "A1")
    assert [r.name for r in family.resources] == ["child", "worry", "worry", "child", "worry"]
    assert [r.name for r in alert.resources] == ["alert"]


def test_nested_resources_refer_to_their_own_parent_and_ids_never_collide() -> None:
    family, _ = mapped()
    children = [r for r in family.resources if r.name == "child"]
    worries = [r for r in family.resources if r.name == "worry"]
    assert [w.resource["subject"]["reference"] for w in worries] == [
        children[0].reference, children[0].reference, children[1].reference]
    assert len({r.reference for r in family.resources}) == len(family.resources)


def test_checks_run_for_every_repeated_resource_at_its_own_place() -> None:
    family, _ = mapped()
    failed = [i for i in family.issues if i.message_id == "map-check-born"]
    assert [i.native for i in failed] == ["/families/0/children/1"]


def test_unmapped_reasons_cover_every_item_and_other_values_are_reported() -> None:
    family, _ = mapped()
    notes = [i for i in family.issues if i.message_id == "map-not-carried"]
    assert [(i.native, i.message) for i in notes] == [
        ("/families/0/ref",
         "not carried into the common model: the register's own family reference"),
        ("/families/0/children/0/note",
         "not carried into the common model: notes stay with the register")]


def test_reverse_renders_each_kind_under_its_path_and_each_worry_under_its_child() -> None:
    family, alert = mapped()
    codes, _ = tools()
    by_name: dict[str, list[dict[str, Any]]] = {}
    for resource in family.resources:
        by_name.setdefault(resource.name, []).append(resource.resource)
    back = reverse.render(from_json(MAP), [by_name, {"alert": [alert.resources[0].resource]}],
                          codes, "agency-1").tree
    children = back["families"][0]["children"]
    assert [c["worries"] for c in children] == [["hunger", "cold"], ["school"]]
    assert children[0]["born"] == "01/02/2015"
    assert back["alerts"] == [{"text": "dog at address"}]


def test_a_document_with_no_record_is_rejected_with_its_schema_errors() -> None:
    codes, _ = tools()
    document = FORMATS["json"].read(b'{"other": 1}')
    schema = {"type": "object", "required": ["families"]}
    [record] = transform(from_json(MAP), document, schema, codes, "agency-1")
    assert record.rejected
    assert [i.message_id for i in record.issues] == ["map-native-schema"]


def test_a_broken_expression_rejects_the_record_it_cannot_read() -> None:
    broken = {**MAP, "checks": [{"id": "bad", "expression": "%nowhere.exists()",
                                 "message": "never"}]}
    codes, _ = tools()
    document = FORMATS["json"].read(__import__("json").dumps(DOCUMENT).encode())
    family, _ = transform(from_json(broken), document, {}, codes, "agency-1")
    assert family.rejected
    assert [i.message_id for i in family.issues if i.severity == "error"] == \
        ["map-expression-failed"]
