"""The profiles a target's answers are held to: the shipped definitions and enforcement,
validated offline (no server, no terminology server)."""

from __future__ import annotations

from functools import cache

from server.conformance.model import Json
from server.conformance.runner import Validate
from server.errors import is_error
from server.profiles.loader import build_definitions, default_profile_dir, load_enforcement
from server.validation import ResourceValidator


@cache
def _validator() -> tuple[ResourceValidator, dict[str, str]]:
    return ResourceValidator(build_definitions()), load_enforcement(default_profile_dir())


def profile_validator() -> Validate:
    """Return a function giving (message id, message, expression) for each error in a
    resource, against its type's required profile and its own `meta.profile`."""
    validator, required = _validator()

    def validate(resource: Json) -> list[tuple[str, str, str | None]]:
        issues = validator.validate(resource, required.get(str(resource.get("resourceType"))))
        return [(i.message_id or i.code, i.diagnostics, i.expression)
                for i in issues if is_error(i)]
    return validate
