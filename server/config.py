"""One frozen settings object, built once by the CLI (flags beat environment beat defaults)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ENV_PREFIX = "CRADLE_"


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know, read once at start-up.

    `mongo_uri` None means: start the embedded SecantusDB with its data in `data_dir/db`.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    mongo_uri: str | None = None
    data_dir: Path = field(default_factory=lambda: Path(".cradle"))
    database: str = "cradle"
    log_level: str = "info"
    max_body_bytes: int = 10 * 1024 * 1024
    default_page_size: int = 20
    max_page_size: int = 1000
    profiles_dir: Path | None = None  # None: the built-in profiles shipped with the package
    enforce_profiles: bool = True  # Patient/ServiceRequest/Flag writes must conform to
    # Child/Referral/Concern (see `profiles/enforcement.json`)
    auth: bool = True  # False: no tokens, no access rules, no audit (loopback development only)
    token_ttl: int = 300  # seconds an access token lives
    allow_client_secrets: bool = False  # shared-secret clients: local development only
    rate_limit: str = "3000/minute"  # per client, per worker process (`limits` notation)
    token_rate_limit: str = "60/minute"  # token requests per network address, per worker
    cors_origins: tuple[str, ...] = ()  # CORS is off unless origins are listed
    ssl_certfile: Path | None = None
    public_url: str | None = None  # the URL clients use, e.g. https://cradle.example (behind
    # a proxy): the token URL clients sign their assertions for is PUBLIC_URL/auth/token
    ssl_keyfile: Path | None = None
    # FHIR base URL prefixes POST /conformance/runs may test: the server calls no other URL
    conformance_targets: tuple[str, ...] = ()
    test_faults: tuple[str, ...] = ()  # deliberate faults (server/api/faults.py): for testing
    # the conformance kit only; never in production

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from `CRADLE_*` variables, then apply non-None overrides (flags)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        conversions: dict[str, Any] = {
            "HOST": ("host", str), "PORT": ("port", int), "WORKERS": ("workers", int),
            "MONGO_URI": ("mongo_uri", str), "DATA_DIR": ("data_dir", Path),
            "DATABASE": ("database", str), "LOG_LEVEL": ("log_level", str.lower),
            "MAX_BODY_BYTES": ("max_body_bytes", int), "PAGE_SIZE": ("default_page_size", int),
            "MAX_PAGE_SIZE": ("max_page_size", int),
            "PROFILES_DIR": ("profiles_dir", Path),
            "ENFORCE_PROFILES": ("enforce_profiles", _boolean),
            "AUTH": ("auth", _boolean), "TOKEN_TTL": ("token_ttl", int),
            "ALLOW_CLIENT_SECRETS": ("allow_client_secrets", _boolean),
            "RATE_LIMIT": ("rate_limit", str), "TOKEN_RATE_LIMIT": ("token_rate_limit", str),
            "CORS_ORIGINS": ("cors_origins", _origins),
            "SSL_CERTFILE": ("ssl_certfile", Path), "SSL_KEYFILE": ("ssl_keyfile", Path),
            "PUBLIC_URL": ("public_url", str), "TEST_FAULTS": ("test_faults", _names),
            "CONFORMANCE_TARGETS": ("conformance_targets", _names),
        }
        for suffix, (name, convert) in conversions.items():
            raw = env.get(ENV_PREFIX + suffix)
            if raw:
                values[name] = convert(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"])
        return replace(cls(), **values)

    @property
    def db_dir(self) -> Path:
        """Where the embedded database keeps its files."""
        return self.data_dir / "db"

    @property
    def signing_key_file(self) -> Path:
        """The server's private token-signing key (owner-only)."""
        return self.data_dir / "signing-key.json"

    @property
    def admin_credentials_file(self) -> Path:
        """The admin client's credentials, written on first start (owner-only)."""
        return self.data_dir / "admin-client.json"


def _origins(raw: str) -> tuple[str, ...]:
    """Parse a comma-separated list of CORS origins."""
    return tuple(o.strip() for o in raw.split(",") if o.strip())


_names = _origins  # any comma-separated list of names (test faults)


def _boolean(raw: str) -> bool:
    """Parse an environment flag: true/1/yes/on or false/0/no/off."""
    value = raw.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"expected true or false, not '{raw}'")
