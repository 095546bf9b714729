"""Shared fixtures: one embedded SecantusDB and one real Cradle server per test session.

Nothing is mocked: tests speak HTTP to uvicorn, which speaks the MongoDB wire protocol to a
SecantusDB child process with its data in a temporary directory.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from server.api.app import create_app
from server.config import Settings
from server.store.embedded import EmbeddedDatabase, free_port
from tests.auth import SmartBackendAuth
from tests.servers import running


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedDatabase]:
    """A fresh embedded database for the whole session."""
    with EmbeddedDatabase(tmp_path_factory.mktemp("cradle") / "db") as db:
        yield db


@pytest.fixture(scope="session")
def settings(database: EmbeddedDatabase, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # Profiles are not enforced here: these tests exchange plain R4 resources of every type;
    # tests/api/test_profiles_api.py runs a second app with enforcement on.
    port = free_port()
    return Settings(mongo_uri=database.uri, data_dir=tmp_path_factory.mktemp("data"),
                    port=port, max_body_bytes=256 * 1024, log_level="warning",
                    enforce_profiles=False, token_rate_limit="100000/minute",
                    conformance_targets=(f"http://127.0.0.1:{port}/",))


@pytest.fixture(scope="session")
def app(settings: Settings) -> FastAPI:
    """The real Cradle app (its services exist once the server below has started it)."""
    return create_app(settings)


@pytest.fixture(scope="session")
def server_url(app: FastAPI, settings: Settings) -> Iterator[str]:
    """Run the real app under uvicorn in a thread; yield its base URL (http://127.0.0.1:PORT)."""
    with running(app, settings.port) as url:
        yield url


@pytest.fixture(scope="session")
def fhir_url(server_url: str) -> str:
    return f"{server_url}/fhir"


@pytest.fixture(scope="session")
def admin_auth(server_url: str, settings: Settings) -> SmartBackendAuth:
    """The admin (operator) client's token flow, from the credentials the server wrote."""
    return SmartBackendAuth.from_credentials_file(server_url, settings.admin_credentials_file)


@pytest.fixture()
def client(fhir_url: str, admin_auth: SmartBackendAuth) -> Iterator[httpx.Client]:
    """An HTTP client on the FHIR base as the admin client, sending FHIR JSON by default."""
    with httpx.Client(base_url=fhir_url, timeout=30, auth=admin_auth,
                      headers={"Content-Type": "application/fhir+json",
                               "Accept": "application/fhir+json"}) as c:
        yield c


@pytest.fixture()
def tag() -> str:
    """A value unique to one test, to keep its searches apart from other tests' data."""
    return uuid.uuid4().hex[:12]


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "cradle-data"
