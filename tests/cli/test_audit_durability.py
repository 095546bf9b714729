"""The audit trail survives a crash of the API: every request that got a 2xx answer before
`cradle serve` was killed with SIGKILL has its AuditEvent stored, and every acknowledged create
its resource and Provenance.

The API process is killed mid-load (no shutdown, no flush); the embedded SecantusDB, a child
in its own session, keeps running and is then stopped cleanly, like an operator would before
restarting the service; `cradle serve` restarts on the same data directory and the trail is
read back over the FHIR API as the operator.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from server.store.embedded import free_port
from tests.builders import patient
from tests.cli.test_serve import CRADLE, environment, wait_ready

LOAD_SECONDS = 2.0
CREATORS, READERS = 4, 4
Ack = tuple[str, str]  # (interaction, "Patient/id") of a request answered 2xx


def start(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`cradle serve` (one worker: the API is this one process) with profiles off and no
    rate limit in the way of the load."""
    with log.open("ab") as err:
        return subprocess.Popen(
            [*CRADLE, "serve", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
            env=environment(CRADLE_ENFORCE_PROFILES="false", CRADLE_LOG_LEVEL="warning",
                            CRADLE_RATE_LIMIT="1000000/minute"))


def children(pid: int) -> list[int]:
    """The direct child processes of `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its new parent to reap it is not running)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_pid(pid: int, timeout: float = 20) -> None:
    """SIGTERM `pid` (not our child any more) and wait; SIGKILL it if it will not stop."""
    if not alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):  # it may have just exited
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"the embedded database (pid {pid}) ignored SIGTERM")


@contextlib.contextmanager
def serving(data_dir: Path, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A started, ready `cradle serve`; SIGTERM-ed at the end if it still runs."""
    port = free_port()
    process = start(data_dir, port, log)
    try:
        wait_ready(port, process)  # type: ignore[arg-type]
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def operator_token(data_dir: Path) -> str:
    """`cradle token --data-dir D`: an operator token signed with the server's key."""
    result = subprocess.run([*CRADLE, "token", "--data-dir", str(data_dir)], capture_output=True,
                            text=True, timeout=60, env=environment(), check=True)
    return result.stdout.strip()


class Refused(Exception):
    """A request answered, but not with the expected 2xx."""


class Load:
    """Concurrent creates and reads of Patients; notes every request answered 2xx."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.headers = base, {"Authorization": f"Bearer {token}",
                                         "Accept": "application/fhir+json"}
        self.acks: list[Ack] = []
        self.created: list[str] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.base}/fhir", headers=self.headers, timeout=10)

    def create(self, client: httpx.Client, n: int) -> None:
        response = client.post("/Patient", json=patient(f"durability-{n}"),
                               headers={"Prefer": "return=minimal"})
        if response.status_code != 201:
            raise Refused(f"create: {response.status_code} {response.text}")
        reference = "/".join(response.headers["location"].split("/")[-4:-2])
        with self.lock:
            self.acks.append(("create", reference))
            self.created.append(reference)

    def read(self, client: httpx.Client, n: int) -> None:
        with self.lock:
            reference = self.created[n * 7919 % len(self.created)]
        response = client.get(f"/{reference}")
        if response.status_code != 200:
            raise Refused(f"read {reference}: {response.status_code} {response.text}")
        with self.lock:
            self.acks.append(("read", reference))

    def worker(self, work: Any, first: int) -> None:
        n = first
        with self.client() as client:
            while not self.stop.is_set():
                try:
                    work(client, n)
                except httpx.TransportError:
                    return  # the server is gone: this request was not acknowledged
                except Refused as error:
                    with self.lock:
                        self.errors.append(str(error))
                    return
                n += 1000


def page_through(client: httpx.Client, url: str) -> Iterator[dict[str, Any]]:
    """Every resource of a search, following its `next` links."""
    next_url: str | None = url
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200, response.text
        bundle = response.json()
        yield from (entry["resource"] for entry in bundle.get("entry", []))
        next_url = next((link["url"] for link in bundle.get("link", [])
                         if link["relation"] == "next"), None)


def unversioned(reference: str) -> str:
    return reference.split("/_history/")[0]


def test_acknowledged_requests_are_audited_after_the_api_is_killed(
        data_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "cradle.log"
    database_pid: int | None = None
    try:
        with serving(data_dir, log) as (server, base):
            databases = [pid for pid in children(server.pid)
                         if "secantus" in command_line(pid)]
            assert len(databases) == 1, [command_line(p) for p in children(server.pid)]
            database_pid = databases[0]
            # One worker: uvicorn serves in the `cradle` process itself, no other child.
            assert children(server.pid) == [database_pid]
            load = Load(base, operator_token(data_dir))
            with load.client() as client:
                for n in range(5):
                    load.create(client, -n - 1)
            threads = [threading.Thread(target=load.worker, args=(load.create, i), daemon=True)
                       for i in range(CREATORS)]
            threads += [threading.Thread(target=load.worker, args=(load.read, i), daemon=True)
                        for i in range(READERS)]
            for thread in threads:
                thread.start()
            time.sleep(LOAD_SECONDS)
            server.send_signal(signal.SIGKILL)  # mid-load: requests are in flight
            assert server.wait(10) == -signal.SIGKILL
            load.stop.set()
            for thread in threads:
                thread.join(15)
                assert not thread.is_alive()
            with load.lock:
                acks, created, errors = list(load.acks), list(load.created), list(load.errors)
        assert alive(database_pid), "the embedded database must outlive the killed API"
        stop_pid(database_pid)  # cleanly, as an operator would before restarting
        database_pid = None
        assert not errors, errors[:5]
        kinds = Counter(kind for kind, _ in acks)
        assert kinds["create"] > 20 and kinds["read"] > 20, kinds

        with serving(data_dir, log) as (_, base), httpx.Client(
                base_url=f"{base}/fhir", timeout=30,
                headers={"Authorization": f"Bearer {operator_token(data_dir)}"}) as client:
            audited: Counter[Ack] = Counter()
            for event in page_through(client, "/AuditEvent?_count=1000"):
                codes = {coding.get("code") for coding in event.get("subtype", [])}
                for entity in event.get("entity", []):
                    what = entity.get("what", {}).get("reference", "")
                    if what.startswith("Patient/") and entity["role"]["code"] == "4":
                        for kind in codes & {"create", "read"}:
                            audited[kind, unversioned(what)] += 1
                            assert event["action"] == ("C" if kind == "create" else "R")
            provenance = {unversioned(target["reference"])
                          for resource in page_through(client, "/Provenance?_count=1000")
                          for target in resource.get("target", [])}
            acknowledged = Counter(acks)
            missing = {ack: count - audited[ack] for ack, count in acknowledged.items()
                       if audited[ack] < count}
            print(f"acknowledged {dict(kinds)}; audited {sum(audited.values())} "
                  f"create/read events; {len(provenance)} Provenance targets")
            assert not missing, f"acknowledged but not audited: {sorted(missing.items())[:10]}"
            assert all(audited["create", reference] == 1 for reference in created)
            assert not [r for r in created if r not in provenance], "create without Provenance"
            for reference in created:
                response = client.get(f"/{reference}")
                assert response.status_code == 200, f"{reference}: {response.text}"
    finally:
        if database_pid is not None:
            stop_pid(database_pid)
