"""`cradle conformance run` (check a FHIR server against the suites) and `cradle conformance
validate` (check files offline)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from server.cli.conformance_files import validate
from server.cli.output import fail
from server.conformance.coverage import Coverage, coverage, summary
from server.conformance.html_report import as_html
from server.conformance.junit import as_junit
from server.conformance.model import Run
from server.conformance.profiles import profile_validator
from server.conformance.runner import run_suites
from server.conformance.suites import agency_suite, load_suite, suite_names
from server.conformance.suppress import apply_suppressions
from server.conformance.suppressions import Suppression, load_suppressions
from server.conformance.testreport import as_testreport
from server.errors import FhirError
from server.fhir import json

app = typer.Typer(help="The conformance kit: prove a system speaks the Cradle standard.",
                  no_args_is_help=True)
app.command(name="validate")(validate)


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
    native: Annotated[list[Path] | None, typer.Option(
        help="A native export file for an agency:AGENCY suite (repeat for several)")] = None,
    suppressions: Annotated[Path | None, typer.Option(
        help="YAML file of accepted known issues: a failing test is suppressed by its test "
             "id with a written justification; the reports list every one applied",
        dir_okay=False)] = None,
) -> None:
    """Run suites against TARGET; exit 0 only when every mandatory test passes.

    Suites: api, profiles, and agency:AGENCY (with --native files: the vendor's export)."""
    try:
        suites = [agency_suite(name.split(":", 1)[1], list(native or []))
                  if name.startswith("agency:") else load_suite(name)
                  for name in (suite or ["api", "profiles"])]
    except FhirError as error:
        raise fail(str(error)) from None
    except OSError as error:
        raise fail(f"cannot read a native file: {error.strerror or error}") from None
    try:
        accepted = load_suppressions(suppressions) if suppressions is not None else []
    except FhirError as error:
        raise fail(str(error)) from None
    result = asyncio.run(run_suites(target, suites, token, profile_validator()))
    applied = apply_suppressions(result, accepted)
    for unused, why in applied.unused:
        typer.echo(f"cradle: warning: suppression {unused.id} not applied: {why}", err=True)
    rows = coverage(result)
    _print(result)
    typer.echo(summary(rows))
    if out is not None:
        _write_reports(result, out, list(applied.used), rows)
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


def _write_reports(result: Run, out: Path, suppressions: list[Suppression] | None = None,
                   rows: list[Coverage] | None = None) -> None:
    """Write testreport.json (FHIR TestReport), junit.xml and report.html into `out`."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "testreport.json").write_bytes(json.dumps(as_testreport(result)))
        (out / "junit.xml").write_bytes(as_junit(result))
        (out / "report.html").write_text(as_html(result, suppressions, rows), encoding="utf-8")
    except OSError as error:
        raise fail(f"cannot write reports to {out}: {error.strerror or error}") from None
    typer.echo(f"reports written to {out}", err=True)
