"""Where the kit's data lives (`conformance/`: suites, fixtures, requirements) and reading
fixtures from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import server


def default_conformance_dir() -> Path:
    """The checkout's `conformance/`, or the copy installed as package data."""
    package = Path(server.__file__).resolve().parent
    checkout = package.parent / "conformance"
    return checkout if (checkout / "suites").is_dir() else package / "builtin_conformance"


def fixture(name: str, directory: Path | None = None) -> Any:
    """Return a fixture from `conformance/fixtures/` (JSON, or text for other files)."""
    root = directory or default_conformance_dir()
    file = root / "fixtures" / name
    text = file.read_text(encoding="utf-8")
    return yaml.safe_load(text) if file.suffix in (".json", ".yaml") else text
