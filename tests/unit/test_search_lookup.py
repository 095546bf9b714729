"""Driver keys: a lookup on drivers must find a superset of what the full keys match."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from server.search.lookup import driver_form, driver_prefix, drivers
from server.search.normalise import normalise

PARAMS = st.sampled_from(["name", "identifier", "subject", "birthdate", "code", "family="])
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
KEYS = st.one_of(
    st.builds(lambda p, v: f"{p}|{v}", PARAMS, TEXT),
    st.builds(lambda p, s, v: f"{p}|{s}|{v}", PARAMS, TEXT, TEXT),
    st.builds(lambda p, v: f"{p}>{v}", PARAMS, TEXT),
    st.builds(lambda p, v: f"{p}<{v}", PARAMS, TEXT),
    st.builds(lambda p: f"?{p}", PARAMS),
    st.builds(lambda p, v: f"{p}:text|{v}", PARAMS, TEXT),
)


@given(st.lists(KEYS, max_size=8), KEYS)
def test_an_exact_key_lookup_is_a_superset(keys: list[str], key: str) -> None:
    indexed = drivers([*keys, key])
    driver = driver_form(key)
    assert driver is None or driver in indexed


@given(PARAMS, TEXT, st.integers(min_value=0, max_value=12))
def test_a_string_prefix_lookup_is_a_superset(param: str, value: str, cut: int) -> None:
    key = f"{param.rstrip('=')}|{normalise(value)}"
    prefix = key[:len(param) + 1 + cut]
    rename = {"family": "name", "given": "name"}
    driver = driver_prefix(prefix, rename)
    if driver is not None:
        assert any(d.startswith(driver) for d in drivers([key], rename))


def test_forms() -> None:
    assert driver_form("identifier|http://sys|123") == "identifier||123"
    assert driver_form("gender|!|female") == "gender||female"
    assert driver_form("family=|Ödegaard") == "family|odegaard"
    assert driver_form("subject|Patient/1") == "subject|Patient/1"
    assert driver_form("birthdate>2015-01-01T00:00:00.000000Z") is not None
    assert driver_form("birthdate<2015-01-01T00:00:00.000000Z") is None
    assert driver_form("?name") is None
    assert driver_form("active||true") is None
    assert driver_form("family|smith", {"family": "name"}) == "name|smith"
    assert driver_form("birthdate>2015", {"birthdate": "x"}) == "x>2015"


def test_a_parameter_renamed_to_nothing_is_never_driven() -> None:
    rename = {"outcome": "", "patient": "entity"}
    assert driver_form("outcome||4", rename) is None
    assert driver_form("outcome>2026", rename) is None
    assert driver_form("patient|Patient/1", rename) == "entity|Patient/1"
    assert driver_form("agent:identifier|sys|c1", rename) == "agent:identifier||c1"
    assert driver_prefix("outcome|4", rename) is None


def test_audit_events_index_only_their_selective_parameters() -> None:
    from server.definitions import load_r4
    from server.search.registry import SearchParameterRegistry

    rename = SearchParameterRegistry(load_r4()).driver_names("AuditEvent")
    keys = ["outcome||0", "action||R", "entity|Flag/1", "patient|Patient/2", "subtype||read",
            "agent|Organization/A", "date>2026-11-25T10:00:00.000000Z", "type||rest"]
    assert drivers(keys, rename) == ["agent|Organization/A", "date>2026-11-25T10:00:00.000000Z",
                                     "entity|Flag/1", "entity|Patient/2", "subtype||read"]


def test_a_reference_narrowed_to_one_type_is_driven_by_the_wider_one() -> None:
    from server.definitions import load_r4
    from server.search.registry import SearchParameterRegistry

    registry = SearchParameterRegistry(load_r4())
    for resource_type, wider in (("Observation", "subject"), ("Flag", "subject"),
                                 ("ServiceRequest", "subject"), ("Provenance", "target")):
        rename = registry.driver_names(resource_type)
        assert driver_form("patient|Patient/1", rename) == f"{wider}|Patient/1", resource_type
        assert driver_form("patient:identifier|s|9", rename) == f"{wider}:identifier||9"
    # Patient.link.other is not narrowed: its parameter stays its own driver.
    assert driver_form("link|Patient/1", registry.driver_names("Patient")) == "link|Patient/1"


def test_what_every_agency_record_writes_indexes_only_selective_values() -> None:
    from server.definitions import load_r4
    from server.search.registry import SearchParameterRegistry

    registry = SearchParameterRegistry(load_r4())
    patient = ["gender||male", "_profile|https://x/Child", "identifier||9434765919",
               "name|smith", "birthdate>2010-01-01T00:00:00.000000Z"]
    assert drivers(patient, registry.driver_names("Patient")) == [
        "birthdate>2010-01-01T00:00:00.000000Z", "identifier||9434765919", "name|smith"]
    involvement = ["status||active", "type||record-submitter", "patient|Patient/1",
                   "organization|Organization/o"]
    assert drivers(involvement, registry.driver_names("EpisodeOfCare")) == [
        "organization|Organization/o", "patient|Patient/1"]


def test_an_observation_code_is_driven_by_its_combo_code() -> None:
    from server.definitions import load_r4
    from server.search.registry import SearchParameterRegistry

    rename = SearchParameterRegistry(load_r4()).driver_names("Observation")
    assert driver_form("code||619", rename) == "combo-code||619"
    assert drivers(["code||619", "combo-code||619", "performer|Organization/o"], rename) == [
        "combo-code||619"]
