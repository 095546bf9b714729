"""Running `cradle` as a user does: a subprocess with a clean environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

CRADLE = [sys.executable, "-m", "server.cli"]
ROOT = Path(__file__).resolve().parents[2]
CHILD = ROOT / "profiles/examples/Child/valid/child-with-nhs-number-upn-cp-plan.json"


def environment(**extra: str) -> dict[str, str]:
    """The test's environment without CRADLE_* settings, able to import `server` anywhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRADLE_")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}
