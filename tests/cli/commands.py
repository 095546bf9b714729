"""Running `cradle` as a user does: a subprocess with a clean environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

CRADLE = [sys.executable, "-m", "server.cli"]
ROOT = Path(__file__).resolve().parents[2]
CHILD = ROOT / "profiles/examples/Child/valid/child-with-nhs-number-upn-cp-plan.json"


def environment(**extra: str) -> dict[str, str]:
    """The test's environment without CRADLE_* settings, able to import `server` anywhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRADLE_")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def start(data_dir: Path, port: int, *extra: str, **env: str) -> subprocess.Popen[str]:
    """Start `cradle serve` on `port` with its data in `data_dir` (extra flags and env)."""
    return subprocess.Popen(
        [*CRADLE, "serve", "--port", str(port), "--data-dir", str(data_dir), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(**env))


def wait_ready(port: int, process: subprocess.Popen[str], timeout: float = 60) -> None:
    """Return once the server answers /readyz; fail with its stderr if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("cradle serve did not become ready")


def stop(process: subprocess.Popen[str], timeout: float = 30) -> str:
    """Stop the server with SIGTERM (SIGKILL if it hangs); return its stderr."""
    process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err
