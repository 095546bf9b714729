"""Owner-only files in the data directory: the token-signing key and the admin credentials."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from server.errors import Invalid

OWNER_ONLY = 0o600


def write_private(path: Path, content: dict[str, Any]) -> bool:
    """Create `path` readable by its owner only, holding `content` as JSON.

    Returns False (and writes nothing) if the file already exists: concurrent starters race
    safely, the first one wins.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as file:
        file.write(orjson.dumps(content, option=orjson.OPT_INDENT_2))
    return True


def read_private(path: Path) -> dict[str, Any]:
    """Read an owner-only JSON file; raises `Invalid` if others may read it or it is unusable."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise Invalid(f"{path} must be readable by its owner only (chmod 600 {path})")
        data = orjson.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise Invalid(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise Invalid(f"{path} does not hold a JSON object")
    return data


def load_or_create(path: Path, create: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Return the owner-only JSON file at `path`, creating it with `create()` if absent."""
    if not path.exists():
        write_private(path, create())
    return read_private(path)
