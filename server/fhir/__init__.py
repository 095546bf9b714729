"""FHIR wire-format helpers: JSON, ids, instants, references and Bundles."""
