"""`cradle conformance run` (check a FHIR server against the suites) and `cradle conformance
validate` (check files offline)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from server.cli.output import fail
from server.conformance.model import Run
from server.conformance.profiles import profile_validator
from server.conformance.runner import run_suites
from server.conformance.suites import load_suite, suite_names
from server.conformance.testreport import as_testreport
from server.errors import FhirError
from server.fhir import json

app = typer.Typer(help="The conformance kit: prove a system speaks the Cradle standard.",
                  no_args_is_help=True)


@app.command()
def run(
    target: Annotated[str, typer.Option(help="The FHIR base URL of the system under test")],
    suite: Annotated[list[str] | None, typer.Option(
        help="A suite to run (repeat for several); default: api and profiles")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Directory for the reports (TestReport JSON, JUnit XML, HTML)")] = None,
    token: Annotated[str | None, typer.Option(
        help="Bearer token for the target [env CRADLE_CONFORMANCE_TOKEN]",
        envvar="CRADLE_CONFORMANCE_TOKEN")] = None,
) -> None:
    """Run suites against TARGET; exit 0 only when every mandatory test passes."""
    try:
        suites = [load_suite(name) for name in (suite or ["api", "profiles"])]
    except FhirError as error:
        raise fail(str(error)) from None
    result = asyncio.run(run_suites(target, suites, token, profile_validator()))
    _print(result)
    if out is not None:
        _write_reports(result, out)
    raise typer.Exit(0 if result.passed else 1)


@app.command(name="suites")
def list_suites() -> None:
    """List the suites shipped with the kit."""
    for name in suite_names():
        typer.echo(f"{name}\t{load_suite(name).title}")


def _print(result: Run) -> None:
    for item in result.results:
        mark = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "skip": "SKIP"}[item.outcome]
        if item.suppressed_by:
            mark = "SUPPRESSED"
        optional = "" if item.test.mandatory else " (optional)"
        line = f"{mark:<10} {item.test.id}{optional}: {item.test.title}"
        if item.outcome in ("fail", "error", "skip"):
            line += f"\n           {item.message}"
        typer.echo(line)
    mandatory = [r for r in result.results if r.test.mandatory]
    typer.echo(f"\n{sum(r.passed for r in mandatory)}/{len(mandatory)} mandatory tests passed; "
               + ("CONFORMANT" if result.passed else "NOT CONFORMANT"))


def _write_reports(result: Run, out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "testreport.json").write_bytes(json.dumps(as_testreport(result)))
    except OSError as error:
        raise fail(f"cannot write reports to {out}: {error.strerror or error}") from None
    typer.echo(f"reports written to {out}", err=True)
