"""Operation input: a `Parameters` body, a bare resource body, and query parameters, as one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.errors import Invalid

Json = dict[str, Any]
VALUE_PREFIX = "value"


@dataclass
class OperationInput:
    """What an operation was called with.

    `values` maps each parameter name to its values (strings from the query, primitive values
    or resources from a Parameters body); `resource` is a bare resource body, if one was sent.
    """

    resource_type: str | None
    id: str | None
    values: dict[str, list[Any]] = field(default_factory=dict)
    resource: Json | None = None
    base_url: str = ""

    def one(self, name: str) -> Any | None:
        """Return the single value of `name` (None if absent); raise `Invalid` if repeated."""
        found = self.values.get(name, [])
        if len(found) > 1:
            raise Invalid(f"Parameter '{name}' may appear only once", expression=name)
        return found[0] if found else None

    def text(self, name: str) -> str | None:
        """Return a single string-valued parameter; raise `Invalid` if it is not text."""
        value = self.one(name)
        if value is not None and not isinstance(value, str):
            raise Invalid(f"Parameter '{name}' must be a string/uri/code value", expression=name)
        return value

    def as_resource(self, name: str) -> Json | None:
        """Return a resource-valued parameter (or the bare body resource for `resource`)."""
        value = self.one(name)
        if value is None and name == "resource":
            return self.resource
        if value is not None and not isinstance(value, dict):
            raise Invalid(f"Parameter '{name}' must be a resource", expression=name)
        return value


def from_request(resource_type: str | None, id_: str | None, query: list[tuple[str, str]],
                 body: Json | None, base_url: str) -> OperationInput:
    """Combine query parameters and a body (Parameters or a bare resource) into one input.

    Raises `Invalid` for a Parameters body whose parameters have no name or value.
    """
    call = OperationInput(resource_type, id_, base_url=base_url)
    for key, value in query:
        call.values.setdefault(key, []).append(value)
    if body is None:
        return call
    if body.get("resourceType") != "Parameters":
        call.resource = body
        return call
    for index, parameter in enumerate(body.get("parameter") or []):
        name = parameter.get("name") if isinstance(parameter, dict) else None
        if not isinstance(name, str):
            raise Invalid("Each parameter needs a name",
                          expression=f"Parameters.parameter[{index}]")
        call.values.setdefault(name, []).append(_value_of(parameter, index))
    return call


def _value_of(parameter: Json, index: int) -> Any:
    if "resource" in parameter:
        return parameter["resource"]
    for key, value in parameter.items():
        if key.startswith(VALUE_PREFIX):
            return value
    if "part" in parameter:
        return parameter["part"]
    raise Invalid(f"Parameter '{parameter['name']}' has no value",
                  expression=f"Parameters.parameter[{index}]")
