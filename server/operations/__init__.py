"""FHIR `$operations`: one module per operation, declared in `server.operations.registry`."""
