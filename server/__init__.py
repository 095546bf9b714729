"""Cradle: a FHIR R4 interoperability server for multi-agency child protection."""

__version__ = "0.1.0"
FHIR_VERSION = "4.0.1"
