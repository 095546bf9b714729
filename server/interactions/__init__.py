"""FHIR interactions (read, create, update, delete, history, search, batch/transaction).

FHIR's rules live here, above storage and below HTTP: nothing in this package knows about
FastAPI or MongoDB.
"""
