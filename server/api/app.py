"""The composition root: wires real implementations into the FastAPI app."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from server import __version__
from server.api import (
    agency_routes,
    auth_routes,
    conformance_routes,
    fhir_routes,
    health,
    operation_routes,
)
from server.api.faults import install_faults, relax_services
from server.api.hardening import install_hardening
from server.api.openapi import install_openapi
from server.api.outcomes import install_handlers
from server.api.security import RateLimits
from server.config import Settings
from server.definitions import load_r4, patient_compartment
from server.interactions.admin import ensure_admin_client, follow_revocations, signing_key
from server.interactions.builtin import follow_changes, load_stored, publish_builtin
from server.interactions.conformance import Conformance
from server.interactions.services import Services
from server.mapping.catalog import load_agencies
from server.operations.registry import load_all
from server.profiles.loader import (
    default_profile_dir,
    load_access_policy,
    load_enforcement,
    load_profile_dir,
    with_snapshots,
)
from server.security.compartment import PatientCompartment
from server.security.policy import AccessPolicy
from server.security.tokens import TokenService
from server.store import ClientStore, ResourceStore

log = logging.getLogger("cradle")


async def build_services(settings: Settings) -> Services:
    """Connect to the database named by `settings` and build every collaborator."""
    if not settings.mongo_uri:
        raise ValueError("build_services needs settings.mongo_uri (the CLI starts the database)")
    store = ResourceStore.connect(settings.mongo_uri, settings.database)
    await store.ensure_indexes()
    profile_dir = settings.profiles_dir or default_profile_dir()
    definitions = load_r4().copy()  # the cached R4 registry is never mutated
    agencies = load_agencies()
    builtin = with_snapshots(load_profile_dir(profile_dir), definitions)
    builtin += [code for agency in agencies.values() for code in agency.codes]
    for resource in builtin:
        definitions.add(resource)
    conformance = Conformance(definitions, load_enforcement(profile_dir))
    services = Services(
        settings=settings, store=store, conformance=conformance,
        clients=ClientStore(store.db),
        tokens=TokenService(signing_key(settings), settings.token_ttl),
        policy=AccessPolicy.from_json(load_access_policy(profile_dir)),
        compartment=PatientCompartment(patient_compartment()), agencies=agencies)
    await publish_builtin(services, builtin)
    await load_stored(services)
    if settings.auth:
        created = await ensure_admin_client(services)
        if created is not None:
            log.warning("cradle: admin client created; its credentials are in %s "
                        "(owner-only)", created)
    else:
        log.warning("cradle: AUTHENTICATION IS OFF: no tokens, access rules or audit trail")
    return services


def create_app(settings: Settings) -> FastAPI:
    """Return the Cradle ASGI app; it connects to the database when it starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(settings)
        relax_services(services, settings.test_faults)  # testing the conformance kit only
        app.state.services = services
        # The definitions, profiles and maps just loaded live as long as the worker: out of
        # the collector's sight, each collection no longer walks them (~10% of a bulk upload).
        gc.freeze()
        followers = [asyncio.create_task(follow_changes(services)),
                     asyncio.create_task(follow_revocations(services))]
        try:
            yield
        finally:
            for follower in followers:
                follower.cancel()
            await services.store.close()

    logging.getLogger("cradle").setLevel(settings.log_level.upper())
    app = FastAPI(title="Cradle FHIR server", version=__version__, lifespan=lifespan,
                  openapi_url="/openapi.json", docs_url="/docs", redoc_url=None)
    install_handlers(app)
    install_hardening(app, settings)
    install_openapi(app)
    install_faults(app, settings.test_faults)  # nothing unless CRADLE_TEST_FAULTS is set
    app.state.rate_limits = RateLimits(settings.rate_limit, settings.token_rate_limit)
    load_all()
    app.include_router(health.router)
    app.include_router(agency_routes.router)
    app.include_router(conformance_routes.router)
    app.include_router(auth_routes.router)  # before fhir_routes: `.well-known` is no type
    app.include_router(operation_routes.router)  # before fhir_routes: `$name` is no id
    app.include_router(fhir_routes.router)
    return app


def app_from_env() -> FastAPI:
    """App factory for `uvicorn --factory` (worker processes read `CRADLE_*` once)."""
    return create_app(Settings.from_env())
