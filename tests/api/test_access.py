"""Need-to-know over HTTP: who may read, search, amend and delete a child's records, what
searches may reveal, how involvement opens and closes, and the audit trail every request leaves.

One shared scenario (`world`) is built once: agency `author` registers child P (and a second
child Q), raises Flag F about P, refers P to agency `recipient` (ServiceRequest SR), and signs
sharing agreements (Consent) with several agencies, some in force and some not; agency
`submitter` joins by writing about P; agencies `finished` and `ended` were referred and closed
their involvement. The matrix below then asks every relationship to act on every type.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import orjson
import pytest

from server.config import Settings
from tests.api.agencies import (
    CRADLE_SUBTYPE,
    DCM,
    FHIR_JSON,
    FULL,
    NO_BREAK_GLASS,
    RULE,
    TAG_SYSTEM,
    Agency,
    Json,
    agencies,
    agreement,
    assert_forbidden,
    audit_events,
    child,
    created,
    entities,
    flag,
    ids,
    now_instant,
    observation,
    only_event,
    organization,
    policies,
    purpose,
    query_of,
    ref,
    referral,
    searched,
    subtypes,
    tagged,
    versioned,
)
from tests.auth import SmartBackendAuth

REASON = "child reported missing; duty social worker needs the record"

AGENCY_SCOPES = {
    "author": FULL, "recipient": FULL, "submitter": FULL,
    "agreed": FULL, "agreed-child": FULL, "agreed-flag": FULL, "agreed-patient-sr": FULL,
    "agreed-other-child": FULL, "agreed-inactive": FULL, "agreed-expired": FULL,
    "agreed-future": FULL, "finished": FULL, "ended": FULL, "stranger": FULL,
    "no-break-glass": NO_BREAK_GLASS, "org-only": "system/Organization.rs",
    "newcomer": FULL, "closer": FULL, "forger": FULL, "prober": FULL,
}

# relationship (matrix row) → (agency acting, break-glass reason sent)
ROLES: dict[str, tuple[str, str | None]] = {
    "author": ("author", None),
    "operator": ("operator", None),
    "involved-referral": ("recipient", None),
    "involved-submitter": ("submitter", None),
    "agreement": ("agreed", None),
    "agreement-for-child": ("agreed-child", None),
    "agreement-flag-only": ("agreed-flag", None),
    "agreement-not-covering-flag": ("agreed-patient-sr", None),
    "agreement-other-child": ("agreed-other-child", None),
    "agreement-inactive": ("agreed-inactive", None),
    "agreement-expired": ("agreed-expired", None),
    "agreement-not-started": ("agreed-future", None),
    "involvement-finished": ("finished", None),
    "involvement-ended": ("ended", None),
    "neither": ("stranger", None),
    "break-glass": ("stranger", REASON),
    "break-glass-without-scope": ("no-break-glass", REASON),
    "scope-organization-only": ("org-only", None),
}
CHILD_TYPES = ("Patient", "Flag", "ServiceRequest")
TYPES = (*CHILD_TYPES, "Organization")
EVERY = frozenset(TYPES)
NON_CHILD = frozenset({"Organization"})
# what each relationship may read (the shared records: P, F, SR, and agency O)
READABLE: dict[str, frozenset[str]] = {
    "author": EVERY, "operator": EVERY, "involved-referral": EVERY,
    "involved-submitter": EVERY, "agreement": EVERY, "agreement-for-child": EVERY,
    "agreement-flag-only": NON_CHILD | {"Flag"},
    "agreement-not-covering-flag": NON_CHILD | {"Patient", "ServiceRequest"},
    "break-glass": EVERY,
}
AMENDERS = {"author", "operator"}
SCOPE_LIMITED = {"scope-organization-only"}


def label(value: object) -> str | None:
    """Readable test ids for set/list parameters (`flag+submitter_flag`, `3+1`, `nothing`)."""
    if isinstance(value, set):
        return "+".join(sorted(map(str, value))) or "nothing"
    if isinstance(value, list):
        return "+".join(map(str, value)) or "nothing"
    return None


def expected(action: str, rtype: str, role: str) -> int:
    """The status (for search: the total) the matrix expects."""
    if role in SCOPE_LIMITED and rtype != "Organization":
        return 403
    if role in SCOPE_LIMITED and action in ("update", "delete"):
        return 403
    allowed_read = rtype in READABLE.get(role, NON_CHILD)
    if action == "read":
        return 200 if allowed_read else 403
    if action == "search":
        return 1 if allowed_read else 0
    amender = role in AMENDERS or (rtype == "ServiceRequest" and role == "involved-referral"
                                   and action == "update")
    if action == "update":
        return 200 if amender else 403
    return 204 if amender else 403


MATRIX = [pytest.param(action, rtype, role, id=f"{action}-{rtype}-{role}-"
                       f"{'total' if action == 'search' else ''}{expected(action, rtype, role)}")
          for action in ("read", "search", "update", "delete") for rtype in TYPES
          for role in ROLES]


@dataclass
class World:
    tag: str
    family: str  # P's family name (unique)
    secret: str  # F's second identifier and code (unique)
    admin: Agency
    agency: dict[str, Agency]
    records: dict[str, Json] = field(default_factory=dict)  # Patient, Flag, ... → shared record
    other_child: Json = field(default_factory=dict)
    submitter_flag: Json = field(default_factory=dict)
    referral_closed: Json = field(default_factory=dict)
    consents: dict[str, Json] = field(default_factory=dict)

    @property
    def patient(self) -> Json:
        return self.records["Patient"]

    @property
    def flag(self) -> Json:
        return self.records["Flag"]

    @property
    def referral(self) -> Json:
        return self.records["ServiceRequest"]

    def who(self, role: str) -> tuple[Agency, str | None]:
        name, reason = ROLES[role]
        return (self.admin if name == "operator" else self.agency[name]), reason

    def current(self, resource: Json) -> Json:
        response = self.admin.http.get(f"/{ref(resource)}")
        assert response.status_code == 200, response.text
        body: Json = response.json()
        return body

    def fresh(self, rtype: str) -> Json:
        """A new record of `rtype` by the author (about P), for tests that change it."""
        scratch = f"scratch-{self.tag}"
        bodies = {"Patient": child(scratch, f"Scratch{self.tag}"),
                  "Flag": flag(scratch, ref(self.patient)),
                  "ServiceRequest": referral(scratch, ref(self.patient),
                                             self.agency["recipient"].org),
                  "Organization": organization(scratch, "scratch agency")}
        return created(self.agency["author"].http.post(f"/{rtype}", json=bodies[rtype]))


def involvement_of(agency: Agency, patient: str) -> Json:
    bundle = searched(agency.http.get("/EpisodeOfCare", params={
        "patient": patient, "organization": agency.org}))
    assert bundle["total"] == 1, bundle
    resource: Json = bundle["entry"][0]["resource"]
    return resource


def close_involvement(agency: Agency, patient: str, how: str) -> None:
    """The agency closes its involvement with the child: finished, or its period ended."""
    episode = involvement_of(agency, patient)
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    if how == "status-finished":  # (an Involvement that is finished states its end)
        episode["status"] = "finished"
        episode["period"] = {**episode["period"], "end": date.today().isoformat()}
    else:
        episode["period"] = {"start": (date.today() - timedelta(days=30)).isoformat(),
                             "end": yesterday}
    response = agency.http.put(f"/{ref(episode)}", json=episode)
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def world(settings: Settings, server_url: str, fhir_url: str,
          admin_auth: SmartBackendAuth) -> Iterator[World]:
    suffix = uuid.uuid4().hex[:8]
    with agencies(settings, server_url, suffix, AGENCY_SCOPES) as agency, \
            httpx.Client(base_url=fhir_url, auth=admin_auth, timeout=30,
                         headers=FHIR_JSON) as admin_http:
        admin = Agency("operator", admin_auth.client_id, "", admin_http)
        tag = f"access-{suffix}"
        w = World(tag=tag, family=f"Childof{suffix}", secret=f"secret-{suffix}", admin=admin,
                  agency=agency)
        a = agency["author"].http
        w.records["Patient"] = created(a.post("/Patient", json=child(tag, w.family)))
        p = ref(w.patient)
        w.other_child = created(a.post("/Patient", json=child(f"other-{tag}", "Other")))
        w.records["Flag"] = created(a.post("/Flag", json={
            **flag(tag, p, w.secret), "identifier": tagged(tag) + tagged(w.secret)}))
        w.records["ServiceRequest"] = created(a.post("/ServiceRequest", json=referral(
            tag, p, agency["recipient"].org)))
        w.records["Organization"] = created(a.post("/Organization", json=organization(
            tag, "Author agency")))
        a_org = agency["author"].org
        three = list(CHILD_TYPES)
        specs: dict[str, dict[str, Any]] = {
            "agreed": {"types": three},
            "agreed-child": {"types": three, "patient": p},
            "agreed-flag": {"types": ["Flag"]},
            "agreed-patient-sr": {"types": ["Patient", "ServiceRequest"]},
            "agreed-other-child": {"types": three, "patient": ref(w.other_child)},
            "agreed-inactive": {"types": three, "status": "inactive"},
            "agreed-expired": {"types": three, "start": "2019-01-01", "end": "2020-12-31"},
            "agreed-future": {"types": three, "start": "2099-01-01", "end": "2099-12-31"},
        }
        for name, spec in specs.items():
            w.consents[name] = created(a.post("/Consent", json=agreement(
                tag, [a_org, agency[name].org], **spec)))
        submitter = agency["submitter"].http
        created(submitter.post("/Observation", json=observation(tag, p)))
        w.submitter_flag = created(submitter.post("/Flag", json=flag(tag, p, "other-concern")))
        w.referral_closed = created(a.post("/ServiceRequest", json=referral(
            f"closed-{tag}", p, agency["finished"].org, agency["ended"].org)))
        close_involvement(agency["finished"], p, "status-finished")
        close_involvement(agency["ended"], p, "period-ended")
        yield w


# --- the matrix ---------------------------------------------------------------------------

@pytest.mark.parametrize(("action", "rtype", "role"), MATRIX)
def test_access_matrix(world: World, action: str, rtype: str, role: str) -> None:
    who, reason = world.who(role)
    want = expected(action, rtype, role)
    headers = {"X-Break-Glass-Reason": reason} if reason else {}
    record = world.records[rtype]
    if action == "read":
        response = who.get(f"/{ref(record)}", break_glass=reason)
        if want == 403:
            assert_forbidden(response)
        else:
            assert response.status_code == 200, response.text
            assert ref(response.json()) == ref(record)
    elif action == "search":
        response = who.get(f"/{rtype}", break_glass=reason, _id=record["id"])
        if want == 403:
            assert_forbidden(response)
        else:
            bundle = searched(response)
            assert bundle["total"] == want
            assert ids(bundle) == ({ref(record)} if want else set())
    elif action == "update":
        before = world.current(record)
        response = who.http.put(f"/{ref(record)}", json={**before, "language": "en-GB"},
                                headers=headers)
        after = world.current(record)
        if want == 403:
            assert_forbidden(response)
            assert after["meta"]["versionId"] == before["meta"]["versionId"]
        else:
            assert response.status_code == 200, response.text
            assert int(after["meta"]["versionId"]) == int(before["meta"]["versionId"]) + 1
    else:
        # a record that may go (or a referral, whose performer may amend) is made afresh
        target = world.fresh(rtype) if want == 204 or rtype == "ServiceRequest" else record
        response = who.http.delete(f"/{ref(target)}", headers=headers)
        after = world.admin.http.get(f"/{ref(target)}")
        if want == 403:
            assert_forbidden(response)
            assert after.status_code == 200
        else:
            assert response.status_code == 204, response.text
            assert after.status_code == 410


def test_unauthenticated_requests_are_401_and_audited(world: World, fhir_url: str) -> None:
    since = now_instant()
    missing = httpx.get(f"{fhir_url}/{ref(world.flag)}")
    forged = httpx.get(f"{fhir_url}/{ref(world.flag)}",
                       headers={"Authorization": "Bearer not.a.token"})
    for response in (missing, forged):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["resourceType"] == "OperationOutcome"
        assert "Flag" not in response.text  # nothing about the record
    for open_path in ("/metadata", "/.well-known/smart-configuration"):
        assert httpx.get(f"{fhir_url}{open_path}").status_code == 200
    failures = searched(world.admin.http.get("/AuditEvent", params={
        "subtype": f"{DCM}|110122", "date": f"ge{since}", "_count": 50}))
    assert failures["total"] == 2
    for entry in failures["entry"]:
        event = entry["resource"]
        assert event["outcome"] == "4" and event["action"] == "E"
        assert event["agent"][0]["who"]["identifier"]["value"] == "unauthenticated"


# --- search filtering ---------------------------------------------------------------------

@pytest.mark.parametrize(("role", "visible"), [
    ("author", {"flag", "submitter_flag"}),
    ("involved-referral", {"flag", "submitter_flag"}),
    ("involved-submitter", {"flag", "submitter_flag"}),
    ("agreement", {"flag"}),  # the agreement is with the author only
    ("agreement-flag-only", {"flag"}),
    ("agreement-not-covering-flag", set()),
    ("agreement-expired", set()),
    ("involvement-finished", set()),
    ("neither", set()),
    ("break-glass", {"flag", "submitter_flag"}),
], ids=label)
def test_totals_and_summary_count_only_count_visible_records(world: World, role: str,
                                                             visible: set[str]) -> None:
    who, reason = world.who(role)
    by_name = {"flag": ref(world.flag), "submitter_flag": ref(world.submitter_flag)}
    want = {by_name[n] for n in visible}
    query = {"identifier": f"{TAG_SYSTEM}|{world.tag}", "patient": ref(world.patient)}
    bundle = searched(who.get("/Flag", break_glass=reason, **query))
    assert bundle["total"] == len(want) and ids(bundle) == want
    paged = searched(who.get("/Flag", break_glass=reason, _count=1, **query))
    assert paged["total"] == len(want) and len(paged.get("entry", [])) == min(1, len(want))
    counted = searched(who.get("/Flag", break_glass=reason, _summary="count", **query))
    assert counted["total"] == len(want) and "entry" not in counted


INCLUDES = [
    # (role, type, params, matches, includes) — includes are exact sets
    pytest.param("agreement-flag-only", "Flag", {"_include": "Flag:patient"}, "F", set(),
                 id="include-hidden-patient"),
    pytest.param("involved-referral", "Flag", {"_include": "Flag:patient"}, "F", {"P"},
                 id="include-visible-patient"),
    pytest.param("agreement-not-covering-flag", "Patient", {"_revinclude": "Flag:patient"},
                 "P", set(), id="revinclude-hidden-flags"),
    pytest.param("involved-referral", "Patient", {"_revinclude": "Flag:patient"}, "P",
                 {"F", "FU"}, id="revinclude-visible-flags"),
    pytest.param("agreement-not-covering-flag", "ServiceRequest",
                 {"_include": "ServiceRequest:subject", "_revinclude:iterate": "Flag:patient"},
                 "SR", {"P"}, id="iterate-stops-at-hidden-flags"),
    pytest.param("agreement-flag-only", "Flag",
                 {"_include": "Flag:patient", "_revinclude:iterate": "ServiceRequest:subject"},
                 "F", set(), id="iterate-cannot-pass-through-hidden-patient"),
    pytest.param("agreement-flag-only", "Flag", {"_revinclude": "Provenance:target"}, "F",
                 set(), id="revinclude-provenance-not-covered"),
    pytest.param("neither", "Patient", {"_revinclude": "Flag:patient"}, None, set(),
                 id="neither-sees-nothing"),
]


@pytest.mark.parametrize(("role", "rtype", "params", "match", "included"), INCLUDES)
def test_include_and_revinclude_only_return_visible_resources(
        world: World, role: str, rtype: str, params: dict[str, str], match: str | None,
        included: set[str]) -> None:
    names = {"P": ref(world.patient), "F": ref(world.flag), "SR": ref(world.referral),
             "FU": ref(world.submitter_flag)}
    who, reason = world.who(role)
    target = {"Flag": world.flag, "Patient": world.patient,
              "ServiceRequest": world.referral}[rtype]
    bundle = searched(who.get(f"/{rtype}", break_glass=reason, _id=target["id"], **params))
    assert ids(bundle) == ({names[match]} if match else set())
    assert bundle["total"] == (1 if match else 0)
    assert ids(bundle, "include") == {names[n] for n in included}


def test_include_iterate_reaches_everything_for_an_involved_agency(world: World) -> None:
    bundle = searched(world.agency["recipient"].get(
        "/ServiceRequest", _id=world.referral["id"], _include="ServiceRequest:subject",
        **{"_revinclude:iterate": "Flag:patient"}))
    assert ids(bundle, "include") == {ref(world.patient), ref(world.flag),
                                      ref(world.submitter_flag)}


@pytest.mark.parametrize(("role", "found"), [
    ("agreement-flag-only", False),  # sees F, but not P: the chain must not probe P's name
    ("involved-referral", True),
    ("neither", False),
    ("break-glass", True),
])
def test_chained_search_cannot_probe_hidden_patients(world: World, role: str,
                                                     found: bool) -> None:
    who, reason = world.who(role)
    chained = searched(who.get("/Flag", break_glass=reason, identifier=world.tag,
                               **{"patient.family": world.family}))
    want = {ref(world.flag), ref(world.submitter_flag)} if found else set()
    assert chained["total"] == len(want) and ids(chained) == want
    if role == "agreement-flag-only":  # the Flag itself is visible without the chain
        direct = searched(who.get("/Flag", identifier=world.tag, patient=ref(world.patient)))
        assert ids(direct) == {ref(world.flag)}


@pytest.mark.parametrize(("role", "found"), [
    ("agreement-not-covering-flag", False),  # sees P, not F: _has must not reveal F
    ("agreement-flag-only", False),  # sees F, not P
    ("involved-referral", True),
    ("author", True),
    ("neither", False),
])
def test_has_search_cannot_probe_hidden_records(world: World, role: str, found: bool) -> None:
    who, reason = world.who(role)
    probe = {"_has:Flag:patient:identifier": f"{TAG_SYSTEM}|{world.secret}"}
    bundle = searched(who.get("/Patient", break_glass=reason, **probe))
    want = {ref(world.patient)} if found else set()
    assert bundle["total"] == len(want) and ids(bundle) == want
    counted = searched(who.get("/Patient", _summary="count", **probe))
    assert counted["total"] == len(want)


@pytest.mark.parametrize(("role", "visible"), [
    ("involved-referral", True), ("agreement-flag-only", False), ("neither", False),
])
def test_involvements_and_provenance_are_child_records_too(world: World, role: str,
                                                           visible: bool) -> None:
    who, _ = world.who(role)
    episodes = searched(who.get("/EpisodeOfCare", patient=ref(world.patient)))
    provenance = searched(who.get("/Provenance", target=ref(world.flag)))
    if visible:
        assert episodes["total"] >= 3 and provenance["total"] >= 1
    else:
        assert episodes["total"] == 0 and "entry" not in episodes
        assert provenance["total"] == 0 and "entry" not in provenance


# --- involvement --------------------------------------------------------------------------

def test_writes_open_involvements(world: World) -> None:
    bundle = searched(world.admin.http.get("/EpisodeOfCare", params={
        "patient": ref(world.patient), "_count": 100}))
    seen: dict[str, list[tuple[str, str]]] = {}
    for entry in bundle["entry"]:
        episode = entry["resource"]
        kind = episode["type"][0]["coding"][0]["code"]
        seen.setdefault(episode["managingOrganization"]["reference"], []).append(
            (episode["status"], kind))
    org = {name: a.org for name, a in world.agency.items()}
    assert seen[org["author"]] == [("active", "record-submitter")]  # one, however many writes
    assert seen[org["recipient"]] == [("planned", "referral-recipient")]
    assert seen[org["submitter"]] == [("active", "record-submitter")]
    assert seen[org["finished"]] == [("finished", "referral-recipient")]
    assert seen[org["ended"]] == [("planned", "referral-recipient")]
    for name in ("agreed", "agreed-flag", "stranger", "no-break-glass"):
        assert org[name] not in seen


def test_submitting_about_a_child_opens_access_with_its_provenance(world: World) -> None:
    newcomer = world.agency["newcomer"]
    assert_forbidden(newcomer.get(f"/{ref(world.flag)}"))
    since = now_instant()
    note = created(newcomer.http.post("/Observation", json=observation(
        f"new-{world.tag}", ref(world.patient))))
    episode = involvement_of(newcomer, ref(world.patient))
    assert (episode["status"], episode["type"][0]["coding"][0]["code"]) == (
        "active", "record-submitter")
    read = newcomer.get(f"/{ref(world.flag)}")
    assert read.status_code == 200, read.text
    # the write, the involvement it opened, its Provenance and AuditEvent: one transaction
    provenance = searched(world.admin.http.get("/Provenance", params={"target": ref(note)}))
    assert provenance["total"] == 1
    record = provenance["entry"][0]["resource"]
    assert {t["reference"] for t in record["target"]} == {versioned(note), versioned(episode)}
    assert record["agent"][0]["who"]["reference"] == newcomer.org
    assert record["activity"]["coding"][0]["code"] == "CREATE"
    event = only_event(world.admin.http, newcomer, since, "create")
    assert (event["action"], event["outcome"]) == ("C", "0")
    assert entities(event, "4") == {versioned(note), versioned(episode)}
    assert entities(event, "1") == {ref(world.patient)}
    reading = only_event(world.admin.http, newcomer, since, "read")
    assert policies(reading) == [RULE + "involvement"]


@pytest.mark.parametrize("how", ["status-finished", "period-ended"])
def test_closing_an_involvement_revokes_access(world: World, how: str) -> None:
    author, closer = world.agency["author"], world.agency["closer"]
    kid = created(author.http.post("/Patient", json=child(f"close-{world.tag}", "Closing")))
    concern = created(author.http.post("/Flag", json=flag(world.tag, ref(kid))))
    created(author.http.post("/ServiceRequest", json=referral(world.tag, ref(kid), closer.org)))
    assert closer.get(f"/{ref(concern)}").status_code == 200
    assert searched(closer.get("/Flag", patient=ref(kid)))["total"] == 1
    close_involvement(closer, ref(kid), how)
    assert_forbidden(closer.get(f"/{ref(concern)}"))
    assert_forbidden(closer.get(f"/{ref(kid)}"))
    assert searched(closer.get("/Flag", patient=ref(kid)))["total"] == 0
    assert author.get(f"/{ref(concern)}").status_code == 200
    # the closed involvement is still the closer's own record
    assert searched(closer.get("/EpisodeOfCare", patient=ref(kid)))["total"] == 1


# --- amending -----------------------------------------------------------------------------

def _patch(agency: Agency, resource: Json, path: str, value: Any) -> httpx.Response:
    return agency.http.patch(f"/{ref(resource)}", content=orjson.dumps(
        [{"op": "add", "path": path, "value": value}]),
        headers={"Content-Type": "application/json-patch+json"})


def test_amend_rules(world: World) -> None:
    a, b = world.agency["author"], world.agency["recipient"]
    submitter, stranger = world.agency["submitter"], world.agency["stranger"]
    fresh = world.fresh("ServiceRequest")
    # the referral's performer may update and patch it; the record stays the author's
    response = b.http.put(f"/{ref(fresh)}", json={**world.current(fresh), "status": "on-hold"})
    assert response.status_code == 200, response.text
    patched = _patch(b, fresh, "/note", [{"text": "accepted"}])
    assert patched.status_code == 200, patched.text
    assert patched.json()["meta"]["versionId"] == "3"
    assert _patch(a, fresh, "/priority", "urgent").status_code == 200
    # an involved agency that is not the performer may read but not amend it
    assert submitter.get(f"/{ref(fresh)}").status_code == 200
    assert_forbidden(_patch(submitter, fresh, "/priority", "stat"))
    assert_forbidden(submitter.http.put(f"/{ref(fresh)}", json=world.current(fresh)))
    # the performer may amend the referral, not the author's other records
    assert b.get(f"/{ref(world.flag)}").status_code == 200
    assert_forbidden(_patch(b, world.flag, "/status", "inactive"))
    # an agency that may not even read it gets 403 too (not 404)
    assert_forbidden(_patch(stranger, world.flag, "/status", "inactive"))
    # nobody closes another agency's involvement
    episode = involvement_of(b, ref(world.patient))
    closed = {**episode, "status": "finished",
              "period": {**episode["period"], "end": date.today().isoformat()}}
    assert_forbidden(a.http.put(f"/{ref(episode)}", json=closed))
    assert world.current(episode)["status"] == "planned"
    # the operator may amend anything
    assert _patch(world.admin, world.flag, "/language", "en").status_code == 200


def test_performer_may_update_but_not_delete_a_referral(world: World) -> None:
    """Only updating is granted to the performer; deleting the referrer's record is not."""
    fresh = world.fresh("ServiceRequest")
    response = world.agency["recipient"].http.delete(f"/{ref(fresh)}")
    assert_forbidden(response)
    assert world.admin.http.get(f"/{ref(fresh)}").status_code == 200


