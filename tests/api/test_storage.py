"""The storage model: versions kept, and hot paths served by indexes (explain())."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from server.config import Settings
from server.search.lookup import KeyLookup
from server.store import ResourceStore
from tests.builders import patient


def winning_stages(plan: dict[str, Any]) -> list[str]:
    stages, node = [], plan["queryPlanner"]["winningPlan"]
    while node:
        stages.append(node["stage"])
        node = node.get("inputStage")
    return stages


@pytest.fixture()
def db(settings: Settings) -> Any:
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri)
    yield client[settings.database]
    client.close()


def test_hot_paths_use_indexes(client: httpx.Client, db: Any, tag: str) -> None:
    created = client.post("/Patient", json=patient(tag)).json()
    client.put(f"/Patient/{created['id']}", json={**created, "gender": "male"})
    plans = {
        "read": db.resources.find({"_id": f"Patient/{created['id']}"}).explain(),
        "vread": db.history.find({"_id": f"Patient/{created['id']}/1"}).explain(),
        "search by key": db.resources.find(ResourceStore.candidates_filter(
            "Patient", KeyLookup(keys=(f"identifier||{tag}",)))).explain(),
        "search by prefix": db.resources.find(ResourceStore.candidates_filter(
            "Patient", KeyLookup.prefix("name|smi"))).explain(),
        "type scan": db.resources.find(ResourceStore.candidates_filter("Patient", None)).explain(),
        "search by _id": db.resources.find(ResourceStore.candidates_filter(
            "Patient", KeyLookup(ids=(created["id"], "other")))).explain(),
        "search by _lastUpdated": db.resources.find(ResourceStore.candidates_filter(
            "Patient", KeyLookup(since=datetime(2020, 1, 1, tzinfo=UTC)))).explain(),
        "instance history": db.history.find({"t": "Patient", "id": created["id"]}).explain(),
        "type history": db.history.find({"t": "Patient"}).sort("ts", -1).limit(20).explain(),
        "type history since": db.resources.find(
            {"t": "Patient", "ts": {"$gte": datetime(2020, 1, 1, tzinfo=UTC)}}).explain(),
    }
    # Each index is paid for by every write: adding one is a decision, not a side effect.
    assert sorted(i["name"] for i in db.resources.list_indexes()) == [
        "_id_", "search_keys", "type_updated"]
    for name, plan in plans.items():
        stages = winning_stages(plan)
        assert "COLLSCAN" not in stages, (name, stages)
        assert any(s in ("IXSCAN", "IDHACK", "EXPRESS_IXSCAN") for s in stages), (name, stages)


def test_every_version_is_kept(client: httpx.Client, db: Any, tag: str) -> None:
    created = client.post("/Patient", json=patient(tag)).json()
    for gender in ("male", "other"):
        client.put(f"/Patient/{created['id']}", json={**created, "gender": gender})
    current = db.resources.find_one({"_id": f"Patient/{created['id']}"})
    assert current["v"] == 3
    old = sorted(d["v"] for d in db.history.find({"t": "Patient", "id": created["id"]}))
    assert old == [1, 2]


def test_the_audit_trail_is_kept_apart_with_one_index(client: httpx.Client, db: Any,
                                                      tag: str) -> None:
    created = client.post("/Patient", json=patient(tag)).json()
    assert client.get(f"/Patient/{created['id']}").status_code == 200
    entity = f"entity|Patient/{created['id']}"
    events = list(db.audit.find({"t": "AuditEvent", "d": entity}))
    assert len(events) == 2  # the create (in its transaction) and the read
    assert db.resources.count_documents({"t": "AuditEvent"}) == 0
    assert sorted(i["name"] for i in db.audit.list_indexes()) == ["_id_", "search_keys"]
    plan = db.audit.find(ResourceStore.candidates_filter(
        "AuditEvent", KeyLookup(keys=(entity,)))).explain()
    assert "COLLSCAN" not in winning_stages(plan)
    found = client.get("/AuditEvent", params={"entity": f"Patient/{created['id']}"}).json()
    assert found["total"] == 2  # a search's own AuditEvent is stored after it has looked
