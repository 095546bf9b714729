"""Obtaining access tokens the way a SMART backend client does (signed JWT assertion)."""

from __future__ import annotations

import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx
import orjson

from server.security.tokens import CLIENT_ASSERTION_TYPE, client_assertion


def request_token(token_url: str, client_id: str, private_jwk: dict[str, Any],
                  scope: str) -> httpx.Response:
    """POST a client-credentials request with a private_key_jwt assertion."""
    return httpx.post(token_url, data={
        "grant_type": "client_credentials", "scope": scope,
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": client_assertion(client_id, private_jwk, token_url)}, timeout=30)


class SmartBackendAuth(httpx.Auth):
    """httpx auth that gets a token from the token endpoint and renews it when it expires."""

    def __init__(self, token_url: str, client_id: str, private_jwk: dict[str, Any],
                 scope: str) -> None:
        self.token_url, self.client_id, self.private_jwk, self.scope = (
            token_url, client_id, private_jwk, scope)
        self._token: str | None = None
        self._expires = 0.0

    @classmethod
    def from_credentials_file(cls, server_url: str, path: Path,
                              scope: str | None = None) -> SmartBackendAuth:
        """The admin client, from the credentials file the server wrote on first start."""
        credentials = orjson.loads(path.read_bytes())
        return cls(f"{server_url}/auth/token", credentials["client_id"],
                   credentials["private_jwk"], scope or credentials["scope"])

    @property
    def token(self) -> str:
        if self._token is None or time.time() > self._expires - 30:
            response = request_token(self.token_url, self.client_id, self.private_jwk,
                                     self.scope)
            response.raise_for_status()
            body = response.json()
            self._token, self._expires = body["access_token"], time.time() + body["expires_in"]
        return self._token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response,
                                                             None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request
