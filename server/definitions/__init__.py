"""Registries of FHIR definitions keyed by canonical URL (R4 base + Cradle profiles)."""

from server.definitions.registry import Definitions, load_r4, patient_compartment

__all__ = ["Definitions", "load_r4", "patient_compartment"]
