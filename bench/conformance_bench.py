"""How long a full conformance run (api + profiles suites) takes against a local server.

    python bench/conformance_bench.py [--runs 3] [--workers 1]

Starts its own embedded database and `cradle serve` on 127.0.0.1 (auth on; the kit uses an
operator token as a vendor would use theirs), runs the kit in this process, prints each run's
wall time, test count and verdict, and stops everything it started. The target: under 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import auth_bench  # noqa: E402
from bench.mapping_bench import operator_token  # noqa: E402
from server.conformance.profiles import profile_validator  # noqa: E402
from server.conformance.runner import run_suites  # noqa: E402
from server.conformance.suites import load_suite  # noqa: E402
from server.store.embedded import EmbeddedDatabase  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    suites = [load_suite("api"), load_suite("profiles")]
    validate = profile_validator()
    with tempfile.TemporaryDirectory() as scratch, \
            EmbeddedDatabase(Path(scratch) / "db") as database:
        data_dir = Path(scratch) / "data"
        server = auth_bench.start_server("kit", database.uri, "bench_conformance",
                                         args.workers, data_dir, auth=True,
                                         enforce_profiles=True)
        try:
            token = operator_token(data_dir)
            print("| run | tests | mandatory passed | verdict | seconds |")
            print("|---|---|---|---|---|")
            for number in range(1, args.runs + 1):
                started = time.perf_counter()
                run = asyncio.run(run_suites(f"http://127.0.0.1:{server.port}/fhir", suites,
                                             token, validate))
                seconds = time.perf_counter() - started
                mandatory = [r for r in run.results if r.test.mandatory]
                print(f"| {number} | {len(run.results)} | "
                      f"{sum(r.passed for r in mandatory)}/{len(mandatory)} | "
                      f"{'conformant' if run.passed else 'NOT conformant'} | {seconds:.1f} |")
        finally:
            server.stop()
    print(f"\ncommand: python bench/conformance_bench.py --runs {args.runs} "
          f"--workers {args.workers}; target: a full api+profiles run under 60 s")


if __name__ == "__main__":
    main()
