"""Helpers shared by tests (test-data converters)."""