def test_an_agency_that_may_not_amend_gets_403_whatever_the_body(world: World) -> None:
    """Authorisation comes before validation: a stranger's invalid update is refused as such."""
    invalid = {**world.current(world.flag), "status": "not-a-status"}
    assert_forbidden(world.agency["stranger"].http.put(f"/{ref(world.flag)}", json=invalid))
    assert_forbidden(world.agency["recipient"].http.put(f"/{ref(world.flag)}", json=invalid))


@pytest.mark.parametrize("probe", ["conditional-delete", "conditional-delete-by-chain",
                                   "conditional-create", "conditional-update"])
def test_conditional_interactions_cannot_probe_hidden_records(world: World, probe: str) -> None:
    """A conditional write's search sees only what the caller may read: a hidden match must
    answer exactly as no match does, or the status becomes an existence oracle."""
    prober = world.agency["prober"]
    assert_forbidden(prober.get(f"/{ref(world.flag)}"))
    before = world.current(world.flag)["meta"]["versionId"]

    def attempt(exists: bool) -> httpx.Response:
        identifier = f"{TAG_SYSTEM}|{world.secret if exists else 'absent-' + world.tag}"
        body = flag(f"probe-{world.tag}", f"Patient/nobody-{world.tag}")
        if probe == "conditional-delete":
            return prober.http.delete("/Flag", params={"identifier": identifier})
        if probe == "conditional-delete-by-chain":
            family = world.family if exists else f"Nobody{world.tag}"
            return prober.http.delete("/Flag", params={"patient.family": family})
        if probe == "conditional-create":
            return prober.http.post("/Flag", json=body,
                                    headers={"If-None-Exist": f"identifier={identifier}"})
        return prober.http.put("/Flag", params={"identifier": identifier}, json=body)

    on_absent, on_hidden = attempt(False), attempt(True)
    assert on_absent.status_code < 300, on_absent.text
    assert on_hidden.status_code == on_absent.status_code, on_hidden.text
    assert world.current(world.flag)["meta"]["versionId"] == before


