"""Start-up security state: the token-signing key and the first admin client, kept in the data
directory (owner-only files), and the revocation list every worker follows."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from server.config import Settings
from server.errors import Conflict, FhirError
from server.interactions.services import Services
from server.security.scopes import BREAK_GLASS
from server.security.tokens import generate_private_jwk, public_jwk
from server.store import RegisteredClient
from server.store.keyfiles import load_or_create, write_private

log = logging.getLogger("cradle")
ADMIN_CLIENT_ID = "admin"
ADMIN_SCOPES = f"system/*.cruds {BREAK_GLASS}"


def signing_key(settings: Settings) -> dict[str, Any]:
    """Return the server's private signing key, creating it (owner-only) on first use."""
    return load_or_create(settings.signing_key_file, generate_private_jwk)


async def ensure_admin_client(services: Services) -> Path | None:
    """On first start, register the admin (operator) client and write its credentials to an
    owner-only file; return that file's path if this call created it."""
    path = services.settings.admin_credentials_file
    if path.exists():
        return None
    private = generate_private_jwk()
    client = RegisteredClient(client_id=ADMIN_CLIENT_ID, name="Cradle administrator",
                              agency=None, scopes=ADMIN_SCOPES, jwks=[public_jwk(private)],
                              operator=True)
    try:
        await services.clients.add(client)
    except Conflict:
        return None  # another worker (or an earlier start) registered it
    credentials = {"client_id": ADMIN_CLIENT_ID, "token_endpoint": "/auth/token",
                   "token_endpoint_auth_method": "private_key_jwt",
                   "scope": ADMIN_SCOPES, "private_jwk": private}
    return path if write_private(path, credentials) else None


async def follow_revocations(services: Services, interval: float = 1.0) -> None:
    """Keep this worker's list of revoked clients current (tokens of a revoked client stop
    working within `interval` seconds, in every worker). Runs until cancelled."""
    while True:
        try:
            services.revocations.client_ids = await services.clients.revoked_ids()
        except FhirError as error:
            log.warning("revocation refresh failed: %s", error)
        except Exception as error:  # the database may be briefly unreachable: try again
            log.warning("revocation refresh failed: %s", type(error).__name__)
        await asyncio.sleep(interval)
