"""`cradle profiles`: build snapshots, check examples and diff versions of Cradle's profiles.

Every failure is one `cradle: error: ...` line per problem on stderr and exit status 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from server.definitions.registry import load_r4
from server.errors import Invalid
from server.profiles.diff import diff_profiles
from server.profiles.examples import check_examples
from server.profiles.loader import (
    CONFORMANCE_TYPES,
    default_profile_dir,
    load_profile_dir,
    read_json,
    with_snapshots,
)
from server.validation import ResourceValidator

Json = dict[str, Any]

app = typer.Typer(help="Build, check and compare Cradle's FHIR profiles.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)

DirOption = Annotated[Path | None, typer.Option(
    "--dir", help="Profile folder [default: the profiles/ shipped with Cradle]")]


def _fail(error: Invalid) -> typer.Exit:
    """Print one line per issue of an authoring or file error; return the exit to raise."""
    for issue in error.issues:
        where = f" [{issue.expression}]" if issue.expression else ""
        typer.echo(f"cradle: error: {issue.diagnostics}{where}", err=True)
    return typer.Exit(1)


def _load(directory: Path) -> list[Json]:
    """Return the folder's conformance resources with snapshots; raises `Invalid`."""
    return with_snapshots(load_profile_dir(directory), load_r4())


@app.command()
def build(directory: DirOption = None, out: Annotated[Path | None, typer.Option(
        "--out", help="Output folder [default: DIR/build]")] = None) -> None:
    """Generate the snapshot of every profile and write each one to OUT."""
    directory = directory or default_profile_dir()
    try:
        resources = _load(directory)
    except Invalid as error:
        raise _fail(error) from None
    target = out or directory / "build"
    target.mkdir(parents=True, exist_ok=True)
    for sd in (r for r in resources if r["resourceType"] == "StructureDefinition"):
        file = target / f"StructureDefinition-{sd.get('id') or sd.get('name')}.json"
        file.write_bytes(orjson.dumps(sd, option=orjson.OPT_INDENT_2) + b"\n")
        typer.echo(f"built {sd.get('url')} ({len(sd['snapshot']['element'])} elements) "
                   f"-> {file}")


@app.command()
def check(directory: DirOption = None) -> None:
    """Validate every example against its profile: valid ones pass, invalid ones fail."""
    directory = directory or default_profile_dir()
    try:
        resources = _load(directory)
    except Invalid as error:
        raise _fail(error) from None
    definitions = load_r4().copy()
    for resource in resources:
        definitions.add(resource)
    results = check_examples(directory, resources, ResourceValidator(definitions))
    for result in results:
        kind = "valid" if result.valid else "invalid"
        status = "PASS" if result.passed else "FAIL"
        typer.echo(f"{status} {result.profile} {kind} {result.path.name}")
        for surprise in result.surprises:
            typer.echo(f"    {surprise}")
    failed = sum(not r.passed for r in results)
    typer.echo(f"{len(results)} examples: {len(results) - failed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)


@app.command()
def diff(old: Annotated[Path, typer.Argument(help="Old SD file, or folder of them")],
         new: Annotated[Path, typer.Argument(help="New SD file, or folder of them")]) -> None:
    """Print what changed between two versions of profiles, and whom it can break."""
    try:
        before, after = _versions(old), _versions(new)
    except Invalid as error:
        raise _fail(error) from None
    rows = [("element", "change", "senders", "receivers")]
    for url in sorted(before.keys() | after.keys()):
        if url not in after:
            rows.append((url, "profile-removed", "breaking", "compatible"))
        elif url not in before:
            rows.append((url, "profile-added", "compatible", "compatible"))
        else:
            rows += [(f"{c.element_id}", f"{c.kind}: {c.detail}", c.senders, c.receivers)
                     for c in diff_profiles(before[url], after[url])]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
                   + "  " + row[3])
    if len(rows) == 1:
        typer.echo("no changes")


def _versions(path: Path) -> dict[str, Json]:
    """Return the StructureDefinitions of a file or folder by url, with snapshots."""
    if path.is_dir():
        if any((path / kind).is_dir() for kind in CONFORMANCE_TYPES):
            resources = load_profile_dir(path)
        else:
            resources = [read_json(p) for p in sorted(path.glob("*.json"))]
    else:
        resources = [read_json(path)]
    built = with_snapshots(resources, load_r4())
    return {sd["url"]: sd for sd in built
            if sd.get("resourceType") == "StructureDefinition" and sd.get("url")}

