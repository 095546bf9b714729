"""The conformance kit: test suites as data (`conformance/`), a runner that checks a target
FHIR server against them, reports vendors can share, and offline validation of their files."""
