"""The embedded database: SecantusDB run as a child process on a free loopback port.

Kept in its own process on purpose: in-process it would share the GIL with the API.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from server.errors import Unavailable

# SecantusDB keeps every retryable write for 30 minutes and slows down as that list grows;
# it also drops connections idle for 300 s (see shared/PERFORMANCE.md).
EMBEDDED_URI_OPTIONS = "directConnection=true&retryWrites=false&maxIdleTimeMS=240000"


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on `host` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_until_answering(uri: str, timeout: float) -> None:
    """Block until the MongoDB server at `uri` answers a ping; raise `Unavailable` otherwise."""
    client: MongoClient[dict[str, object]] = MongoClient(
        uri, serverSelectionTimeoutMS=int(timeout * 1000))
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        raise Unavailable(f"cannot reach MongoDB at {redact(uri)}: {type(exc).__name__}") from exc
    finally:
        client.close()


def redact(uri: str) -> str:
    """Return the URI without credentials, safe to print."""
    if "@" not in uri:
        return uri
    scheme, _, rest = uri.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


def default_cache_size() -> str:
    """The database cache bound mongod would take here: half of (RAM - 1 GB), at least 256 MB.

    SecantusDB's own default (1 GB) is outgrown by a few hundred thousand resources; then every
    write pays for evictions (the mapping bench's database CPU per record rose by half).
    The cache is a bound, not an allocation: it grows with the data.
    """
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{max(256, (ram - 2**30) // 2 // 2**20)}M"


class EmbeddedDatabase:
    """A SecantusDB child process with its data in `data_dir`; use as a context manager."""

    def __init__(self, data_dir: Path, host: str = "127.0.0.1", port: int | None = None,
                 start_timeout: float = 30.0) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port or free_port(host)
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}/?{EMBEDDED_URI_OPTIONS}"

    @property
    def uri_file(self) -> Path:
        return self.data_dir / "running-uri"

    def start(self) -> str:
        """Start the server, wait until it answers, and return its URI.

        Raises `Unavailable` (with the tail of its log) when it cannot start.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.data_dir / "secantus.log"
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "secantus", "--host", self.host, "--port", str(self.port),
                 "--storage-path", str(self.data_dir), "--log-level", "WARNING",
                 "--cache-size", default_cache_size()],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise Unavailable(f"embedded database exited at start: {_tail(log_path)}")
            with contextlib.suppress(Unavailable):
                wait_until_answering(self.uri, timeout=0.5)
                # Other commands (`cradle clients`) find the running database here.
                self.uri_file.write_text(self.uri)
                return self.uri
            time.sleep(0.1)
        self.stop()
        raise Unavailable(f"embedded database did not answer within {self.start_timeout:.0f}s")

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop the server cleanly (SIGTERM, then SIGKILL after `timeout`).

        Returns True if a running server was stopped.
        """
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return False
        self.uri_file.unlink(missing_ok=True)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return True

    def __enter__(self) -> EmbeddedDatabase:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


@contextlib.contextmanager
def database_uri(mongo_uri: str | None, db_dir: Path) -> Iterator[str]:
    """Yield a URI for commands that need the database: `mongo_uri` if given, else the
    embedded database `cradle serve` is running on `db_dir`, else one started for the block."""
    if mongo_uri:
        wait_until_answering(mongo_uri, timeout=10)
        yield mongo_uri
        return
    running = db_dir / "running-uri"
    if running.exists() and _answers(uri := running.read_text().strip()):
        yield uri
        return
    with EmbeddedDatabase(db_dir) as database:
        yield database.uri


def _answers(uri: str) -> bool:
    try:
        wait_until_answering(uri, timeout=2)
    except Unavailable:
        return False
    return True


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return " | ".join(text[-lines:]) or "no log"

