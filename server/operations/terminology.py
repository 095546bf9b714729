"""`ValueSet/$expand`, `ValueSet/$validate-code`, `CodeSystem/$validate-code`, `CodeSystem/$lookup`
and `ConceptMap/$translate`: thin adapters from operation input to `server.terminology`."""

from __future__ import annotations

from typing import Any

from server import terminology
from server.errors import Invalid
from server.interactions.services import Services
from server.operations.parameters import OperationInput
from server.operations.registry import operation
from server.operations.targets import target_resource

Json = dict[str, Any]
SPEC = "http://hl7.org/fhir/OperationDefinition/"


def _number(call: OperationInput, name: str) -> int | None:
    value = call.one(name)
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise Invalid(f"Parameter '{name}' must be a non-negative integer", expression=name)


def _required(call: OperationInput, name: str) -> str:
    value = call.text(name)
    if value is None:
        raise Invalid(f"Parameter '{name}' is required", expression=name)
    return value


@operation("expand", SPEC + "ValueSet-expand", {"type", "instance"}, {"ValueSet"})
async def expand(services: Services, call: OperationInput) -> Json:
    """Return the expanded ValueSet (`filter`, `offset`, `count` supported)."""
    value_set = await target_resource(services, call, "url", "valueSet")
    return terminology.expand(services.conformance.terminology, value_set, call.text("filter"),
                              _number(call, "offset") or 0, _number(call, "count"))


@operation("validate-code", SPEC + "ValueSet-validate-code", {"type", "instance"},
           {"ValueSet"})
async def validate_code(services: Services, call: OperationInput) -> Json:
    """Return Parameters(result, message, display) for a code in a ValueSet."""
    value_set = await target_resource(services, call, "url", "valueSet")
    code, system, display = _coding(call)
    return terminology.validate_code(services.conformance.terminology, value_set, code, system,
                                     display, call.text("systemVersion"))


@operation("validate-code", SPEC + "CodeSystem-validate-code", {"type", "instance"},
           {"CodeSystem"})
async def validate_code_in_system(services: Services, call: OperationInput) -> Json:
    """Return Parameters(result, message, display) for a code in a CodeSystem."""
    target = await target_resource(services, call, "url", "codeSystem")
    url = target if isinstance(target, str) else str(target.get("url"))
    code, _, display = _coding(call)
    return terminology.validate_code_in_system(services.conformance.terminology, url, code,
                                               display)


@operation("lookup", SPEC + "CodeSystem-lookup", {"type"}, {"CodeSystem"})
async def lookup(services: Services, call: OperationInput) -> Json:
    """Return Parameters(name, display, designation, property...) for a system and code."""
    code, system, _ = _coding(call)
    if system is None:
        raise Invalid("Parameter 'system' is required", expression="system")
    return terminology.lookup(services.conformance.terminology, system, code,
                              call.text("version"))


@operation("translate", SPEC + "ConceptMap-translate", {"type", "instance"}, {"ConceptMap"})
async def translate(services: Services, call: OperationInput) -> Json:
    """Return Parameters(result, match...) translating a code with a ConceptMap."""
    concept_map = await target_resource(services, call, "url", "conceptMap")
    code, system, _ = _coding(call)
    if system is None:
        raise Invalid("Parameter 'system' is required", expression="system")
    reverse = call.one("reverse") in (True, "true")
    return terminology.translate(services.conformance.terminology, concept_map, code, system,
                                 call.text("targetsystem"), reverse)


def _coding(call: OperationInput) -> tuple[str, str | None, str | None]:
    """(code, system, display) from `code`/`system`/`display` or a `coding` parameter."""
    coding = call.one("coding")
    if isinstance(coding, dict):
        code = coding.get("code")
        if not isinstance(code, str):
            raise Invalid("Parameter 'coding' needs a code", expression="coding")
        return code, coding.get("system"), coding.get("display")
    return _required(call, "code"), call.text("system"), call.text("display")
