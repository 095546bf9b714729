"""Terminology services: ValueSet expansion, $validate-code, $lookup and $translate."""

from server.terminology.expansion import Entry, Expansion, Terminology
from server.terminology.lookup import lookup
from server.terminology.operations import expand, validate_code, validate_code_in_system
from server.terminology.translate import translate

__all__ = ["Entry", "Expansion", "Terminology", "expand", "lookup", "translate",
           "validate_code", "validate_code_in_system"]