def test_batch_entries_follow_the_same_rules(world: World) -> None:
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": ref(world.flag)}},
        {"request": {"method": "GET", "url": f"Flag?_id={world.flag['id']}"}},
        {"request": {"method": "GET", "url": ref(world.records["Organization"])}},
        {"request": {"method": "DELETE", "url": ref(world.flag)}},
        {"resource": {**world.current(world.flag), "status": "inactive"},
         "request": {"method": "PUT", "url": ref(world.flag)}}]}
    response = world.agency["stranger"].http.post("", json=batch)
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert [e["response"]["status"][:3] for e in entries] == ["403", "200", "200", "403", "403"]
    assert entries[1]["resource"]["total"] == 0
    assert world.current(world.flag)["status"] == "active"


def test_an_agreement_only_shares_records_of_the_agency_that_made_it(world: World) -> None:
    """A third party cannot grant itself access by writing a Consent naming the author."""
    forger = world.agency["forger"]
    assert_forbidden(forger.get(f"/{ref(world.flag)}"))
    created(forger.http.post("/Consent", json=agreement(
        world.tag, [world.agency["author"].org, forger.org], ["Flag", "Patient"])))
    assert_forbidden(forger.get(f"/{ref(world.flag)}"))
    assert searched(forger.get("/Flag", identifier=world.tag))["total"] == 0


