"""Structural validation of FHIR R4 JSON resources against StructureDefinition snapshots."""

from server.validation.validator import InvariantHook, ResourceValidator

__all__ = ["InvariantHook", "ResourceValidator"]
