"""The profiles a target's answers are held to: the shipped definitions and enforcement,
validated offline (no server, no terminology server)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from server.conformance.model import Json, Validate
from server.definitions import Definitions
from server.errors import is_error
from server.profiles.loader import build_definitions, default_profile_dir, load_enforcement
from server.validation import ResourceValidator


@cache
def shipped_definitions() -> Definitions:
    """The R4 base and the shipped profiles, built once per process for the whole kit."""
    return build_definitions()


def profile_validator() -> Validate:
    """Return a validation function over the shipped profiles and their enforcement."""
    return validator_of(ResourceValidator(shipped_definitions()),
                        load_enforcement(default_profile_dir()))


def validator_of(validator: ResourceValidator, required: Mapping[str, str]) -> Validate:
    """Return a function giving (message id, message, expression) for each error in a
    resource, against its type's required profile and its own `meta.profile`."""
    def validate(resource: Json) -> list[tuple[str, str, str | None]]:
        issues = validator.validate(resource, required.get(str(resource.get("resourceType"))))
        return [(i.message_id or i.code, i.diagnostics, i.expression)
                for i in issues if is_error(i)]
    return validate