# --- the audit trail ----------------------------------------------------------------------

@pytest.mark.parametrize(("role", "rtype", "rules"), [
    ("author", "Flag", ["author"]),
    ("operator", "Flag", ["operator"]),
    ("involved-referral", "Flag", ["involvement"]),
    ("agreement", "Flag", ["sharing-agreement", "Consent:agreed"]),
    ("agreement-for-child", "Patient", ["sharing-agreement", "Consent:agreed-child"]),
    ("break-glass", "Flag", ["break-glass"]),
    ("neither", "Organization", ["scope"]),
], ids=label)
def test_a_read_leaves_an_audit_event_naming_rule_and_entities(
        world: World, role: str, rtype: str, rules: list[str]) -> None:
    who, reason = world.who(role)
    record = world.records[rtype]
    since = now_instant()
    response = who.get(f"/{ref(record)}", break_glass=reason)
    assert response.status_code == 200, response.text
    event = only_event(world.admin.http, who, since, "read")
    assert (event["action"], event["outcome"]) == ("R", "0")
    want = [ref(world.consents[r.split(":")[1]]) if r.startswith("Consent:") else RULE + r
            for r in rules]
    assert policies(event) == want
    client = event["agent"][0]["who"]["identifier"]
    assert (client["system"], client["value"]) == (
        "https://cradle.example/fhir/Id/client", who.client_id)
    if role != "operator":
        assert event["agent"][1]["who"]["reference"] == who.org
        assert event["agent"][0]["network"]["address"] == who.address
    assert entities(event, "4") == {versioned(response.json())}
    assert entities(event, "1") == (set() if rtype == "Organization" else {ref(world.patient)})
    if reason:
        assert (CRADLE_SUBTYPE, "break-glass") in subtypes(event)
        assert purpose(event) == "BTG"
        details = [d for e in event["entity"] for d in e.get("detail", ())]
        assert details == [{"type": "reason", "valueString": reason}]
    else:
        assert (CRADLE_SUBTYPE, "break-glass") not in subtypes(event)
        assert purpose(event) != "BTG"


