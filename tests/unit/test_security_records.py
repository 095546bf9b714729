"""The records the server writes about access (AuditEvent, Provenance, Involvement) are valid
R4 (and the Involvement conforms to its Cradle profile), for any caller and request."""

from __future__ import annotations

from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from server.errors import is_error
from server.profiles.loader import build_definitions
from server.security import records
from server.security.principal import Principal
from server.security.scopes import Scopes
from server.validation import ResourceValidator

INVOLVEMENT = "https://cradle.example/fhir/StructureDefinition/Involvement"
ids = st.from_regex(r"[A-Za-z0-9\-]{1,20}", fullmatch=True)
agencies = st.one_of(st.none(), ids.map(lambda i: f"Organization/{i}"))
interactions = st.sampled_from(sorted(records.ACTIONS))


@cache
def validator() -> ResourceValidator:
    return ResourceValidator(build_definitions())


def errors(resource: dict[str, object], profile: str | None = None) -> list[str]:
    return [f"{i.expression}: {i.diagnostics}" for i in validator().validate(resource, profile)
            if is_error(i)]


principals = st.builds(
    Principal, client_id=ids, agency=agencies, scopes=st.just(Scopes.everything()),
    operator=st.booleans(), break_glass=st.one_of(st.none(), st.text(min_size=1, max_size=40)),
    address=st.one_of(st.none(), st.just("127.0.0.1")))


@settings(max_examples=40, deadline=None)
@given(principals, interactions, st.lists(ids, max_size=3), st.lists(ids, max_size=2),
       st.one_of(st.none(), st.just("name=Smith&birthdate=2015")),
       st.sampled_from(["success", "minor", "serious"]))
def test_audit_events_are_valid_r4(who: Principal, interaction: str, resources: list[str],
                                   children: list[str], query: str | None,
                                   outcome: str) -> None:
    record = records.AccessRecord(interaction, "Flag", query)
    for n, id_ in enumerate(resources):
        record.touched(f"Flag/{id_}/_history/{n + 1}", tuple(f"Patient/{c}" for c in children),
                       ("https://cradle.example/fhir/access-rule/involvement",))
    event = records.audit_event(who, record, "2026-11-25T10:00:00.000Z", outcome,
                                None if outcome == "success" else "denied")
    assert errors(event) == []
    assert event["outcome"] == records.OUTCOMES[outcome]
    clients = [a for a in event["agent"] if a.get("requestor")]
    assert clients[0]["who"]["identifier"]["value"] == who.client_id
    if who.break_glass:
        assert event["purposeOfEvent"][0]["coding"][0]["code"] == "BTG"


@settings(max_examples=20, deadline=None)
@given(principals, st.lists(ids, min_size=1, max_size=3),
       st.sampled_from(["create", "update", "delete"]))
def test_provenance_is_valid_r4(who: Principal, targets: list[str], activity: str) -> None:
    provenance = records.provenance(who, [f"Flag/{t}/_history/1" for t in targets], activity,
                                    "2026-11-25T10:00:00.000Z")
    assert errors(provenance) == []
    if who.agency:
        assert provenance["agent"][0]["who"] == {"reference": who.agency}


def test_opened_involvements_conform_to_the_involvement_profile() -> None:
    for kind, status in (("record-submitter", "active"), ("referral-recipient", "planned")):
        episode = records.involvement("Patient/p1", "Organization/la-201", kind, "2026-11-25",
                                      status)
        assert errors(episode, INVOLVEMENT) == []
