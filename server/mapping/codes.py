"""Code translation for the maps, only ever through FHIR ConceptMaps (`$translate`)."""

from __future__ import annotations

from typing import Any

from server.errors import FhirError
from server.terminology import translate
from server.terminology.expansion import Terminology

Coding = dict[str, Any]
# Preferred first when a code maps to several: the closest meaning wins.
_RANK = {"equal": 0, "equivalent": 1, "relatedto": 2, "wider": 3, "subsumes": 3,
         "narrower": 4, "specializes": 4, "inexact": 5}


class Codes:
    """Translate codes with the ConceptMaps the terminology knows."""

    def __init__(self, terminology: Terminology) -> None:
        self.terminology = terminology
        # One bulk upload asks the same few codes thousands of times.
        self._seen: dict[tuple[str, str, str, str | None, bool], list[Coding]] = {}
        # FHIRPath answers that used translate(), by expression and variables (expressions.py)
        self.remembered: dict[tuple[str, tuple[tuple[str, Any], ...]], list[Any]] = {}

    def translate(self, concept_map: str, code: str, system: str, target: str | None = None,
                  reverse: bool = False) -> Coding | None:
        """Return the one best Coding in `target` (any system when None) for `system#code`,
        or None when the map has none, several equally good (choosing would be a guess), or
        is unknown. `reverse` reads the map backwards."""
        best = self.translate_all(concept_map, code, system, target, reverse)
        return best[0] if len(best) == 1 else None

    def translate_all(self, concept_map: str, code: str, system: str,
                      target: str | None = None, reverse: bool = False) -> list[Coding]:
        """Return every equally best Coding (a map may send one code to two concepts on
        purpose: a CodeableConcept carries them all); [] when there is none."""
        key = (concept_map, code, system, target, reverse)
        if key not in self._seen:
            self._seen[key] = self._best(concept_map, code, system, target, reverse)
        return self._seen[key]

    def _best(self, concept_map: str, code: str, system: str, target: str | None,
              reverse: bool) -> list[Coding]:
        try:
            result = translate(self.terminology, concept_map, code, system, target, reverse)
        except FhirError:
            return []
        matches = []
        for parameter in result["parameter"]:
            if parameter.get("name") != "match":
                continue
            parts = {p["name"]: p for p in parameter["part"]}
            equivalence = parts["equivalence"]["valueCode"]
            if equivalence in ("unmatched", "disjoint"):
                continue
            matches.append((_RANK.get(equivalence, 9), parts["concept"]["valueCoding"]))
        if not matches:
            return []
        rank = min(m[0] for m in matches)
        best = {(c.get("system"), c.get("code")): c for r, c in matches if r == rank}
        return list(best.values())
