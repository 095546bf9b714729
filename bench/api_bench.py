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
    return results


def fhir_resources_limit(seconds: float) -> Result:
    from fhir.resources.R4B.patient import Patient

    raw = orjson.dumps(PATIENT)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        Patient.model_validate_json(raw)
        n += 1
    return Result("fhir.resources parse+validate", [], time.perf_counter() - start, n)


async def cradle(base: str, seconds: float) -> dict[str, Result]:
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    headers = {"Content-Type": "application/fhir+json"}
    results: dict[str, Result] = {}
    async with httpx.AsyncClient(base_url=base, limits=limits, headers=headers,
                                 timeout=60) as http:
        ids: list[str] = []
        search_family = uuid.uuid4().hex[:10]
        for _ in range(10):
            await http.post("/Patient", content=orjson.dumps(patient(search_family)))

        async def create(_: int) -> int:
            response = await http.post("/Patient", content=orjson.dumps(patient("Bench")),
                                       headers={"Prefer": "return=minimal"})
            assert response.status_code == 201, response.text
            ids.append(response.headers["Location"].split("/")[-3])
            return 1

        async def read(n: int) -> int:
            response = await http.get(f"/Patient/{ids[n % len(ids)]}")
            assert response.status_code == 200
            return 1

        async def search(_: int) -> int:
            response = await http.get("/Patient", params={"family": search_family})
            assert len(response.json()["entry"]) == 10
            return 1

        async def ingest(_: int) -> int:
            entries = [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": patient("Bulk"),
                        "request": {"method": "POST", "url": "Patient"}} for _ in range(100)]
            bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
            response = await http.post("", content=orjson.dumps(bundle),
                                       headers={"Prefer": "return=minimal"})
            assert response.status_code == 200, response.text[:500]
            return 100

        for c in (1, 16):
            results[f"create c{c}"] = await run(f"Cradle create c{c}", create, c, seconds)
            results[f"read c{c}"] = await run(f"Cradle read c{c}", read, c, seconds)
            results[f"search c{c}"] = await run(f"Cradle search c{c} (10 hits)", search, c,
                                                seconds)
        results["ingest c1"] = await run("Cradle transaction ingest c1", ingest, 1, seconds)
        results["ingest c4"] = await run("Cradle transaction ingest c4", ingest, 4, seconds)
    return results


def start_server(uri: str, port: int, workers: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CRADLE_LOG_LEVEL": "warning"}
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
    print(f"\n{'measure':44} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>24}")
    for result in (*raw.values(), fhir_limit):
        print(f"{result.name:44} {result.rate:9.0f} {result.p50:8.2f} {result.p99:8.2f}")
    base = {"create": "insert", "read": "find"}
    for key, result in ours.items():
        kind, conc = key.split()
        ratio = ""
        if kind in base:
            limit = raw[f"{base[kind]} {conc}"]
            ratio = f"{result.rate / limit.rate:6.0%} of {limit.name.split()[1]}"
        elif kind == "ingest":
            ratio = f"{result.rate / raw['insert c1'].rate:6.0%} of insert_one c1"
        print(f"{result.name:44} {result.rate:9.0f} {result.p50:8.2f} {result.p99:8.2f} "
              f"{ratio:>24}")


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
            ours = asyncio.run(cradle(f"http://127.0.0.1:{port}/fhir", args.seconds))
        finally:
            server.terminate()
            server.wait(30)
    print(f"machine: {os.cpu_count()} cores; server workers: {args.workers}; "
          f"{args.seconds:.0f} s per measure; 2.4 KB Patient")
    report(raw, fhir_limit, ours)


if __name__ == "__main__":
    main()
