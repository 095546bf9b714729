"""What authentication and the audit trail cost: create and read throughput with auth on and
off, beside the raw pymongo limit, in one run.

    python bench/auth_bench.py [--seconds 5] [--workers 2] [--agency la-201]

Starts its own embedded SecantusDB and two `cradle serve` on it, each with its own database:
- auth on: every request carries a Bearer token minted for an agency (what
  `cradle token --agency A` prints: signed with the server's key); every request is
  authorized and audited (creates store their Provenance, AuditEvent and the agency's
  involvement in the write's transaction; reads group-commit their AuditEvent);
- auth off (`CRADLE_AUTH=false`): no token, no access rules, no audit.
Reads are of records the reading agency created (the common case: the author reads its own).
Measures create and read at concurrency 1 and 16 (p50/p99 latency) on each, interleaved so that
neither server gets the warmer machine, plus pymongo insert_one / find_one on the same database
server; prints auth-on / auth-off (targets: creates >= 70%, reads >= 50%) and the ratios to raw.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.api_bench import PATIENT, Result, patient, run
from bench.http_load import Pool
from server.config import Settings
from server.interactions.admin import signing_key
from server.security.scopes import Scopes
from server.security.tokens import TokenService
from server.store import ResourceStore
from server.store.embedded import EmbeddedDatabase, free_port

TARGETS = {"create": 0.70, "read": 0.50}
CONCURRENCY = (1, 16)
MINIMAL = {"Prefer": "return=minimal"}


async def raw_limits(uri: str, seconds: float) -> dict[str, Result]:
    """pymongo insert_one / find_one of the bench Patient, at concurrency 1 and 16; and the
    floor of an audited create: the resource and three companions (involvement, Provenance,
    AuditEvent) inserted in one transaction."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    coll = client["bench_auth_raw"]["patients"]
    others = client["bench_auth_raw"]["companions"]
    await coll.drop()
    await others.drop()
    await others.insert_one({"_id": "created-before-the-transactions"})
    body = orjson.dumps(PATIENT)
    ids: list[str] = []

    async def transaction(_: int) -> int:
        async with client.start_session() as session, await session.start_transaction():
            await coll.insert_one({"_id": uuid.uuid4().hex, "body": body}, session=session)
            await others.insert_many([{"_id": uuid.uuid4().hex, "body": body}
                                      for _ in range(3)], session=session)
        return 1

    async def insert(_: int) -> int:
        key = uuid.uuid4().hex
        ids.append(key)
        await coll.insert_one({"_id": key, "body": body})
        return 1

    async def find(n: int) -> int:
        await coll.find_one({"_id": ids[n % len(ids)]})
        return 1

    results = {}
    for c in CONCURRENCY:
        results[f"create c{c}"] = await run(f"pymongo insert_one c{c}", insert, c, seconds)
        results[f"read c{c}"] = await run(f"pymongo find_one c{c}", find, c, seconds)
        results[f"txn c{c}"] = await run(f"pymongo txn 1+3 inserts c{c}", transaction, c,
                                         seconds)
    await client.close()
    return results


