"""Every server package is listed for packaging (the list is explicit; see pyproject.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_server_package_is_listed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.relative_to(ROOT).parts[:-1])
             for p in (ROOT / "server").rglob("__init__.py")}
    assert found <= listed, sorted(found - listed)
    assert config["package-dir"]["server.builtin_profiles"] == "profiles"
