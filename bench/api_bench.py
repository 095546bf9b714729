"""Cradle throughput and latency beside the raw limits of its stack, in one run.

    python bench/api_bench.py [--seconds 5] [--workers 2]

Starts its own embedded SecantusDB and a `cradle serve` against it, then measures:
- raw: pymongo insert_one / find_one on the same database, fhir.resources parse+validate;
- Cradle over HTTP: create, read and search at concurrency 1 and 16 (p50/p99 latency),
  and transaction-bundle ingest (100-entry bundles) in resources/s;
and prints every Cradle figure as a ratio of the raw limit it stands on.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.http_load import Pool
from server.definitions import load_r4
from server.fhir.instant import now
from server.search.index import SearchIndexer
from server.search.registry import SearchParameterRegistry
from server.store import NewVersion, ResourceStore
from server.store.embedded import EmbeddedDatabase, free_port

PATIENT: dict[str, Any] = orjson.loads((Path(__file__).parent / "patient.json").read_bytes())


def patient(family: str) -> dict[str, Any]:
    body = dict(PATIENT)
    body["name"] = [{**PATIENT["name"][0], "family": family}]
    body["identifier"] = [{"system": "https://cradle.example/fhir/Id/bench",
                           "value": uuid.uuid4().hex}]
    return body


class Result:
    def __init__(self, name: str, latencies: list[float], elapsed: float, units: int) -> None:
        self.name, self.elapsed, self.units = name, elapsed, units
        ordered = sorted(latencies)
        self.p50 = statistics.median(ordered) * 1000 if ordered else 0.0
        self.p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000 if ordered else 0.0

    @property
    def rate(self) -> float:
        return self.units / self.elapsed


async def run(name: str, op: Callable[[int], Awaitable[int]], concurrency: int,
              seconds: float) -> Result:
    """Run `op` from `concurrency` tasks for `seconds`; op returns how many units it did."""
    latencies: list[float] = []
    units = 0
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        nonlocal units
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            done = await op(next(counter))  # not `units += await ...`: that loses updates
            units += done
            latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(name, latencies, time.perf_counter() - started, units)


async def raw_limits(uri: str, seconds: float) -> dict[str, Result]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    coll = client["bench_raw"]["patients"]
    await coll.drop()
    await coll.create_index("family")
    body = orjson.dumps(PATIENT)
    results: dict[str, Result] = {}
    ids: list[str] = []

    async def insert(_: int) -> int:
        key = uuid.uuid4().hex
        ids.append(key)
        await coll.insert_one({"_id": key, "family": "x", "body": body})
        return 1

    async def find(n: int) -> int:
        await coll.find_one({"_id": ids[n % len(ids)]})
        return 1

    for c in (1, 16):
        results[f"insert c{c}"] = await run(f"pymongo insert_one c{c}", insert, c, seconds)
        results[f"find c{c}"] = await run(f"pymongo find_one c{c}", find, c, seconds)
    await client.close()
    results.update(await raw_indexed_insert(uri, seconds))
    return results


async def raw_indexed_insert(uri: str, seconds: float) -> dict[str, Result]:
    """insert_one of the very document Cradle stores (body + indexed search keys), prebuilt.

    This is the database's own limit for a searchable create: each indexed key is an index
    entry to write, whatever the server above it does.
    """
    definitions = load_r4()
    indexer = SearchIndexer(SearchParameterRegistry(definitions))
    store = ResourceStore.connect(uri, "bench_raw_store")
    await store.ensure_indexes()
    versions = []
    for _ in range(int(seconds * 3000)):
        body = {**PATIENT, "id": str(uuid.uuid4())}
        versions.append(NewVersion("Patient", body["id"], 1, now(), orjson.dumps(body),
                                   indexer.build_index(body), "POST"))
    keys = len(versions[0].index["d"]) if versions[0].index else 0
    todo = iter(versions)

    async def insert(_: int) -> int:
        await store.write(next(todo), None)
        return 1

    async def insert_batch(_: int) -> int:
        batch = [(next(todo), None) for _ in range(100)]
        async with store.transaction() as tx:
            await store.write_all(batch, tx)
        return 100

    results = {f"indexed insert c{c}": await run(
        f"pymongo insert_one, Cradle doc ({keys} keys) c{c}", insert, c, seconds)
        for c in (1, 16)}
    results["indexed batch c1"] = await run(
        "pymongo insert_many x100 in a txn, Cradle doc", insert_batch, 1, seconds)
    await store.close()
    return results


def fhir_resources_limit(seconds: float) -> Result:
    from fhir.resources.R4B.patient import Patient

    raw = orjson.dumps(PATIENT)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        Patient.model_validate_json(raw)
        n += 1
    return Result("fhir.resources parse+validate", [], time.perf_counter() - start, n)


async def cradle(port: int, seconds: float) -> dict[str, Result]:
    http = Pool("127.0.0.1", port, 16)
    results: dict[str, Result] = {}
    ids: list[str] = []
    search_family = uuid.uuid4().hex[:10]
    for _ in range(10):
        await http.request("POST", "/fhir/Patient", orjson.dumps(patient(search_family)))
    minimal = {"Prefer": "return=minimal"}

    async def create(_: int) -> int:
        reply = await http.request("POST", "/fhir/Patient", orjson.dumps(patient("Bench")),
                                   minimal)
        assert reply.status == 201, reply.body
        ids.append(reply.headers["location"].split("/")[-3])
        return 1

    async def read(n: int) -> int:
        reply = await http.request("GET", f"/fhir/Patient/{ids[n % len(ids)]}")
        assert reply.status == 200
        return 1

    async def search(_: int) -> int:
        reply = await http.request("GET", f"/fhir/Patient?family={search_family}")
        assert len(orjson.loads(reply.body)["entry"]) == 10
        return 1

    async def ingest(_: int) -> int:
        entries = [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": patient("Bulk"),
                    "request": {"method": "POST", "url": "Patient"}} for _ in range(100)]
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        reply = await http.request("POST", "/fhir", orjson.dumps(bundle), minimal)
        assert reply.status == 200, reply.body[:500]
        return 100

    for c in (1, 16):
        results[f"create c{c}"] = await run(f"Cradle create c{c}", create, c, seconds)
        results[f"read c{c}"] = await run(f"Cradle read c{c}", read, c, seconds)
        results[f"search c{c}"] = await run(f"Cradle search c{c} (10 hits)", search, c, seconds)
    results["ingest c1"] = await run("Cradle transaction ingest c1", ingest, 1, seconds)
    results["ingest c4"] = await run("Cradle transaction ingest c4", ingest, 4, seconds)
    await http.close()
    return results


def start_server(uri: str, port: int, workers: int, data_dir: Path) -> subprocess.Popen[bytes]:
    # Base R4 throughput: the bench Patient is not a Child (bench/profile_bench.py measures that).
    # Auth off: this is the plain FHIR API (bench/auth_bench.py measures auth and audit).
    env = {**os.environ, "CRADLE_LOG_LEVEL": "warning", "CRADLE_ENFORCE_PROFILES": "false",
           "CRADLE_AUTH": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--mongo-uri", uri,
         "--workers", str(workers), "--data-dir", str(data_dir)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("cradle serve did not start")


def report(raw: dict[str, Result], fhir_limit: Result, ours: dict[str, Result]) -> None:
    print(f"\n{'measure':44} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8}  ratio to raw limit")
    for result in (*raw.values(), fhir_limit):
        print(f"{result.name:44} {result.rate:9.0f} {result.p50:8.2f} {result.p99:8.2f}")
    limits = {"create": ("insert", "indexed insert"), "read": ("find",),
              "ingest": ("insert", "indexed batch")}
    for key, result in ours.items():
        kind, conc = key.split()
        conc = "c1" if kind == "ingest" else conc
        ratios = [f"{result.rate / raw[f'{limit} {conc}'].rate:4.0%} of {limit} {conc}"
                  for limit in limits.get(kind, ())]
        print(f"{result.name:44} {result.rate:9.0f} {result.p50:8.2f} {result.p99:8.2f}  "
              f"{'; '.join(ratios)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedDatabase(Path(tmp) / "db") as db:
        raw = asyncio.run(raw_limits(db.uri, args.seconds))
        fhir_limit = fhir_resources_limit(args.seconds)
        port = free_port()
        server = start_server(db.uri, port, args.workers, Path(tmp))
        try:
            ours = asyncio.run(cradle(port, args.seconds))
        finally:
            server.terminate()
            server.wait(30)
    print(f"machine: {os.cpu_count()} cores; server workers: {args.workers}; "
          f"{args.seconds:.0f} s per measure; 2.4 KB Patient")
    report(raw, fhir_limit, ours)


if __name__ == "__main__":
    main()
