"""`cradle map AGENCY FILE` (offline native -> FHIR transform) and `cradle mappings coverage`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from server.cli.output import fail
from server.errors import FhirError
from server.fhir import json
from server.mapping.catalog import load_agencies
from server.mapping.codes import Codes
from server.mapping.coverage import as_html, as_text, coverage
from server.mapping.formats import ReadError
from server.mapping.pipeline import map_native
from server.profiles.loader import build_definitions, default_profile_dir, load_enforcement
from server.terminology.expansion import Terminology
from server.validation import ResourceValidator

app = typer.Typer(help="The agency mappings: coverage of the common model.",
                  no_args_is_help=True)


def map_file(
    agency: Annotated[str, typer.Argument(help="The agency: social-care, health, education, "
                                               "connexions or police")],
    file: Annotated[Path, typer.Argument(help="A native record file in that agency's format")],
    agency_id: Annotated[str, typer.Option(help="The submitting agency's Organization id, "
                                                "as the server would set it")] = "local",
) -> None:
    """Transform FILE offline: print the FHIR transaction Bundle, or every issue (with its
    place in the native record) and exit 1 when any record is rejected."""
    try:
        agencies = load_agencies()
        if agency not in agencies:
            raise fail(f"no mapping for agency '{agency}' (known: {', '.join(agencies)})")
        definitions = build_definitions()
        for resource in agencies[agency].codes:
            definitions.add(resource)
        mapped = map_native(agencies[agency], file.read_bytes(),
                            Codes(Terminology(definitions)), ResourceValidator(definitions),
                            agency_id, load_enforcement(default_profile_dir()))
    except OSError as error:
        raise fail(f"cannot read {file}: {error.strerror or error}") from None
    except ReadError as error:
        raise fail(f"{file}: {error}" + (f" (at {error.where})" if error.where else "")) \
            from None
    except FhirError as error:
        raise fail(str(error)) from None
    for record in mapped:
        for issue in record.issues:
            if issue.severity != "information":
                where = f" at {issue.native}" if issue.native else ""
                fhir = f" [{issue.expression}]" if issue.expression else ""
                typer.echo(f"{file}: record {record.key or record.index + 1}: "
                           f"{issue.severity}{where}: {issue.message}{fhir}", err=True)
    if not mapped or any(r.rejected for r in mapped):
        raise typer.Exit(1)
    entries = [{"fullUrl": f"urn:cradle:{r.reference}", "resource": r.resource,
                "request": {"method": "PUT", "url": r.reference}}
               for record in mapped for r in record.resources]
    sys.stdout.write(json.dumps({"resourceType": "Bundle", "type": "transaction",
                                 "entry": entries}).decode() + "\n")


@app.command(name="coverage")
def coverage_command(
    html: Annotated[Path, typer.Option(help="Where to write the HTML heat-map page")] =
        Path("mapping-coverage.html"),
) -> None:
    """Print which common-model elements each agency fills, and write the HTML heat-map."""
    try:
        cov = coverage(load_agencies())
        html.write_text(as_html(cov), encoding="utf-8")
    except (OSError, FhirError) as error:
        raise fail(str(error)) from None
    typer.echo(as_text(cov), nl=False)
    typer.echo(f"heat-map written to {html}", err=True)