@pytest.mark.parametrize("role", ["neither", "break-glass-without-scope",
                                  "agreement-expired", "involvement-finished"])
def test_a_denied_read_leaves_a_failure_audit_event(world: World, role: str) -> None:
    who, reason = world.who(role)
    since = now_instant()
    assert_forbidden(who.get(f"/{ref(world.flag)}", break_glass=reason))
    event = only_event(world.admin.http, who, since, "read")
    assert (event["action"], event["outcome"]) == ("R", "4")
    assert policies(event) == []
    assert entities(event, "4") == set()
    assert ref(world.flag) in event["outcomeDesc"]
    assert event["agent"][1]["who"]["reference"] == who.org
    if reason:  # an attempted break-glass read is flagged as one
        assert (CRADLE_SUBTYPE, "break-glass") in subtypes(event)
        assert purpose(event) == "BTG"


def test_a_search_leaves_an_audit_event_with_its_query_and_results(world: World) -> None:
    who = world.agency["agreed-flag"]
    since = now_instant()
    bundle = searched(who.get("/Flag", identifier=world.tag, patient=ref(world.patient)))
    assert ids(bundle) == {ref(world.flag)}
    event = only_event(world.admin.http, who, since, "search-type")
    assert (event["action"], event["outcome"]) == ("E", "0")
    assert policies(event) == [RULE + "sharing-agreement", ref(world.consents["agreed-flag"])]
    assert entities(event, "4") == {versioned(bundle["entry"][0]["resource"])}
    assert entities(event, "1") == {ref(world.patient)}
    query = query_of(event)
    assert query is not None and f"identifier={world.tag}" in query
    assert "patient=Patient" in query
    # a search that finds nothing visible is audited too, with no entities
    stranger = world.agency["stranger"]
    assert searched(stranger.get("/Flag", identifier=world.tag))["total"] == 0
    empty = only_event(world.admin.http, stranger, since, "search-type")
    assert empty["outcome"] == "0" and entities(empty) == set()


