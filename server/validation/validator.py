"""The profile validator: a resource against its base type and every profile it claims.

`validate(resource)` checks the base StructureDefinition of the resource type and each
`meta.profile` the registry knows; `validate(resource, url)` adds that profile. Profiles
are read only from their snapshots, so a national IG's profiles need no code. Compiled
snapshots are cached per URL for the validator's life: when the definitions change
(a profile added or edited), build a new `ResourceValidator`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from server.definitions.registry import SD_BASE, Definitions
from server.errors import Issue
from server.validation.issues import Found, structure
from server.validation.walker import Walker

# An invariant hook gets the resource and the SD URL it was validated against and
# returns extra issues (for rules FHIRPath constraints cannot express).
InvariantHook = Callable[[dict[str, Any], str], list[Issue]]


class ResourceValidator:
    """Validates FHIR R4 JSON resources against StructureDefinition snapshots."""

    def __init__(
        self, definitions: Definitions, invariant_hooks: Sequence[InvariantHook] = ()
    ) -> None:
        self._defs = definitions
        self._walker = Walker(definitions)
        self._resource_types = definitions.resource_types
        self._hooks = tuple(invariant_hooks)

    def validate(self, resource: dict[str, Any], profile: str | None = None) -> list[Issue]:
        """Return every issue (errors, warnings, information) in `resource`; [] means valid.

        The resource is checked against `profile` (a canonical URL, if given) and every
        `meta.profile` entry, or against its base type when there is no such profile (a
        profile's snapshot includes the base rules); an unknown explicit profile is an
        error (`unknown-profile`), an unknown `meta.profile` a warning. Never raises for
        bad content.
        """
        if type(resource) is not dict:
            return [structure("not-an-object", "A resource must be a JSON object", None)]
        type_name = resource.get("resourceType")
        if type_name is None:
            return [structure("missing-resource-type", "resourceType is missing", None)]
        if type(type_name) is not str or type_name not in self._resource_types:
            return [Issue("error", "invalid", f"Unknown resourceType {type_name!r}",
                          "resourceType", "unknown-resource-type")]
        found = Found(resource)
        urls = [type_name]
        if profile is not None:
            if self._walker.compiler.node(profile) is None:
                found.append(Issue("error", "not-supported", f"Unknown profile {profile!r}",
                                   None, "unknown-profile"))
                return found
            urls.append(profile)
        urls.extend(self._claimed(resource, found))
        if any(self._constrains(url, type_name) for url in urls[1:]):
            # A profile's snapshot carries every base element and rule: one walk suffices.
            urls = urls[1:]
        seen: set[int] = set()
        for url in urls:
            node = self._walker.compiler.node(url)
            if node is None or id(node) in seen:
                continue  # a base URL and the type name share one compiled node
            seen.add(id(node))
            if node.type_name != type_name:
                found.append(Issue("error", "invalid",
                                   f"Profile {url!r} is for {node.type_name}, not {type_name}",
                                   None, "profile-type-mismatch"))
                continue
            self._walker.walk(resource, node, type_name, found)
            for hook in self._hooks:
                found.extend(hook(resource, url))
        return _deduplicated(found)

    def _constrains(self, url: str, type_name: str) -> bool:
        """True if `url` is a profile (a snapshot constraining `type_name`) we can walk."""
        node = self._walker.compiler.node(url)
        sd = self._defs.structure_definition(url)
        return node is not None and node.type_name == type_name and sd is not None \
            and sd.get("derivation") == "constraint"

    def _claimed(self, resource: dict[str, Any], found: Found) -> list[str]:
        """Return the known `meta.profile` URLs, warning about the unknown ones."""
        meta = resource.get("meta")
        claimed = meta.get("profile") if type(meta) is dict else None
        if type(claimed) is not list:
            return []  # a malformed meta is reported by the structural walk
        known: list[str] = []
        for i, url in enumerate(claimed):
            if type(url) is not str or url == SD_BASE + resource["resourceType"]:
                continue
            if self._walker.compiler.node(url) is None:
                found.append(Issue("warning", "not-supported",
                                   f"Profile {url!r} is not known here; not checked",
                                   f"{resource['resourceType']}.meta.profile[{i}]",
                                   "unknown-profile"))
            else:
                known.append(url)
        return known


def _deduplicated(issues: list[Issue]) -> list[Issue]:
    """Drop repeats: a base rule a profile inherits is reported once, not per profile."""
    if len(issues) < 2:
        return list(issues)
    return list(dict.fromkeys(issues))
