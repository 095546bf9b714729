"""`cradle conformance validate FILE...`: check FHIR JSON files offline against the shipped
profiles, one `FILE:LINE:COL: severity [message-id] message (expression)` line per issue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from server.cli.output import fail
from server.conformance.files import FileIssue, summary, validate_file
from server.conformance.suppressions import Suppression, load_suppressions
from server.errors import FhirError
from server.profiles.loader import build_definitions, default_profile_dir, load_enforcement
from server.validation import ResourceValidator


def validate(
    files: Annotated[list[Path], typer.Argument(
        help="JSON files, each holding a FHIR resource or a Bundle")],
    suppressions: Annotated[Path | None, typer.Option(
        help="YAML file of accepted issues (message id + expression + justification)")] = None,
) -> None:
    """Validate FILES against the shipped profiles; exit 1 if any unsuppressed error."""
    for file in files:
        if not file.exists():
            raise fail(f"{file}: no such file")
        if not file.is_file():
            raise fail(f"{file}: not a file")
    accepted: list[Suppression] = []
    if suppressions is not None:
        if not suppressions.is_file():
            raise fail(f"{suppressions}: no such suppressions file")
        try:
            accepted = load_suppressions(suppressions)
        except FhirError as error:
            raise fail(str(error)) from None
    validator = ResourceValidator(build_definitions())
    required = load_enforcement(default_profile_dir())
    found: list[FileIssue] = []
    for file in files:
        try:
            issues = validate_file(file, validator, required, accepted)
        except OSError as error:
            raise fail(f"{file}: cannot read: {error.strerror or error}") from None
        for issue in issues:
            typer.echo(issue.describe())
        found.extend(issues)
    typer.echo(summary(found, len(files)))
    raise typer.Exit(1 if any(i.is_error and i.suppressed is None for i in found) else 0)
