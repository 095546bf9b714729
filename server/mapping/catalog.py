"""The agencies' mapping folders (`mappings/AGENCY/`): map, native schema, local codes.

Read once at start-up (the CLI reads them for offline use too). A folder without `map.json` is
described but not yet mapped, and is left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

import server
from server.errors import Invalid, Issue
from server.mapping.formats import FORMATS, Format
from server.mapping.mapfile import Mapping, from_json

Json = dict[str, Any]


@dataclass(frozen=True)
class Agency:
    """One agency's mapping: what its native content looks like and how it maps."""

    name: str
    mapping: Mapping
    schema: Json
    codes: tuple[Json, ...]  # local CodeSystems and ConceptMaps

    @property
    def format(self) -> Format:
        return FORMATS[self.mapping.format]

    @property
    def columns(self) -> list[str]:
        """The native field order (the CSV header) from the schema."""
        return list(self.schema.get("properties", {}))


def default_mapping_dir() -> Path:
    """Return the built-in mappings: the checkout's `mappings/` when running from source, else
    the copy installed as package data (`server/builtin_mappings`)."""
    package = Path(server.__file__).resolve().parent
    checkout = package.parent / "mappings"
    return checkout if (checkout / "map.schema.json").is_file() else package / "builtin_mappings"


@lru_cache(maxsize=8)
def load_agencies(directory: Path | None = None) -> dict[str, Agency]:
    """Return every mapped agency under `directory` (default: built in), by name.

    Raises Invalid naming the file for a map that breaks `map.schema.json` or a bad JSON file.
    """
    root = directory or default_mapping_dir()
    grammar = Draft202012Validator(_read(root / "map.schema.json"))
    agencies: dict[str, Agency] = {}
    for folder in sorted(p for p in root.iterdir() if (p / "map.json").is_file()):
        data = _read(folder / "map.json")
        problems = [f"{folder / 'map.json'}: {'/'.join(map(str, e.absolute_path))}: "
                    f"{e.message}" for e in grammar.iter_errors(data)]
        if problems:
            raise Invalid(issues=[Issue("error", "structure", p, None, "map-invalid")
                                  for p in problems])
        try:
            mapping = from_json(data)
        except ValueError as error:
            raise Invalid(f"{folder / 'map.json'}: {error}") from None
        codes = tuple(_read(f) for f in sorted((folder / "codes").glob("*.json")))
        agencies[folder.name] = Agency(folder.name, mapping, _read(folder / "schema.json"),
                                       codes)
    return agencies


def _read(path: Path) -> Json:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise Invalid(f"{path}: cannot read: {error}") from None
    if not isinstance(data, dict):
        raise Invalid(f"{path}: not a JSON object")
    return data
