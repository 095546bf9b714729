"""Loading Cradle's conformance resources from `profiles/` and building the registry.

The folder holds one subfolder per resource type (`StructureDefinition/`, `CodeSystem/`,
`ValueSet/`, `SearchParameter/`, `ConceptMap/`); `examples/` and `build/` are not
conformance resources and are never read here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

import server
from server.definitions.registry import Definitions, load_r4
from server.errors import Invalid, Issue
from server.profiles.snapshot import generate_snapshot

Json = dict[str, Any]

CONFORMANCE_TYPES = ("StructureDefinition", "CodeSystem", "ValueSet", "SearchParameter",
                     "ConceptMap")


def default_profile_dir() -> Path:
    """Return the built-in profiles: the checkout's `profiles/` when running from source,
    else the copy installed as package data (`server/builtin_profiles`, see pyproject.toml)."""
    package = Path(server.__file__).resolve().parent
    checkout = package.parent / "profiles"
    return checkout if (checkout / "StructureDefinition").is_dir() else package / "builtin_profiles"


def read_json(path: Path) -> Json:
    """Return one JSON resource; raises `Invalid` naming the file if it cannot be used."""
    data = read_object(path)
    if type(data.get("resourceType")) is not str:
        raise Invalid(issues=[Issue("error", "structure",
                                    f"{path}: not a FHIR resource (no resourceType)", None,
                                    "profile-not-a-resource")])
    return data


def read_object(path: Path) -> Json:
    """Return one JSON object; raises `Invalid` naming the file if unreadable or not one."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as error:
        raise Invalid(issues=[Issue("error", "not-found",
                                    f"{path}: cannot read: {error.strerror or error}", None,
                                    "profile-unreadable")]) from None
    except orjson.JSONDecodeError as error:
        raise Invalid(issues=[Issue("error", "structure", f"{path}: bad JSON: {error}", None,
                                    "profile-bad-json")]) from None
    if type(data) is not dict:
        raise Invalid(issues=[Issue("error", "structure", f"{path}: not a JSON object", None,
                                    "profile-not-an-object")])
    return data


def load_profile_dir(path: Path) -> list[Json]:
    """Return every conformance resource under `path`, in a stable (sorted) order.

    Raises `Invalid` naming the file for unreadable or bad JSON, for a resource whose
    resourceType differs from its folder, and when `path` is not a directory.
    """
    if not path.is_dir():
        raise Invalid(issues=[Issue("error", "not-found", f"{path}: not a directory", None,
                                    "profile-dir-missing")])
    found: list[Json] = []
    for kind in CONFORMANCE_TYPES:
        for file in sorted((path / kind).rglob("*.json")):
            resource = read_json(file)
            if resource["resourceType"] != kind:
                raise Invalid(issues=[Issue(
                    "error", "structure",
                    f"{file}: resourceType {resource['resourceType']} in the {kind} folder",
                    None, "profile-wrong-folder")])
            found.append(resource)
    return found


def with_snapshots(resources: list[Json], base: Definitions) -> list[Json]:
    """Return `resources` with a generated snapshot on every differential-only SD.

    Snapshots are generated in base-first order (a profile on a profile sees its base's
    snapshot). Raises `Invalid` carrying every authoring error of every profile.
    """
    registry = base.copy()
    for resource in resources:
        registry.add(resource)
    issues: list[Issue] = []
    out: list[Json] = []
    for resource in resources:
        if resource["resourceType"] == "StructureDefinition" and "snapshot" not in resource:
            try:
                resource = generate_snapshot(resource, registry)
            except Invalid as error:
                issues += error.issues
                out.append(resource)
                continue
            registry.add(resource)  # later profiles on this one reuse its snapshot
        out.append(resource)
    if issues:
        raise Invalid(issues=_unique(issues))
    return out


def build_definitions(path: Path | None = None) -> Definitions:
    """Return a new registry of the R4 base plus the profiles in `path` (default: shipped).

    Raises `Invalid` for unreadable files and for every profile authoring error.
    """
    definitions = load_r4().copy()  # load_r4's registry is cached: never mutate it
    for resource in with_snapshots(load_profile_dir(path or default_profile_dir()),
                                   definitions):
        definitions.add(resource)
    return definitions


def _unique(issues: list[Issue]) -> list[Issue]:
    # A broken base is reported again by every profile built on it: keep the first report.
    return list(dict.fromkeys(issues))


def load_enforcement(path: Path) -> dict[str, str]:
    """Return {resource type: profile URL} from `path/enforcement.json` (empty if absent).

    Raises `Invalid` naming the file if it is not of the form {"required": {type: url}}.
    """
    file = path / "enforcement.json"
    if not file.exists():
        return {}
    required = read_object(file).get("required")
    if not isinstance(required, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in required.items()):
        raise Invalid(issues=[Issue("error", "structure",
                                    f"{file}: 'required' must map resource types to profile "
                                    "URLs", None, "profile-bad-enforcement")])
    return dict(required)


def load_access_policy(path: Path) -> dict[str, Any]:
    """Return the need-to-know rules (`access-policy.json`) of a profile folder, falling back
    to the built-in ones when the folder has none."""
    file = path / "access-policy.json"
    if not file.exists():
        file = default_profile_dir() / "access-policy.json"
    return read_object(file)
