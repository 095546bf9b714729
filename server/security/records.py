"""The records the server writes about access: AuditEvents (IHE Basic Audit Log Patterns
shape) and Provenance. Pure builders; the interactions layer stores them."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from server.security.principal import CLIENT_ID_SYSTEM, Principal

Json = dict[str, Any]
DCM = "http://dicom.nema.org/resources/ontology/DCM"
REST = {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
        "display": "RESTful Operation"}
LOGIN_TYPE = {"system": DCM, "code": "110114", "display": "User Authentication"}
LOGIN_SUBTYPE = {"system": DCM, "code": "110122", "display": "Login"}
INTERACTION = "http://hl7.org/fhir/restful-interaction"
CRADLE_SUBTYPE = "https://cradle.example/fhir/CodeSystem/audit-event-subtype"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ACTIONS = {"create": "C", "update": "U", "patch": "U", "delete": "D", "read": "R",
           "vread": "R", "search-type": "E", "search-system": "E", "history-instance": "R",
           "history-type": "R", "history-system": "R", "transaction": "E", "batch": "E",
           "operation": "E", "capabilities": "R", "login": "E"}
OUTCOMES = {"success": "0", "minor": "4", "serious": "8"}
DATA_OPERATIONS = {"create": "CREATE", "update": "UPDATE", "delete": "DELETE"}
SERVER = {"display": "Cradle FHIR server"}


@dataclass
class AccessRecord:
    """What one request did, gathered while it runs, for its AuditEvent."""

    interaction: str  # a restful-interaction code (read, create, search-type, ...) or `login`
    resource_type: str | None = None
    query: str | None = None
    entities: list[str] = field(default_factory=list)  # `Type/id/_history/v` it touched
    subjects: set[str] = field(default_factory=set)  # the children (`Patient/id`) concerned
    rules: list[str] = field(default_factory=list)  # the rules that allowed it
    committed: bool = False  # its AuditEvent was stored with the write it describes

    def touched(self, reference: str, subjects: tuple[str, ...] = (),
                rules: tuple[str, ...] = ()) -> None:
        """Note a resource version the request read or wrote, its children, and why allowed."""
        self.entities.append(reference)
        self.subjects.update(subjects)
        self.rules.extend(r for r in rules if r not in self.rules)


def _coding(system: str, code: str, display: str | None = None) -> Json:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def _client(who: Principal) -> Json:
    return {"identifier": {"system": CLIENT_ID_SYSTEM, "value": who.client_id},
            "display": f"client {who.client_id}" + (" (operator)" if who.operator else "")}


def audit_event(who: Principal, record: AccessRecord, recorded: str, outcome: str = "success",
                description: str | None = None) -> Json:
    """Return the AuditEvent for one request: who (client, agency), what (resources, query),
    when, outcome and purpose of use."""
    login = record.interaction == "login"
    subtypes = [LOGIN_SUBTYPE] if login else [_coding(INTERACTION, record.interaction)]
    purpose = "BTG" if who.break_glass else who.purpose
    if who.break_glass:
        subtypes.append(_coding(CRADLE_SUBTYPE, "break-glass", "Break-glass emergency access"))
    client: Json = {"type": {"coding": [_coding(DCM, "110153", "Source Role ID")]},
                    "who": _client(who), "requestor": True}
    if record.rules:
        client["policy"] = list(record.rules)
    if who.address:
        client["network"] = {"address": who.address, "type": "2"}
    agents = [client]
    if who.agency:
        agents.append({"type": {"coding": [_coding(DCM, "110150", "Application")]},
                       "who": {"reference": who.agency}, "requestor": False})
    agents.append({"type": {"coding": [_coding(DCM, "110152", "Destination Role ID")]},
                   "who": SERVER, "requestor": False})
    event: Json = {
        "resourceType": "AuditEvent",
        "type": LOGIN_TYPE if login else REST,
        "subtype": subtypes,
        "action": ACTIONS.get(record.interaction, "E"),
        "recorded": recorded,
        "outcome": OUTCOMES[outcome],
        "purposeOfEvent": [{"coding": [_coding(ACT_REASON, purpose)]}],
        "agent": agents,
        "source": {"observer": SERVER, "type": [_coding(
            "http://terminology.hl7.org/CodeSystem/security-source-type", "4",
            "Application Server")]},
    }
    if description:
        event["outcomeDesc"] = description
    entities = [_entity(ref, "4", "Domain Resource") for ref in record.entities]
    entities += [_entity(child, "1", "Patient") for child in sorted(record.subjects)]
    if record.query is not None:
        entities.append({"type": _coding("http://terminology.hl7.org/CodeSystem/audit-entity-type",
                                         "2", "System Object"),
                         "role": _coding("http://terminology.hl7.org/CodeSystem/object-role",
                                         "24", "Query"),
                         "description": f"{record.resource_type or 'system'} query",
                         "query": base64.b64encode(record.query.encode()).decode()})
    if who.break_glass:
        entities.append({"description": "break-glass reason",
                         "detail": [{"type": "reason", "valueString": who.break_glass}]})
    if entities:
        event["entity"] = entities
    return event


def _entity(reference: str, role: str, display: str) -> Json:
    return {"what": {"reference": reference},
            "type": _coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2",
                            "System Object"),
            "role": _coding("http://terminology.hl7.org/CodeSystem/object-role", role, display)}


def provenance(who: Principal, targets: list[str], activity: str, recorded: str) -> Json:
    """Return the Provenance of a write: the versions written, by which agency and client."""
    agents: list[Json] = []
    if who.agency:
        agents.append({"type": {"coding": [_coding(
            "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "author",
            "Author")]}, "who": {"reference": who.agency}})
    performer: Json = {"type": {"coding": [_coding(
        "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "performer",
        "Performer")]}, "who": _client(who)}
    if who.agency:
        performer["onBehalfOf"] = {"reference": who.agency}
    agents.append(performer)
    return {
        "resourceType": "Provenance",
        "target": [{"reference": t} for t in targets],
        "recorded": recorded,
        "activity": {"coding": [_coding("http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                        DATA_OPERATIONS.get(activity, "UPDATE"))]},
        "reason": [{"coding": [_coding(ACT_REASON, who.purpose)]}],
        "agent": agents,
    }


def involvement(child: str, agency: str, kind: str, start: str, status: str = "active") -> Json:
    """Return the Involvement (EpisodeOfCare) the server opens when an agency becomes involved."""
    return {
        "resourceType": "EpisodeOfCare",
        "meta": {"profile": ["https://cradle.example/fhir/StructureDefinition/Involvement"]},
        "status": status,
        "type": [{"coding": [_coding(
            "https://cradle.example/fhir/CodeSystem/involvement-type", kind)]}],
        "patient": {"reference": child},
        "managingOrganization": {"reference": agency},
        "period": {"start": start},
    }
