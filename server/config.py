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


def _boolean(raw: str) -> bool:
    """Parse an environment flag: true/1/yes/on or false/0/no/off."""
    value = raw.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"expected true or false, not '{raw}'")
