"""Shared client secrets (local development only), stored as scrypt hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def new_secret() -> str:
    """Return a new random client secret (shown once, never stored)."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """Return `scrypt$salt$hash` for storage."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, **SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def secret_matches(secret: str, stored: str) -> bool:
    """True if `secret` hashes to `stored` (constant-time comparison)."""
    try:
        scheme, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    actual = hashlib.scrypt(secret.encode(), salt=base64.b64decode(salt), **SCRYPT)
    return hmac.compare_digest(actual, base64.b64decode(digest))
