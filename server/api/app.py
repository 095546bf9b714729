"""The composition root: wires real implementations into the FastAPI app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from server import __version__
from server.api import fhir_routes, health
from server.api.outcomes import install_handlers
from server.config import Settings
from server.definitions import load_r4
from server.interactions.services import Services
from server.search.index import SearchIndexer
from server.search.registry import SearchParameterRegistry
from server.store import ResourceStore
from server.validation import ResourceValidator


async def build_services(settings: Settings) -> Services:
    """Connect to the database named by `settings` and build every collaborator."""
    if not settings.mongo_uri:
        raise ValueError("build_services needs settings.mongo_uri (the CLI starts the database)")
    definitions = load_r4()
    registry = SearchParameterRegistry(definitions)
    store = ResourceStore.connect(settings.mongo_uri, settings.database)
    await store.ensure_indexes()
    return Services(
        settings=settings, definitions=definitions, store=store,
        validator=ResourceValidator(definitions), indexer=SearchIndexer(registry),
        search_parameters=registry,
    )


def create_app(settings: Settings) -> FastAPI:
    """Return the Cradle ASGI app; it connects to the database when it starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(settings)
        app.state.services = services
        try:
            yield
        finally:
            await services.store.close()

    logging.getLogger("cradle").setLevel(settings.log_level.upper())
    app = FastAPI(title="Cradle FHIR server", version=__version__, lifespan=lifespan,
                  openapi_url="/openapi.json", docs_url="/docs", redoc_url=None)
    install_handlers(app)
    app.include_router(health.router)
    app.include_router(fhir_routes.router)
    return app


def app_from_env() -> FastAPI:
    """App factory for `uvicorn --factory` (worker processes read `CRADLE_*` once)."""
    return create_app(Settings.from_env())