def test_writes_leave_audit_events_and_provenance(world: World) -> None:
    a, admin = world.agency["author"], world.admin.http
    since = now_instant()
    v1 = created(a.http.post("/Flag", json=flag(f"audit-{world.tag}", ref(world.patient))))
    v2 = a.http.put(f"/{ref(v1)}", json={**v1, "status": "inactive"}).json()
    assert v2["meta"]["versionId"] == "2"
    assert a.http.delete(f"/{ref(v1)}").status_code == 204
    expect = {"create": ("C", "CREATE", 1), "update": ("U", "UPDATE", 2),
              "delete": ("D", "DELETE", 3)}
    provenance = searched(admin.get("/Provenance", params={"target": ref(v1)}))
    assert provenance["total"] == 3
    activities = {}
    for entry in provenance["entry"]:
        record = entry["resource"]
        activities[record["activity"]["coding"][0]["code"]] = {
            t["reference"] for t in record["target"]}
        assert record["agent"][0]["who"]["reference"] == a.org
        performer = record["agent"][1]
        assert performer["who"]["identifier"]["value"] == a.client_id
    for interaction, (action, activity, version) in expect.items():
        event = only_event(admin, a, since, interaction)
        assert (event["action"], event["outcome"]) == (action, "0")
        assert entities(event, "4") == {f"{ref(v1)}/_history/{version}"}
        assert entities(event, "1") == {ref(world.patient)}
        assert activities[activity] == {f"{ref(v1)}/_history/{version}"}
        if interaction != "create":
            assert policies(event) == [RULE + "author"]


