"""Profile validation throughput, and what enforcing profiles costs a create.

    python bench/profile_bench.py [--seconds 3]

Prints validations/s per core for a typical Child and a typical Concern (the valid examples in
`profiles/examples/`), against base R4 alone and against their profile; then, with an embedded
SecantusDB started here, in-process `create` throughput of the same Child with profile
enforcement on and off, and the ratio (the issue's target: enforcement costs ≤ 30%).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.api.app import build_services
from server.config import Settings
from server.interactions import crud
from server.profiles.loader import build_definitions
from server.store.embedded import EmbeddedDatabase
from server.validation import ResourceValidator

EXAMPLES = Path(__file__).resolve().parents[1] / "profiles" / "examples"
BASE = "https://cradle.example/fhir/StructureDefinition/"


def example(path: str) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads((EXAMPLES / path).read_bytes())
    body.pop("id", None)
    return body


def rate(action: Callable[[], object], seconds: float) -> float:
    """Calls per second of `action` over about `seconds`."""
    for _ in range(20):
        action()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        action()
        done += 1
    return done / (time.perf_counter() - start)


def validation(seconds: float) -> None:
    validator = ResourceValidator(build_definitions())
    cases = [("Child", example("Child/valid/child-with-nhs-number-upn-cp-plan.json")),
             ("Concern", example("Concern/valid/cp-plan-neglect-red.json"))]
    for name, resource in cases:
        bare = {k: v for k, v in resource.items() if k != "meta"}
        base = rate(lambda r=bare: validator.validate(r), seconds)
        profiled = rate(lambda r=resource, n=name: validator.validate(r, BASE + n), seconds)
        print(f"{name:8} validations/s per core: base R4 {base:7.0f}; "
              f"{name} profile {profiled:7.0f}")


async def creates(uri: str, seconds: float, rounds: int = 6) -> None:
    """Alternate short rounds with enforcement off and on, so drift in the database (it grows,
    the machine is shared) falls on both sides alike."""
    child = example("Child/valid/child-with-nhs-number-upn-cp-plan.json")
    bare = {k: v for k, v in child.items() if k != "meta"}  # base-only: no meta.profile either
    services = {}
    for enforce in (False, True):
        settings = Settings(mongo_uri=uri, enforce_profiles=enforce, database="bench_profiles")
        services[enforce] = await build_services(settings)
    done = {False: 0, True: 0}
    spent = {False: 0.0, True: 0.0}
    for round_ in range(rounds * 2):
        enforce = bool(round_ % 2)
        body = child if enforce else bare
        start = time.perf_counter()
        while time.perf_counter() - start < seconds / rounds:
            await crud.create(services[enforce], "Patient", dict(body))
            done[enforce] += 1
        spent[enforce] += time.perf_counter() - start
    for service in services.values():
        await service.store.close()
    off, on = done[False] / spent[False], done[True] / spent[True]
    print(f"create Child, in-process: base R4 only {off:6.0f}/s; Child enforced {on:6.0f}/s; "
          f"enforced = {on / off:.0%} of base (cost {1 - on / off:.0%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    validation(args.seconds)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedDatabase(Path(tmp) / "db") as db:
        asyncio.run(creates(db.uri, args.seconds))


if __name__ == "__main__":
    main()
