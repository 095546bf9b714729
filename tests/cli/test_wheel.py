"""A plain (non-editable) install ships what `cradle` needs: profiles and R4 definitions."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_the_package_data(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                    "--wheel-dir", str(tmp_path), str(ROOT)], check=True, timeout=300,
                   capture_output=True)
    wheel = next(tmp_path.glob("cradle-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("server/builtin_profiles/StructureDefinition/Child.json",
                     "server/builtin_profiles/enforcement.json",
                     "server/builtin_profiles/examples/Child/valid/unborn-child.json",
                     "server/definitions/r4/profiles-resources.json.gz",
                     "server/definitions/r4/search-parameters.json.gz",
                     "server/builtin_profiles/access-policy.json",
                     "server/builtin_mappings/cast.json",
                     "server/cli/__init__.py", "server/cli/clients.py",
                     "server/security/policy.py"):
        assert required in names, required
    authored = {p.relative_to(ROOT / "profiles").as_posix()
                for p in (ROOT / "profiles").rglob("*.json") if "build" not in p.parts}
    shipped = {n.removeprefix("server/builtin_profiles/") for n in names
               if n.startswith("server/builtin_profiles/") and n.endswith(".json")}
    assert authored <= shipped, sorted(authored - shipped)[:5]
    samples = {p.relative_to(ROOT / "mappings").as_posix()
               for p in (ROOT / "mappings").rglob("*") if p.is_file()}
    carried = {n.removeprefix("server/builtin_mappings/") for n in names
               if n.startswith("server/builtin_mappings/")}
    assert samples <= carried, sorted(samples - carried)[:5]