def test_a_create_names_the_rule_that_allowed_it(world: World) -> None:
    a = world.agency["author"]
    since = now_instant()
    created(a.http.post("/Flag", json=flag(f"rule-{world.tag}", ref(world.patient))))
    event = only_event(world.admin.http, a, since, "create")
    rules = policies(event)
    assert rules, "a create's AuditEvent names no access rule (agent[0].policy is missing)"
    assert all(r.startswith(RULE) for r in rules)


@pytest.mark.parametrize(("role", "rules"), [
    ("author", ["author"]),
    ("involved-referral", ["involvement"]),
    ("agreement", ["sharing-agreement", "Consent:agreed"]),
], ids=label)
def test_break_glass_is_the_rule_only_when_no_other_rule_allows(world: World, role: str,
                                                                 rules: list[str]) -> None:
    """An agency that may read anyway and states a reason is audited under its own rule
    (rules apply in order: author, involvement, sharing agreement, then break-glass)."""
    who, _ = world.who(role)
    since = now_instant()
    assert who.get(f"/{ref(world.flag)}", break_glass=REASON).status_code == 200
    event = only_event(world.admin.http, who, since, "read")
    want = [ref(world.consents[r.split(":")[1]]) if r.startswith("Consent:") else RULE + r
            for r in rules]
    assert policies(event) == want
    assert purpose(event) == "BTG"  # the stated emergency is still on record


