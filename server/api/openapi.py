"""The OpenAPI document: the routes FastAPI describes, plus how callers authenticate."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

OPEN_PATHS = ("/fhir/metadata", "/fhir/.well-known/smart-configuration", "/auth/token",
              "/healthz", "/readyz")


def install_openapi(app: FastAPI) -> None:
    """Describe bearer-token authentication: required everywhere but the open paths."""

    def schema() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version, routes=app.routes)
        document.setdefault("components", {})["securitySchemes"] = {"bearer": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "An access token from POST /auth/token (SMART Backend Services)"}}
        document["security"] = [{"bearer": []}]
        for path, operations in document.get("paths", {}).items():
            if path in OPEN_PATHS:
                for operation in operations.values():
                    operation["security"] = []
        app.openapi_schema = document
        return document

    app.openapi = schema  # type: ignore[method-assign]