@dataclass
class Server:
    """One `cradle serve` and how the bench talks to it."""

    label: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    headers: dict[str, str] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    answered: int = 0  # requests answered 2xx, warm-up included

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(label: str, uri: str, database: str, workers: int, data_dir: Path,
                 auth: bool, enforce_profiles: bool = False) -> Server:
    """Start `cradle serve` on a free port and wait until it is ready (profile enforcement
    off by default: these benches measure security, not validation)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRADLE_")}
    env.update({"CRADLE_LOG_LEVEL": "warning",
                "CRADLE_ENFORCE_PROFILES": "true" if enforce_profiles else "false",
                "CRADLE_DATABASE": database, "CRADLE_AUTH": "true" if auth else "false",
                "CRADLE_RATE_LIMIT": "1000000/minute"})
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--mongo-uri", uri,
         "--workers", str(workers), "--data-dir", str(data_dir)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Server(label, port, data_dir, process)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"cradle serve ({label}) exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise SystemExit(f"cradle serve ({label}) did not start")


def agency_token(data_dir: Path, agency: str) -> str:
    """What `cradle token --data-dir D --agency A --ttl 3600` prints."""
    reference = agency if agency.startswith("Organization/") else f"Organization/{agency}"
    service = TokenService(signing_key(Settings(data_dir=data_dir)), ttl=3600)
    token, _ = service.issue(f"cli:{reference}", reference, Scopes.parse("system/*.cruds"))
    return token


def operations(server: Server, http: Pool) -> dict[str, Callable[[int], Awaitable[int]]]:
    async def create(_: int) -> int:
        reply = await http.request("POST", "/fhir/Patient", orjson.dumps(patient("Bench")),
                                   {**MINIMAL, **server.headers})
        assert reply.status == 201, reply.body[:500]
        server.answered += 1
        server.ids.append(reply.headers["location"].split("/")[-3])
        return 1

    async def read(n: int) -> int:
        reply = await http.request("GET", f"/fhir/Patient/{server.ids[n % len(server.ids)]}",
                                   b"", server.headers)
        assert reply.status == 200, reply.body[:500]
        server.answered += 1
        return 1

    return {"create": create, "read": read}


async def measure(servers: list[Server], seconds: float) -> dict[tuple[str, str], Result]:
    """Warm both servers up, then run each measure on each server in turn.

    Every measure opens its own connections: a kept-alive connection left idle while the other
    server is measured would be closed by uvicorn (5 s keep-alive timeout) under the client.
    """

    async def measured(server: Server, kind: str, concurrency: int, name: str,
                       duration: float) -> Result:
        http = Pool("127.0.0.1", server.port, concurrency)
        try:
            return await run(name, operations(server, http)[kind], concurrency, duration)
        finally:
            await http.close()

    for server in servers:  # warm-up: connections, caches, the first records to read
        for kind in ("create", "read"):
            await measured(server, kind, 4, "warm-up", min(1.0, seconds))
    results: dict[tuple[str, str], Result] = {}
    for c in CONCURRENCY:
        for kind in ("create", "read"):
            for server in servers:
                results[server.label, f"{kind} c{c}"] = await measured(
                    server, kind, c, f"Cradle {kind} c{c} auth {server.label}", seconds)
    return results


def audit_count(server: Server) -> int:
    """AuditEvents stored by the auth-on server (read as the operator)."""
    token = TokenService(signing_key(Settings(data_dir=server.data_dir))).issue(
        "cli:operator", None, Scopes.parse("system/*.cruds"), operator=True,
        purpose="HOPERAT")[0]
    response = httpx.get(f"http://127.0.0.1:{server.port}/fhir/AuditEvent",
                         params={"_summary": "count"},
                         headers={"Authorization": f"Bearer {token}"}, timeout=60)
    response.raise_for_status()
    return int(response.json()["total"])


async def database_ceiling(uri: str, seconds: float) -> dict[tuple[str, str], Result]:
    """The same work done by pymongo alone, with the documents Cradle stored and its indexes:
    what the database allows for an audited create or read relative to an unaudited one.

    create off: insert the Patient document; create on: in one transaction, the Patient, the
    involvement and Provenance (`resources`) and the AuditEvent (`audit`). read off: find_one;
    read on: find_one, then insert the read's AuditEvent (Cradle shares that insert between
    concurrent reads; here each read pays its own).
    """
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    on_db, off_db = client["bench_auth_on"], client["bench_auth_off"]

    async def sample(collection: Any, query: dict[str, Any]) -> dict[str, Any]:
        doc = await collection.find_one(query)
        assert doc is not None, query
        return dict(doc)

    shapes = {
        "off": [await sample(off_db["resources"], {"t": "Patient"})],
        "on": [await sample(on_db["resources"], {"t": t}) for t in
               ("Patient", "EpisodeOfCare", "Provenance")],
    }
    audit_create = await sample(on_db["audit"], {"d": "subtype||create"})
    audit_read = await sample(on_db["audit"], {"d": "subtype||read"})
    results: dict[tuple[str, str], Result] = {}
    for label in ("off", "on"):
        store = ResourceStore(client, f"bench_ceiling_{label}")
        await store.ensure_indexes()
        ids: list[str] = []

        def fresh(doc: dict[str, Any]) -> dict[str, Any]:
            return {**doc, "_id": uuid.uuid4().hex}

        async def create(_: int, store: ResourceStore = store, label: str = label,
                         ids: list[str] = ids) -> int:
            docs = [fresh(d) for d in shapes[label]]
            ids.append(docs[0]["_id"])
            if label == "off":
                await store.current.insert_one(docs[0])
                return 1
            async with client.start_session() as session, await session.start_transaction():
                await store.current.insert_many(docs, session=session)
                await store.audit.insert_one(fresh(audit_create), session=session)
            return 1

        async def read(n: int, store: ResourceStore = store, label: str = label,
                       ids: list[str] = ids) -> int:
            await store.current.find_one({"_id": ids[n % len(ids)]})
            if label == "on":
                await store.audit.insert_one(fresh(audit_read))
            return 1

        for c in CONCURRENCY:
            results[label, f"create c{c}"] = await run(
                f"pymongo as Cradle create c{c} {label}", create, c, seconds)
            results[label, f"read c{c}"] = await run(
                f"pymongo as Cradle read c{c} {label}", read, c, seconds)
    await client.close()
    return results


def report_ceiling(ceiling: dict[tuple[str, str], Result],
                   ours: dict[tuple[str, str], Result]) -> None:
    """Print the database's own on/off ratio beside Cradle's."""
    print(f"\n{'same documents, pymongo only':34} {'off/s':>8} {'on/s':>8} {'DB on/off':>10}"
          f" {'Cradle on/off':>14} {'Cradle/DB':>10}")
    for key in sorted({k for _, k in ceiling}):
        off, on = ceiling["off", key], ceiling["on", key]
        db_ratio = on.rate / off.rate
        cradle_ratio = ours["on", key].rate / ours["off", key].rate
        print(f"{key:34} {off.rate:8.0f} {on.rate:8.0f} {db_ratio:10.0%} {cradle_ratio:14.0%}"
              f" {cradle_ratio / db_ratio:10.0%}")


def report(raw: dict[str, Result], ours: dict[tuple[str, str], Result]) -> list[str]:
    """Print the table; return the measures that missed their target."""
    print(f"\n{'measure':34} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8}  "
          f"{'on/off':>7} {'target':>7}  ratio to raw")
    for result in raw.values():
        print(f"{result.name:34} {result.rate:8.0f} {result.p50:8.2f} {result.p99:8.2f}")
    misses = []
    for key in (k for k in raw if not k.startswith("txn")):
        kind = key.split()[0]
        off, on = ours["off", key], ours["on", key]
        ratio = on.rate / off.rate
        verdict = "ok" if ratio >= TARGETS[kind] else "MISSED"
        if verdict != "ok":
            misses.append(f"{key}: {ratio:.0%} < {TARGETS[kind]:.0%}")
        limit, txn = raw[key], raw[key.replace(kind, "txn")]
        for result, compared in ((off, ""), (on, f"{ratio:7.0%} {TARGETS[kind]:>5.0%} "
                                                  f"{verdict}")):
            extra = (f"; {result.rate / txn.rate:4.0%} of {txn.name}"
                     if kind == "create" and result is on else "")
            print(f"{result.name:34} {result.rate:8.0f} {result.p50:8.2f} {result.p99:8.2f}  "
                  f"{compared:<17} {result.rate / limit.rate:4.0%} of {limit.name}{extra}")
    return misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per measure")
    parser.add_argument("--workers", type=int, default=2, help="per server")
    parser.add_argument("--agency", default="la-201", help="the agency the auth-on run acts for")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedDatabase(Path(tmp) / "db") as db:
        raw = asyncio.run(raw_limits(db.uri, args.seconds))
        servers: list[Server] = []
        try:
            servers.append(start_server("off", db.uri, "bench_auth_off", args.workers,
                                        Path(tmp) / "off", auth=False))
            on = start_server("on", db.uri, "bench_auth_on", args.workers, Path(tmp) / "on",
                              auth=True)
            servers.append(on)
            on.headers = {"Authorization": f"Bearer {agency_token(on.data_dir, args.agency)}"}
            ours = asyncio.run(measure(servers, args.seconds))
            audited = audit_count(on)
        finally:
            for server in servers:
                server.stop()
        ceiling = asyncio.run(database_ceiling(db.uri, args.seconds))
    print(f"machine: {os.cpu_count()} cores; server workers: {args.workers} per server; "
          f"{args.seconds:g} s per measure; 2.4 KB Patient; auth-on as Organization/"
          f"{args.agency.removeprefix('Organization/')} reading its own records")
    # the operator's own count query may or may not be in the count
    verdict = "ok" if audited >= on.answered else "AUDIT EVENTS MISSING"
    print(f"auth on: {audited} AuditEvents stored for {on.answered} requests answered 2xx "
          f"(warm-up included): {verdict}")
    misses = report(raw, ours)
    report_ceiling(ceiling, ours)
    print("\ntargets met" if not misses else "\ntargets missed: " + "; ".join(misses))


if __name__ == "__main__":
    main()