def test_auditors_find_events_by_child_agency_and_date(world: World) -> None:
    b = world.agency["recipient"]
    since = now_instant()
    assert b.get(f"/{ref(world.flag)}").status_code == 200
    assert b.get(f"/{ref(world.patient)}").status_code == 200
    admin = world.admin.http
    about_child = searched(admin.get("/AuditEvent", params={
        "entity": ref(world.patient), "agent": b.org, "date": f"ge{since}"}))
    assert about_child["total"] == 2
    by_agency = searched(admin.get("/AuditEvent", params={"agent": b.org, "date": f"ge{since}"}))
    assert by_agency["total"] == 2
    later = searched(admin.get("/AuditEvent", params={"agent": b.org, "date": "ge2099-01-01"}))
    assert later["total"] == 0
    # the audit trail needs its own scope
    assert_forbidden(world.agency["org-only"].get("/AuditEvent", agent=b.org))


@pytest.fixture(scope="module")
def trail(world: World) -> dict[str, Json]:
    """One stored AuditEvent and one Provenance."""
    event = audit_events(world.admin.http, world.agency["author"], "2000-01-01", "create")[0]
    provenance = searched(world.admin.http.get("/Provenance", params={
        "target": ref(world.flag)}))["entry"][0]["resource"]
    return {"AuditEvent": event, "Provenance": provenance}


@pytest.mark.parametrize("who", ["operator", "author"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "conditional-DELETE"])
@pytest.mark.parametrize("rtype", ["AuditEvent", "Provenance"])
def test_the_audit_trail_is_append_only(world: World, trail: dict[str, Json], rtype: str,
                                        method: str, who: str) -> None:
    agency = world.admin if who == "operator" else world.agency[who]
    record = trail[rtype]
    url = f"/{ref(record)}"
    if method == "POST":
        response = agency.http.post(f"/{rtype}", json={k: v for k, v in record.items()
                                                       if k not in ("id", "meta")})
    elif method == "PUT":
        response = agency.http.put(url, json={**record, "language": "en"})
    elif method == "PATCH":
        response = _patch(agency, record, "/language", "en")
    elif method == "DELETE":
        response = agency.http.delete(url)
    else:
        response = agency.http.delete(f"/{rtype}", params={"_id": record["id"]})
    assert response.status_code == 405, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert world.current(record)["meta"]["versionId"] == record["meta"]["versionId"]


def test_the_audit_trail_cannot_be_written_in_a_batch(world: World,
                                                      trail: dict[str, Json]) -> None:
    event = trail["AuditEvent"]
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {k: v for k, v in event.items() if k not in ("id", "meta")},
         "request": {"method": "POST", "url": "AuditEvent"}},
        {"request": {"method": "DELETE", "url": ref(event)}}]}
    response = world.admin.http.post("", json=batch)
    assert response.status_code == 200, response.text
    assert [e["response"]["status"][:3] for e in response.json()["entry"]] == ["405", "405"]
    assert world.current(event)["meta"]["versionId"] == "1"


# --- history ------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/Flag/_history", "/Patient/_history", "/_history"])
@pytest.mark.parametrize("role", ["author", "involved-referral", "operator"])
def test_type_and_system_history_are_for_operators(world: World, path: str, role: str) -> None:
    who, _ = world.who(role)
    response = who.http.get(path, params={"_count": 1})
    if role == "operator":
        assert response.status_code == 200, response.text
        assert response.json()["type"] == "history"
    else:
        assert_forbidden(response)


@pytest.fixture(scope="module")
def moved(world: World) -> Json:
    """A Flag about P (v1), moved to child Q (v2), then back to P (v3)."""
    a = world.agency["author"].http
    first = created(a.post("/Flag", json=flag(f"moved-{world.tag}", ref(world.patient))))
    url = f"/{ref(first)}"
    a.put(url, json={**first, "subject": {"reference": ref(world.other_child)}}).raise_for_status()
    third = a.put(url, json={**first, "status": "inactive"})
    third.raise_for_status()
    body: Json = third.json()
    assert body["meta"]["versionId"] == "3"
    return body


@pytest.mark.parametrize(("role", "versions"), [
    ("author", [3, 2, 1]),
    ("operator", [3, 2, 1]),
    ("involved-referral", [3, 1]),  # involved with P, not with Q
    ("agreement-other-child", [2]),  # the agreement covers Q only
    ("neither", []),
], ids=label)
def test_instance_history_shows_only_readable_versions(world: World, moved: Json, role: str,
                                                       versions: list[int]) -> None:
    who, _ = world.who(role)
    url = f"/{ref(moved)}"
    since = now_instant()
    response = who.http.get(f"{url}/_history")
    if not versions:
        assert_forbidden(response)
    else:
        assert response.status_code == 200, response.text
        history = response.json()
        assert history["total"] == len(versions)
        assert [int(e["resource"]["meta"]["versionId"]) for e in history["entry"]] == versions
        if role != "operator":
            event = only_event(world.admin.http, who, since, "history-instance")
            assert entities(event, "4") == {f"{ref(moved)}/_history/{v}" for v in versions}
    for version in (1, 2, 3):
        vread = who.http.get(f"{url}/_history/{version}")
        if version in versions:
            assert vread.status_code == 200, vread.text
        else:
            assert_forbidden(vread)

