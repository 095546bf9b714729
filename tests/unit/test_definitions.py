"""The definitions registry: which version a plain canonical URL names."""

from __future__ import annotations

from server.definitions import Definitions

URL = "https://cradle.example/fhir/StructureDefinition/Thing"


def sd(version: str, status: str) -> dict[str, str]:
    return {"resourceType": "StructureDefinition", "url": URL, "version": version,
            "status": status, "type": "Patient"}


def test_a_new_draft_does_not_displace_the_active_version() -> None:
    defs = Definitions([sd("1.0.0", "active"), sd("1.1.0", "draft")])
    assert defs.structure_definition(URL)["version"] == "1.0.0"  # type: ignore[index]
    assert defs.structure_definition(f"{URL}|1.1.0")["version"] == "1.1.0"  # type: ignore[index]


def test_a_newer_active_version_takes_over_and_retired_never_does() -> None:
    defs = Definitions([sd("1.0.0", "active"), sd("1.10.0", "active"), sd("2.0.0", "retired")])
    assert defs.structure_definition(URL)["version"] == "1.10.0"  # type: ignore[index]


def test_copy_is_independent() -> None:
    defs = Definitions([sd("1.0.0", "active")])
    other = defs.copy()
    other.add(sd("2.0.0", "active"))
    assert defs.structure_definition(URL)["version"] == "1.0.0"  # type: ignore[index]
    assert other.structure_definition(URL)["version"] == "2.0.0"  # type: ignore[index]
