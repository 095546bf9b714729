"""The kit catches real vendor bugs: `cradle serve` with one deliberate fault each
(`CRADLE_TEST_FAULTS`, server/api/faults.py) fails exactly the tests that fault breaks."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.api.app import create_app
from server.config import Settings
from server.conformance.model import Run
from server.conformance.profiles import profile_validator
from server.conformance.runner import run_suites
from server.conformance.suites import load_suite
from server.store.embedded import free_port
from tests.cli.commands import CRADLE, environment, start, wait_ready

# "" is our server as shipped (profiles enforced): the self-test that it passes every suite.
FAULTS = ["", "ignore-if-match", "accept-invalid-child", "drop-search:identifier",
          "plain-errors"]


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One `cradle serve` per fault (started together, to keep the module fast): its FHIR base
    URL by fault name."""
    servers = {}
    try:
        for fault in FAULTS:
            port = free_port()
            data = tmp_path_factory.mktemp("faulty")
            servers[fault] = (port, start(data, port, CRADLE_AUTH="false",
                                          CRADLE_TEST_FAULTS=fault))
        for port, process in servers.values():
            wait_ready(port, process)
        yield {fault or "none": f"http://127.0.0.1:{port}/fhir"
               for fault, (port, _) in servers.items()}
    finally:  # SIGTERM to all first, so they shut down together; then wait for each
        for _, process in servers.values():
            process.send_signal(signal.SIGTERM)
        for _, process in servers.values():
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


@pytest.fixture(scope="module")
def runs(targets: dict[str, str]) -> dict[str, Run]:
    """The api suite's run against each faulty target; api and profiles against ours."""
    async def all_runs() -> list[Run]:
        return list(await asyncio.gather(*(
            run_suites(url, [load_suite("api")] + ([load_suite("profiles")]
                                                   if name == "none" else []),
                       None, profile_validator())
            for name, url in targets.items())))
    return dict(zip(targets, asyncio.run(all_runs()), strict=True))


def failed(run: Run) -> dict[str, tuple[str, str]]:
    """Test id -> (message id, message) for every test that did not pass."""
    return {r.test.id: (r.message_id, r.message) for r in run.results if r.outcome != "pass"}


def test_our_server_passes_every_mandatory_test_of_api_and_profiles(
        runs: dict[str, Run]) -> None:
    run = runs["none"]
    assert not failed(run), failed(run)
    assert run.passed and len(run.results) > 80


def test_a_lost_write_fails_only_the_versioning_test(runs: dict[str, Run]) -> None:
    found = failed(runs["ignore-if-match"])
    assert set(found) == {"api-vread-update-versioning"}, found
    message_id, message = found["api-vread-update-versioning"]
    assert message_id == "conformance-status" and "412" in message and "got 200" in message


def test_storing_an_invalid_child_fails_only_the_rejection_test(runs: dict[str, Run]) -> None:
    found = failed(runs["accept-invalid-child"])
    assert set(found) == {"api-invalid-child-rejected", "api-unprofiled-child-rejected"}, found
    message_id, message = found["api-invalid-child-rejected"]
    assert message_id == "conformance-status" and "got 201" in message


def test_an_ignored_search_parameter_fails_only_its_search(runs: dict[str, Run]) -> None:
    # Only URL query parameters are dropped; If-None-Exist is a header, so conditional create
    # (api-conditional-create) still passes.
    found = failed(runs["drop-search:identifier"])
    assert set(found) == {"api-search-child-identifier", "api-search-Patient-identifier",
                          "api-search-Flag-identifier",
                          "api-search-ServiceRequest-identifier"}, found
    message_id, message = found["api-search-child-identifier"]
    assert message_id == "conformance-fhirpath" and "count() = 1" in message


def test_plain_text_errors_fail_every_test_expecting_an_outcome(runs: dict[str, Run]) -> None:
    suite = load_suite("api")
    expecting = {t.id for t in suite.tests if any(s.expect.get("outcome") for s in t.steps)}
    found = failed(runs["plain-errors"])
    assert set(found) == expecting == {
        "api-vread-update-versioning", "api-delete", "api-invalid-child-rejected",
        "api-unprofiled-child-rejected", "api-bad-json", "api-unsupported-media-type",
        "api-unknown-id"}, found
    assert {message_id for message_id, _ in found.values()} == {"conformance-no-outcome"}


def test_the_cli_exits_1_for_a_faulty_target_and_0_for_a_good_one(
        targets: dict[str, str], tmp_path: Path) -> None:
    def cli(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CRADLE, "conformance", "run", "--target", url, "--suite", "api",
                               *extra], capture_output=True, text=True, timeout=120,
                              env=environment(), cwd=tmp_path)
    bad = cli(targets["ignore-if-match"])
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "FAIL       api-vread-update-versioning" in bad.stdout
    assert "NOT CONFORMANT" in bad.stdout
    good = cli(targets["none"])
    assert good.returncode == 0, good.stdout + good.stderr
    assert "; CONFORMANT" in good.stdout


def test_faults_are_read_from_the_environment_and_unknown_ones_refused() -> None:
    settings = Settings.from_env({"CRADLE_TEST_FAULTS": "ignore-if-match, drop-search:name"})
    assert settings.test_faults == ("ignore-if-match", "drop-search:name")
    assert Settings.from_env({}).test_faults == ()
    with pytest.raises(ValueError, match="unknown test fault 'no-such-fault'"):
        create_app(Settings(test_faults=("no-such-fault",)))
