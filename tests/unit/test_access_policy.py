"""Need to know (`server.security.policy`) as a decision table, with the date edges of
involvements and sharing agreements (period boundaries, partial dates, statuses)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.profiles.loader import default_profile_dir, load_access_policy
from server.security.policy import (
    RULE_BASE,
    AccessPolicy,
    Agreement,
    Involvement,
    Labels,
    agencies_named,
)
from server.security.principal import Principal
from server.security.scopes import Scopes

POLICY = AccessPolicy.from_json(load_access_policy(default_profile_dir()))
TODAY = "2026-04-15"
CHILD, OTHER_CHILD = "Patient/c1", "Patient/c2"
LA, POLICE, HEALTH = "Organization/la", "Organization/police", "Organization/health"
EVERYTHING = Scopes.parse("system/*.cruds cradle/break-glass")


def agent(agency: str | None = POLICE, scopes: Scopes = EVERYTHING, **extra: Any) -> Principal:
    return Principal(f"client-{agency}", agency, scopes, **extra)


OPERATOR = Principal("admin", None, EVERYTHING, operator=True)
FLAG = Labels("Flag", LA, (CHILD,))  # a record LA wrote about the child


def involvement(status: str = "active", end: str | None = None, agency: str = POLICE,
                child: str = CHILD) -> Involvement:
    return Involvement(child, agency, status, end)


def agreement(status: str = "active", parties: tuple[str, ...] = (LA, POLICE),
              classes: tuple[str, ...] = ("Flag", "Patient"), start: str | None = None,
              end: str | None = None, child: str | None = None,
              reference: str = "Consent/a1", owner: str | None = None) -> Agreement:
    return Agreement(reference=reference, owner=owner, status=status,
                     parties=frozenset(parties), classes=frozenset(classes), start=start,
                     end=end, child=child)


def rules(decision: Any) -> tuple[str, ...]:
    return tuple(r.removeprefix(RULE_BASE) for r in decision.rules)


def test_policy_data() -> None:
    assert POLICY.granting_statuses == {"planned", "waitlist", "active", "onhold"}
    assert POLICY.scope_only == {"AuditEvent"}
    assert POLICY.server_written == {"AuditEvent", "Provenance"}
    assert POLICY.recipients == {"ServiceRequest": ("performer",)}
    assert POLICY.amenders == {"ServiceRequest": ("performer",)}


# --- who reads: one row per rule, in order ------------------------------------------------------

READS = [
    # (id, who, record, involvements, agreements, allowed, rules)
    ("operator", OPERATOR, FLAG, [], [], True, ("operator",)),
    ("operator with no scopes still passes need-to-know",
     replace(OPERATOR, scopes=Scopes()), FLAG, [], [], True, ("operator",)),
    ("audit trail: scope only", agent(), Labels("AuditEvent", None, (CHILD,)), [], [], True,
     ("scope",)),
    ("about no child: scope only", agent(), Labels("Organization", LA, ()), [], [], True,
     ("scope",)),
    ("no agency, not an operator", agent(None), FLAG, [involvement(agency=POLICE)], [], False,
     ()),
    ("author", agent(LA), FLAG, [], [], True, ("author",)),
    ("author beats involvement", agent(LA), FLAG, [involvement(agency=LA)], [], True,
     ("author",)),
    ("stranger", agent(), FLAG, [], [], False, ()),
    ("active involvement", agent(), FLAG, [involvement()], [], True, ("involvement",)),
    ("involvement beats agreement", agent(), FLAG, [involvement()], [agreement()], True,
     ("involvement",)),
    ("another agency's involvement", agent(), FLAG, [involvement(agency=HEALTH)], [], False,
     ()),
    ("involvement with another child", agent(), FLAG, [involvement(child=OTHER_CHILD)], [],
     False, ()),
    ("involvement with one of the record's children", agent(),
     Labels("Flag", LA, (CHILD, OTHER_CHILD)), [involvement(child=OTHER_CHILD)], [], True,
     ("involvement",)),
    ("sharing agreement", agent(), FLAG, [], [agreement()], True,
     ("sharing-agreement", "Consent/a1")),
    ("agreements listed once each, sorted", agent(), Labels("Flag", LA, (CHILD, OTHER_CHILD)),
     [], [agreement(reference="Consent/b"), agreement(reference="Consent/a")], True,
     ("sharing-agreement", "Consent/a", "Consent/b")),
    ("agreement without the author", agent(), FLAG, [], [agreement(parties=(HEALTH, POLICE))],
     False, ()),
    ("agreement without the reader", agent(), FLAG, [], [agreement(parties=(LA, HEALTH))],
     False, ()),
    ("agreement not covering the type", agent(), FLAG, [], [agreement(classes=("Patient",))],
     False, ()),
    ("agreement the author wrote", agent(), FLAG, [], [agreement(owner=LA)], True,
     ("sharing-agreement", "Consent/a1")),
    ("agreement the reader wrote cannot share the author's records", agent(), FLAG, [],
     [agreement(owner=POLICE)], False, ()),
    ("agreement a third agency wrote", agent(), FLAG, [],
     [agreement(parties=(LA, POLICE, HEALTH), owner=HEALTH)], False, ()),
    ("agreement for this child", agent(), FLAG, [], [agreement(child=CHILD)], True,
     ("sharing-agreement", "Consent/a1")),
    ("agreement for another child", agent(), FLAG, [], [agreement(child=OTHER_CHILD)], False,
     ()),
    ("record written by an operator: no author to share it", agent(),
     Labels("Flag", None, (CHILD,)), [], [agreement()], False, ()),
    ("break glass: reason and scope", agent(break_glass="child missing"), FLAG, [], [], True,
     ("break-glass",)),
    ("break glass without the scope",
     agent(scopes=Scopes.parse("system/*.cruds"), break_glass="child missing"), FLAG, [], [],
     False, ()),
    ("break-glass scope without a reason", agent(), FLAG, [], [], False, ()),
    ("break glass is the last resort", agent(break_glass="child missing"), FLAG,
     [involvement()], [], True, ("involvement",)),
]


@pytest.mark.parametrize(("who", "record", "involvements", "agreements", "allowed", "why"),
                         [pytest.param(*row[1:], id=row[0]) for row in READS])
def test_may_read(who: Principal, record: Labels, involvements: list[Involvement],
                  agreements: list[Agreement], allowed: bool, why: tuple[str, ...]) -> None:
    decision = POLICY.may_read(who, record, involvements, agreements, TODAY)
    assert decision.allowed is allowed
    assert rules(decision) == why
    assert bool(decision.reason) is not allowed


# --- involvement statuses and end dates ---------------------------------------------------------


@pytest.mark.parametrize(("status", "grants"), [
    ("planned", True), ("waitlist", True), ("active", True), ("onhold", True),
    ("finished", False), ("cancelled", False), ("entered-in-error", False), ("", False),
    ("Active", False),
])
def test_involvement_status(status: str, grants: bool) -> None:
    assert POLICY.grants(involvement(status), TODAY) is grants
    assert POLICY.may_read(agent(), FLAG, [involvement(status)], [], TODAY).allowed is grants


@pytest.mark.parametrize(("end", "grants"), [
    (None, True),
    ("2026-04-14", False),  # ended yesterday
    ("2026-04-15", True),  # ends today: still involved today
    ("2026-04-16", True),
    ("2026-04-15T00:00:01Z", True),  # a dateTime during today
    ("2026-04-14T23:59:59Z", False),
    ("2026-04", True),  # a month that has not finished
    ("2026-03", False),
    ("2026", True),
    ("2025", False),
    ("2027-01-01", True),
])
def test_involvement_end(end: str | None, grants: bool) -> None:
    assert POLICY.grants(involvement(end=end), TODAY) is grants


@pytest.mark.parametrize(("end", "today", "grants"), [
    ("2026-04", "2026-04-30", True),  # the last day of a partial end month
    ("2026-04", "2026-05-01", False),
    ("2026", "2026-12-31", True),
    ("2026", "2027-01-01", False),
    ("2024-02", "2024-02-29", True),
])
def test_partial_end_dates_include_their_whole_period(end: str, today: str,
                                                      grants: bool) -> None:
    assert POLICY.grants(involvement(end=end), today) is grants
    assert agreement(end=end).covers(LA, POLICE, "Flag", CHILD, today) is grants


# --- sharing agreements: status and period ------------------------------------------------------


@pytest.mark.parametrize(("status", "covers"), [
    ("active", True), ("draft", False), ("proposed", False), ("rejected", False),
    ("inactive", False), ("entered-in-error", False),
])
def test_agreement_status(status: str, covers: bool) -> None:
    assert agreement(status).covers(LA, POLICE, "Flag", CHILD, TODAY) is covers


@pytest.mark.parametrize(("start", "end", "covers"), [
    (None, None, True),
    ("2026-04-15", None, True),  # starts today
    ("2026-04-16", None, False),  # starts tomorrow
    ("2026-04-14", "2026-04-15", True),  # ends today
    ("2026-01-01", "2026-04-14", False),  # ended yesterday
    ("2026-04", None, True),  # from the start of this month
    ("2026-05", None, False),
    ("2026", "2026", True),
    ("2027", None, False),
    (None, "2026-03", False),
    ("2026-04-15T09:00:00Z", None, True),  # a dateTime start later today counts from today
    ("2026-04-16T00:00:00Z", None, False),
])
def test_agreement_period(start: str | None, end: str | None, covers: bool) -> None:
    shared = agreement(start=start, end=end)
    assert shared.covers(LA, POLICE, "Flag", CHILD, TODAY) is covers
    assert POLICY.may_read(agent(), FLAG, [], [shared], TODAY).allowed is covers


@pytest.mark.parametrize(("start", "today", "covers"), [
    ("2026-04", "2026-04-01", True),
    ("2026-04", "2026-03-31", False),
    ("2026", "2026-01-01", True),
    ("2026", "2025-12-31", False),
])
def test_partial_start_dates_begin_their_period(start: str, today: str, covers: bool) -> None:
    assert agreement(start=start).covers(LA, POLICE, "Flag", CHILD, today) is covers


def test_agreement_is_mutual_between_its_parties() -> None:
    shared = agreement(parties=(LA, POLICE, HEALTH))
    assert shared.covers(POLICE, LA, "Flag", CHILD, TODAY)
    assert shared.covers(HEALTH, POLICE, "Patient", CHILD, TODAY)
    assert not shared.covers(LA, "Organization/school", "Flag", CHILD, TODAY)


DATES = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))


def _last_day(value: date, precision: int) -> date:
    if precision == 4:
        return date(value.year, 12, 31)
    if precision == 7:
        following = date(value.year + (value.month == 12), value.month % 12 + 1, 1)
        return following - timedelta(days=1)
    return value


def _first_day(value: date, precision: int) -> date:
    return {4: date(value.year, 1, 1), 7: date(value.year, value.month, 1)}.get(precision,
                                                                                value)


@settings(max_examples=400, deadline=None)
@given(today=DATES, bound=DATES, precision=st.sampled_from([4, 7, 10]))
def test_period_bounds_mean_whole_days_months_and_years(today: date, bound: date,
                                                        precision: int) -> None:
    text = bound.isoformat()[:precision]
    day = today.isoformat()
    assert agreement(start=text).covers(LA, POLICE, "Flag", CHILD, day) is (
        _first_day(bound, precision) <= today)
    in_force = today <= _last_day(bound, precision)
    assert agreement(end=text).covers(LA, POLICE, "Flag", CHILD, day) is in_force
    assert POLICY.grants(involvement(end=text), day) is in_force


def test_today_defaults_to_the_current_date() -> None:
    today = date.today()
    ends_today = involvement(end=today.isoformat())
    ended = involvement(end=(today - timedelta(days=1)).isoformat())
    assert POLICY.may_read(agent(), FLAG, [ends_today], []).allowed
    assert not POLICY.may_read(agent(), FLAG, [ended], []).allowed


# --- reading involvements and agreements from resources ----------------------------------------


def test_involvement_from_episode_of_care() -> None:
    episode = {"resourceType": "EpisodeOfCare", "status": "active",
               "patient": {"reference": CHILD}, "managingOrganization": {"reference": POLICE},
               "period": {"start": "2026-01-01", "end": "2026-06"}}
    assert Involvement.from_resource(episode) == Involvement(CHILD, POLICE, "active", "2026-06")
    assert Involvement.from_resource({**episode, "period": {}}) == Involvement(
        CHILD, POLICE, "active", None)
    assert Involvement.from_resource({k: v for k, v in episode.items() if k != "patient"}) \
        is None
    assert Involvement.from_resource({k: v for k, v in episode.items()
                                      if k != "managingOrganization"}) is None


def test_agreement_from_consent() -> None:
    consent = {
        "resourceType": "Consent", "id": "share-1", "status": "active",
        "patient": {"reference": CHILD},
        "organization": [{"reference": LA}, {"reference": POLICE}, {"display": "no ref"}],
        "provision": {"period": {"start": "2026-01", "end": "2026-12-31"},
                      "class": [{"system": "http://hl7.org/fhir/resource-types",
                                 "code": "Flag"}, {"code": "Patient"}, {"display": "x"}]}}
    assert Agreement.from_resource(consent, LA) == agreement(
        reference="Consent/share-1", owner=LA, parties=(LA, POLICE),
        classes=("Flag", "Patient"), start="2026-01", end="2026-12-31", child=CHILD)
    assert Agreement.from_resource(consent).owner is None
    bare = Agreement.from_resource({"resourceType": "Consent", "id": "x"})
    assert bare == agreement(status="", reference="Consent/x", parties=(), classes=())
    assert not bare.covers(LA, POLICE, "Flag", CHILD, TODAY)


# --- who amends ---------------------------------------------------------------------------------

REFERRAL = {"resourceType": "ServiceRequest", "status": "active",
            "subject": {"reference": CHILD},
            "performer": [{"reference": POLICE}, {"reference": "Practitioner/p1"}]}


@pytest.mark.parametrize(("who", "record", "resource", "allowed", "why"), [
    pytest.param(OPERATOR, FLAG, None, True, ("operator",), id="operator"),
    pytest.param(agent(LA), FLAG, None, True, ("author",), id="author"),
    pytest.param(agent(), FLAG, None, False, (), id="other agency"),
    pytest.param(agent(), FLAG, {"resourceType": "Flag", "performer": [{"reference": POLICE}]},
                 False, (), id="Flag has no amender elements"),
    pytest.param(agent(), Labels("ServiceRequest", LA, (CHILD,)), REFERRAL, True,
                 ("named-recipient",), id="named performer"),
    pytest.param(agent(HEALTH), Labels("ServiceRequest", LA, (CHILD,)), REFERRAL, False, (),
                 id="not the performer"),
    pytest.param(agent(None), Labels("ServiceRequest", None, (CHILD,)), REFERRAL, False, (),
                 id="no agency and no author is no match"),
    pytest.param(agent(), Labels("ServiceRequest", LA, (CHILD,)), None, False, (),
                 id="no content"),
])
def test_may_amend(who: Principal, record: Labels, resource: dict[str, Any] | None,
                   allowed: bool, why: tuple[str, ...]) -> None:
    decision = POLICY.may_amend(who, record, resource)
    assert decision.allowed is allowed
    assert rules(decision) == why


def test_recipients_of_a_referral() -> None:
    referral = {**REFERRAL, "performer": [{"reference": POLICE}, {"reference": HEALTH},
                                          {"reference": POLICE},
                                          {"reference": "Practitioner/p1"}, "junk"]}
    assert POLICY.recipients_of(referral) == [POLICE, HEALTH]
    assert POLICY.recipients_of({"resourceType": "Flag", "performer": [
        {"reference": POLICE}]}) == []
    assert agencies_named({"a": {"reference": LA}, "b": [{"reference": HEALTH}]},
                          ["a", "b", "c"]) == [LA, HEALTH]
