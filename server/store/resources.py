"""Versioned resource storage on MongoDB (async pymongo: this is the hot path).

Three collections:
- `resources` holds the current version of each resource, `_id` = `Type/id` (a tombstone once
  deleted), with its search index document `ix` (absent on tombstones);
- `history` holds every superseded version, `_id` = `Type/id/version`;
- `audit` holds the append-only audit trail (AuditEvents, one version each, never changed),
  written on every request, so it carries only the search-keys index.
A create is one insert; an update or delete moves the current version into `history` and
replaces it, in one multi-document transaction, guarded by the version it replaces. Versions are
never updated in place.
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import orjson
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, PyMongoError

from server.errors import Conflict, Contention, Unavailable
from server.search.lookup import KeyLookup
from server.store.group_commit import GroupCommit
from server.store.model import Candidate, NewVersion, StoredResource

Doc = dict[str, Any]
APPEND_ONLY = frozenset({"AuditEvent"})  # kept in the `audit` collection
CURRENT_FIELDS = {"t": 1, "id": 1, "v": 1, "ts": 1, "del": 1, "body": 1, "m": 1, "own": 1,
                  "sub": 1}
# Every index costs each write about as much as the document itself does on SecantusDB.
# (t, del): type scans use (t, ts); (ts): system history reads (t, ts) type by type.
RETIRED_INDEXES = frozenset({"type_live", "updated"})
CANDIDATE_FIELDS = {"t": 1, "id": 1, "v": 1, "ts": 1, "ix": 1, "del": 1, "own": 1, "sub": 1}


class Transaction:
    """An open multi-document transaction; pass it to store methods to take part in it."""

    def __init__(self, session: AsyncClientSession) -> None:
        self.session = session


def _stored(doc: Doc) -> StoredResource:
    return StoredResource(
        resource_type=doc["t"], id=doc["id"], version_id=doc["v"], last_updated=doc["ts"],
        deleted=doc.get("del", False), body=doc.get("body"), method=doc.get("m", "PUT"),
        owner=doc.get("own"), subjects=_subjects(doc),
    )


def _subjects(doc: Doc) -> tuple[str, ...] | None:
    return tuple(doc["sub"]) if "sub" in doc else None


def _labels(owner: str | None, subjects: Iterable[str] | None) -> Doc:
    labels: Doc = {"own": owner}
    if subjects is not None:
        labels["sub"] = list(subjects)
    return labels


def _current_doc(version: NewVersion) -> Doc:
    doc: Doc = {
        "_id": f"{version.resource_type}/{version.id}", "t": version.resource_type,
        "id": version.id, "v": version.version_id, "ts": version.last_updated,
        "del": version.deleted, "body": version.body, "m": version.method,
        **_labels(version.owner, version.subjects),
    }
    if version.index is not None:
        doc.update(_index_fields(version.index))
    return doc


def _index_fields(index: dict[str, Any]) -> Doc:
    # Only the driver keys are indexed; the full index document is kept as opaque JSON bytes
    # for the search module, which is far cheaper to store than nested BSON.
    rest = dict(index)
    return {"d": rest.pop("d", []), "ix": orjson.dumps(rest)}


class ResourceStore:
    """Versioned FHIR resources in one MongoDB database."""

    def __init__(self, client: AsyncMongoClient[Doc], database: str) -> None:
        self.client = client
        self.db: AsyncDatabase[Doc] = client[database]
        self.current = self.db["resources"]
        self.history = self.db["history"]
        self.audit = self.db["audit"]
        self._appends = GroupCommit(self.audit)

    def _of(self, resource_type: str) -> AsyncCollection[Doc]:
        """The collection holding the current versions of a type."""
        return self.audit if resource_type in APPEND_ONLY else self.current

    @classmethod
    def connect(cls, uri: str, database: str, timeout_ms: int = 5000) -> ResourceStore:
        """Return a store on a new client for `uri` (connections open lazily)."""
        client: AsyncMongoClient[Doc] = AsyncMongoClient(
            uri, serverSelectionTimeoutMS=timeout_ms, tz_aware=True)
        return cls(client, database)

    async def close(self) -> None:
        """Close the client's connections."""
        await self.client.close()

    async def ensure_indexes(self) -> None:
        """Create the indexes every hot path relies on, and drop retired ones (idempotent)."""
        existing = {i["name"] async for i in await self.current.list_indexes()}
        for retired in RETIRED_INDEXES & existing:
            await self.current.drop_index(retired)
        await self.current.create_index([("t", ASCENDING), ("d", ASCENDING)], name="search_keys")
        await self.current.create_index([("t", ASCENDING), ("ts", DESCENDING)], name="type_updated")
        await self.history.create_index(
            [("t", ASCENDING), ("id", ASCENDING), ("v", DESCENDING)], name="instance_versions")
        await self.history.create_index([("t", ASCENDING), ("ts", DESCENDING)], name="type_updated")
        await self.history.create_index([("ts", DESCENDING)], name="updated")
        await self.audit.create_index([("t", ASCENDING), ("d", ASCENDING)], name="search_keys")

    async def conformance_epoch(self) -> int:
        """Return the counter that moves whenever a conformance resource is written."""
        try:
            doc = await self.db["meta"].find_one({"_id": "conformance"})
        except PyMongoError as exc:
            raise Unavailable(f"database unreachable: {type(exc).__name__}") from exc
        return int(doc["epoch"]) if doc else 0

    async def bump_conformance_epoch(self) -> None:
        """Tell every worker that conformance resources changed."""
        await self.db["meta"].update_one({"_id": "conformance"}, {"$inc": {"epoch": 1}},
                                         upsert=True)

    async def ping(self) -> None:
        """Raise `Unavailable` unless the database answers."""
        try:
            await self.client.admin.command("ping")
        except PyMongoError as exc:
            raise Unavailable(f"database unreachable: {type(exc).__name__}") from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Run the block in one multi-document transaction: all its writes commit, or none.

        Raises `Contention` when it collided with a concurrent transaction (run it again).
        """
        try:
            async with self.client.start_session() as session, \
                    await session.start_transaction():
                yield Transaction(session)
        except OperationFailure as exc:
            if exc.has_error_label("TransientTransactionError") or \
                    exc.has_error_label("UnknownTransactionCommitResult"):
                raise Contention("a concurrent transaction got in the way; retry") from exc
            raise

    async def read(self, resource_type: str, id_: str,
                   tx: Transaction | None = None) -> StoredResource | None:
        """Return the current version (possibly a tombstone), or None if it never existed."""
        doc = await self._of(resource_type).find_one(
            {"_id": f"{resource_type}/{id_}"}, CURRENT_FIELDS, session=_session(tx))
        return _stored(doc) if doc else None

    async def vread(self, resource_type: str, id_: str, version_id: int) -> StoredResource | None:
        """Return one version of a resource, or None if there is no such version."""
        current = await self.read(resource_type, id_)
        if current is None or current.version_id < version_id:
            return None
        if current.version_id == version_id:
            return current
        doc = await self.history.find_one({"_id": f"{resource_type}/{id_}/{version_id}"})
        return _stored(doc) if doc else None

    async def write(self, version: NewVersion, previous: StoredResource | None,
                    tx: Transaction | None = None, companions: Sequence[NewVersion] = ()) -> None:
        """Store `version` as the current one, superseding `previous` (None: must not exist),
        and insert the new `companions` (its Provenance, AuditEvent...) with it, atomically.

        Raises `Conflict` when another writer got there first (the resource exists although
        `previous` is None, or its current version is no longer `previous`).
        """
        doc = _current_doc(version)
        try:
            if previous is None and not companions:
                await self._of(version.resource_type).insert_one(doc, session=_session(tx))
                return
            if tx is not None:
                await self._store(doc, previous, companions, tx.session)
                return
            async with self.client.start_session() as session:
                # Our own transaction: pymongo retries it on transient conflicts (concurrent
                # transactions touching the same index keys), then re-checks `previous`.
                await session.with_transaction(
                    lambda own: self._store(doc, previous, companions, own))
        except DuplicateKeyError as exc:
            raise Conflict(
                f"{version.resource_type}/{version.id} was changed by another request; retry"
            ) from exc
        except OperationFailure as exc:
            if exc.has_error_label("TransientTransactionError"):
                raise Contention(
                    f"{version.resource_type}/{version.id} is being changed concurrently; retry"
                ) from exc
            raise

    async def _store(self, doc: Doc, previous: StoredResource | None,
                     companions: Sequence[NewVersion], session: AsyncClientSession) -> None:
        fresh = list(companions)
        if previous is None:  # one round trip for the new resource and its companions
            await self._insert([doc], fresh, session)
        else:
            await self._supersede(doc, previous, session)
            await self._insert([], fresh, session)

    async def _insert(self, docs: list[Doc], versions: Sequence[NewVersion],
                      session: AsyncClientSession) -> None:
        """Insert new documents, one batch per collection."""
        audit = [_current_doc(v) for v in versions if v.resource_type in APPEND_ONLY]
        docs = [*docs, *(_current_doc(v) for v in versions if v.resource_type not in APPEND_ONLY)]
        if docs:
            await self.current.insert_many(docs, ordered=True, session=session)
        if audit:
            await self.audit.insert_many(audit, ordered=True, session=session)

    async def write_all(self, writes: list[tuple[NewVersion, StoredResource | None]],
                        tx: Transaction) -> None:
        """Store several versions inside `tx`: new resources in one batch, then the rest.

        Raises `Conflict` like `write`; the caller's transaction then rolls everything back.
        """
        fresh = [v for v, previous in writes if previous is None]
        try:
            await self._insert([], fresh, tx.session)
            for version, previous in writes:
                if previous is not None:
                    await self._supersede(_current_doc(version), previous, tx.session)
        except (DuplicateKeyError, BulkWriteError) as exc:
            raise Conflict("a resource in the transaction was changed concurrently, or "
                           "already exists; retry") from exc

    async def _supersede(self, doc: Doc, previous: StoredResource,
                         session: AsyncClientSession) -> None:
        old = {
            "_id": f"{previous.reference}/{previous.version_id}", "t": previous.resource_type,
            "id": previous.id, "v": previous.version_id, "ts": previous.last_updated,
            "del": previous.deleted, "body": previous.body, "m": previous.method,
            **_labels(previous.owner, previous.subjects),
        }
        await self.history.insert_one(old, session=session)
        result = await self.current.replace_one(
            {"_id": doc["_id"], "v": previous.version_id}, doc, session=session)
        if result.matched_count != 1:
            raise DuplicateKeyError("current version moved on")

    async def append(self, version: NewVersion) -> None:
        """Insert a new, never-updated resource (an AuditEvent) outside any transaction, in a
        batch shared with concurrent appends; return once it is stored."""
        if version.resource_type not in APPEND_ONLY:
            raise ValueError(f"only {', '.join(sorted(APPEND_ONLY))} records are appended")
        try:
            await self._appends.append(_current_doc(version))
        except PyMongoError as exc:
            raise Unavailable(f"the audit trail could not be written: {type(exc).__name__}") \
                from exc

    async def replace_index(self, resource_type: str, id_: str, version_id: int,
                            index: dict[str, Any]) -> bool:
        """Replace the search index of a current version (derived data, not the resource).

        Returns False if that version is no longer current (a newer write indexed itself).
        """
        result = await self._of(resource_type).update_one(
            {"_id": f"{resource_type}/{id_}", "v": version_id}, {"$set": _index_fields(index)})
        return result.matched_count == 1

    async def read_current(self, refs: Iterable[tuple[str, str]],
                           tx: Transaction | None = None) -> dict[tuple[str, str], StoredResource]:
        """Return the current versions (tombstones included) of the pairs that exist, by pair:
        one round trip per collection, for a transaction planning many writes."""
        wanted = sorted(set(refs))
        found: dict[tuple[str, str], StoredResource] = {}
        for collection in (self.current, self.audit):
            ids = [f"{t}/{i}" for t, i in wanted if self._of(t) is collection]
            if ids:
                docs = collection.find({"_id": {"$in": ids}}, CURRENT_FIELDS,
                                       session=_session(tx))
                async for doc in docs:
                    stored = _stored(doc)
                    found[(stored.resource_type, stored.id)] = stored
        return found

    async def read_many(self, refs: Iterable[tuple[str, str]]) -> list[StoredResource]:
        """Return the current, non-deleted versions of the given (type, id) pairs that exist."""
        wanted = sorted(set(refs))
        found: list[StoredResource] = []
        for collection in (self.current, self.audit):
            ids = [f"{t}/{i}" for t, i in wanted if self._of(t) is collection]
            if ids:
                docs = collection.find({"_id": {"$in": ids}}, CURRENT_FIELDS)
                found += [_stored(d) async for d in docs if not d.get("del")]
        return found

    async def candidates(self, resource_type: str | None,
                         lookup: KeyLookup | None) -> list[Candidate]:
        """Return current, non-deleted resources matching one index-served lookup.

        With no lookup, every live resource of the type (or of all types) is returned.
        """
        query = self.candidates_filter(resource_type, lookup)
        collections = [self._of(resource_type)] if resource_type else [self.current, self.audit]
        return [
            Candidate(d["t"], d["id"], d["v"], d["ts"], orjson.loads(d["ix"]) if "ix" in d else {},
                      d.get("own"), _subjects(d))
            for collection in collections
            async for d in collection.find(query, CANDIDATE_FIELDS) if not d.get("del")
        ]

    async def find(self, resource_type: str, lookup: KeyLookup) -> list[StoredResource]:
        """Return the current, non-deleted resources of a type matching one lookup, with bodies."""
        cursor = self._of(resource_type).find(self.candidates_filter(resource_type, lookup),
                                              CURRENT_FIELDS)
        return [_stored(d) async for d in cursor if not d.get("del")]

    @staticmethod
    def candidates_filter(resource_type: str | None, lookup: KeyLookup | None) -> Doc:
        """The MongoDB filter `candidates` runs: always exactly the fields of one index (but
        `_id` and `_lastUpdated` lookups across all types, which scan)."""
        # Without a lookup, every resource of the type through the (t, ts) index; callers drop
        # tombstones, which costs less than a (t, del) index written with every resource.
        if lookup is not None and lookup.ids:  # the `Type/id` key (type-less: any type)
            if resource_type is None:
                return {"id": {"$in": list(lookup.ids)}}
            return {"_id": {"$in": [f"{resource_type}/{i}" for i in lookup.ids]}}
        query: Doc = {} if resource_type is None else {"t": resource_type}
        if lookup is None:
            return query
        if lookup.keys:
            query["d"] = lookup.keys[0] if len(lookup.keys) == 1 else {"$in": list(lookup.keys)}
        elif lookup.lo is not None:
            query["d"] = {"$gte": lookup.lo, "$lt": lookup.hi}
        else:  # the (t, ts) index (type-less: a scan)
            query["ts"] = {k: v for k, v in (("$gte", lookup.since), ("$lt", lookup.before))
                           if v is not None}
        return query

    async def history_page(self, resource_type: str | None, id_: str | None,
                           since: datetime | None, offset: int,
                           count: int) -> tuple[list[StoredResource], int]:
        """Return one page of versions, newest first, and the total number of versions.

        Scope: one instance (type and id), one type (id None) or the whole system (both None).
        Every query is shaped to one index: (t, id, v) for an instance, (t, ts) else (and (ts)
        in `history`, which is written only on updates).
        """
        order = [("ts", DESCENDING)]  # the (t, ts) and (ts) index order: no in-memory sort
        if id_ is not None:
            versions = [d async for d in self.history.find({"t": resource_type, "id": id_})]
            collection = self._of(resource_type or "")
            current = await collection.find_one({"_id": f"{resource_type}/{id_}"})
            versions += [current] if current else []
            versions = [d for d in versions if since is None or d["ts"] >= since]
            versions.sort(key=lambda d: d["v"], reverse=True)
            return [_stored(d) for d in versions[offset:offset + count]], len(versions)
        query: Doc = {} if resource_type is None else {"t": resource_type}
        if since is not None:
            query["ts"] = {"$gte": since}
        streams = [(self.history, query)]
        if resource_type:
            streams.append((self._of(resource_type), query))
        else:  # current versions through (t, ts), one type at a time; the audit trail scans
            types = sorted(t for t in await self.current.distinct("t") if isinstance(t, str))
            streams += [(self.current, {**query, "t": t}) for t in types]
            streams.append((self.audit, query))
        total = sum([await c.count_documents(q) for c, q in streams])
        limit = offset + count
        if limit == 0:
            return [], total
        newest = [[d async for d in c.find(q).sort(order).limit(limit)] for c, q in streams]
        merged = heapq.merge(*newest, key=lambda d: (d["ts"], d["v"]), reverse=True)
        page = list(merged)[offset:limit]
        return [_stored(d) for d in page], total


def _session(tx: Transaction | None) -> AsyncClientSession | None:
    return tx.session if tx else None
