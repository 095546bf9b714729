"""The definitions registry: StructureDefinitions, ValueSets, CodeSystems, SearchParameters.

The official FHIR R4 4.0.1 definitions are vendored (gzipped, as published) in `r4/`.
Everything is keyed by canonical URL; resource and data types are also reachable by name.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from functools import cache, cached_property
from importlib import resources
from typing import Any

import orjson

Json = dict[str, Any]

R4_BUNDLES = (
    "profiles-types",
    "profiles-resources",
    "extension-definitions",
    "valuesets",
    "v3-codesystems",
    "search-parameters",
)
SD_BASE = "http://hl7.org/fhir/StructureDefinition/"


class Definitions:
    """An immutable-by-convention index of conformance resources."""

    def __init__(self, resources_: Iterable[Json]) -> None:
        self.resources: list[Json] = []
        self.by_url: dict[str, Json] = {}
        self.structure_definitions: dict[str, Json] = {}
        self.value_sets: dict[str, Json] = {}
        self.code_systems: dict[str, Json] = {}
        self.search_parameters: list[Json] = []
        self.other: list[Json] = []
        for resource in resources_:
            self.add(resource)

    def add(self, resource: Json) -> None:
        """Register one conformance resource.

        `url|version` always names exactly that version. A plain `url` names the version in
        force: the best by status (active, then draft; never retired over another), then by
        version number, so publishing a draft never changes what existing writes are held to
        while an active version exists.
        """
        self.resources.append(resource)
        self.__dict__.pop("resource_types", None)  # recomputed on next use
        url = resource.get("url")
        kind = resource.get("resourceType")
        if url:
            version = resource.get("version")
            if version:
                self.by_url[f"{url}|{version}"] = resource
            current = self.by_url.get(url)
            if current is not None and _precedence(current) > _precedence(resource):
                return
            self.by_url[url] = resource
        if kind == "StructureDefinition" and url:
            self.structure_definitions[url] = resource
        elif kind == "ValueSet" and url:
            self.value_sets[url] = resource
        elif kind == "CodeSystem" and url:
            self.code_systems[url] = resource
        elif kind == "SearchParameter":
            self.search_parameters.append(resource)
        else:
            self.other.append(resource)

    def copy(self) -> Definitions:
        """Return an independent registry with the same resources (to add to safely)."""
        return Definitions(self.resources)

    def structure_definition(self, name_or_url: str) -> Json | None:
        """Return the StructureDefinition for a type name (`Patient`) or canonical URL
        (`url|version` for one version, else the version in force), or None."""
        url = name_or_url if "/" in name_or_url else SD_BASE + name_or_url
        if "|" in url:
            return self.by_url.get(url)
        return self.structure_definitions.get(url)

    def value_set(self, url: str) -> Json | None:
        """Return the ValueSet with this canonical (optionally `|version`), or None."""
        return self.value_sets.get(url) or self.by_url.get(url)

    def code_system(self, url: str) -> Json | None:
        """Return the CodeSystem with this canonical (optionally `|version`), or None."""
        return self.code_systems.get(url) or self.by_url.get(url)

    @cached_property
    def resource_types(self) -> frozenset[str]:
        """Names of every concrete R4 resource type (base specialisations, FHIR 4.0.1 only).

        The published R4 bundle also carries one R4B definition (SubscriptionStatus): skipped.
        """
        return frozenset(
            sd["type"]
            for sd in self.structure_definitions.values()
            if sd.get("kind") == "resource" and sd.get("fhirVersion", "4.0.1") == "4.0.1"
            and not sd.get("abstract")
            and sd.get("derivation") == "specialization"
        )

    def __iter__(self) -> Iterator[Json]:
        return iter(self.structure_definitions.values())


STATUS_PRECEDENCE = {"active": 3, "draft": 2, "unknown": 1, "retired": 0}


def _precedence(resource: Json) -> tuple[int, tuple[int | str, ...]]:
    status = STATUS_PRECEDENCE.get(resource.get("status", "unknown"), 1)
    version = tuple(int(p) if p.isdigit() else p
                    for p in str(resource.get("version", "")).replace("-", ".").split("."))
    return status, version


def read_bundle(name: str) -> list[Json]:
    """Return the resources of one vendored R4 definitions bundle."""
    path = resources.files("server.definitions").joinpath(f"r4/{name}.json.gz")
    bundle = orjson.loads(gzip.decompress(path.read_bytes()))
    return [entry["resource"] for entry in bundle.get("entry", [])]


@cache
def load_r4() -> Definitions:
    """Return the registry of the official R4 definitions (loaded once per process)."""
    return Definitions(r for name in R4_BUNDLES for r in read_bundle(name))


@cache
def patient_compartment() -> Json:
    """Return the official R4 Patient CompartmentDefinition (which resources are about whom)."""
    path = resources.files("server.definitions").joinpath(
        "r4/compartmentdefinition-patient.json.gz")
    definition: Json = orjson.loads(gzip.decompress(path.read_bytes()))
    return definition
