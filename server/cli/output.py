"""How every command reports failure: one `cradle: error: ...` line and exit status 1."""

from __future__ import annotations

import typer


def fail(message: str) -> typer.Exit:
    """Print one error line and return the exit to raise."""
    typer.echo(f"cradle: error: {message}", err=True)
    return typer.Exit(1)
