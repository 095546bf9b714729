"""The `cradle` command line (errors are one line on stderr and a non-zero exit, no traceback)."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from server.cli.clients import app as clients_app
from server.cli.clients import token
from server.cli.conformance import app as conformance_app
from server.cli.mappings import app as mappings_app
from server.cli.mappings import map_file
from server.cli.output import fail
from server.config import Settings
from server.errors import FhirError
from server.interactions.admin import signing_key
from server.profiles.cli import app as profiles_app
from server.profiles.loader import build_definitions
from server.store.embedded import EmbeddedDatabase, redact, wait_until_answering

app = typer.Typer(help="Cradle: FHIR R4 interoperability server for child protection.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)


app.add_typer(profiles_app, name="profiles")
app.add_typer(clients_app, name="clients")
app.add_typer(mappings_app, name="mappings")
app.add_typer(conformance_app, name="conformance")
app.command(name="map")(map_file)
app.command(name="token")(token)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.callback()
def cradle() -> None:
    """Cradle: FHIR R4 interoperability server for child protection."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on [env CRADLE_HOST; "
                                             "default 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env CRADLE_PORT; default 8000]")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes [default 1]")] = None,
    mongo_uri: Annotated[str | None, typer.Option(
        help="MongoDB URI [env CRADLE_MONGO_URI]; without one, an embedded SecantusDB is "
             "started with its data in DATA_DIR/db")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Data directory [env CRADLE_DATA_DIR; default .cradle]")] = None,
    log_level: Annotated[str | None, typer.Option(help="[env CRADLE_LOG_LEVEL; default info]")]
    = None,
    ssl_certfile: Annotated[Path | None, typer.Option(
        help="Serve HTTPS with this certificate chain (PEM) [env CRADLE_SSL_CERTFILE]")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(
        help="The certificate's private key (PEM) [env CRADLE_SSL_KEYFILE]")] = None,
) -> None:
    """Start the FHIR API at http://HOST:PORT/fhir (every endpoint but metadata, SMART
    discovery and health checks needs an access token)."""
    # SIGTERM unwinds like Ctrl-C, so the embedded database is always stopped (uvicorn
    # re-raises the signal it caught once it has shut down).
    signal.signal(signal.SIGTERM, _exit_cleanly)
    settings = Settings.from_env(host=host, port=port, workers=workers, mongo_uri=mongo_uri,
                                 data_dir=data_dir, log_level=log_level,
                                 ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)
    embedded: EmbeddedDatabase | None = None
    try:
        if not settings.auth and settings.host not in LOOPBACK:
            raise fail("CRADLE_AUTH=false is for loopback development only; "
                       "it refuses to listen on " + settings.host)
        signing_key(settings)  # created once here, before any worker reads it
        # Authoring errors in the profiles surface here as clear lines, not as a failed start.
        build_definitions(settings.profiles_dir)
        if settings.mongo_uri:
            wait_until_answering(settings.mongo_uri, timeout=10)
        else:
            embedded = EmbeddedDatabase(settings.db_dir)
            settings = dataclasses.replace(settings, mongo_uri=embedded.start())
            typer.echo(f"cradle: embedded database started (data in {settings.db_dir})", err=True)
        _run(settings)
    except FhirError as error:
        for issue in error.issues[1:]:
            typer.echo(f"cradle: error: {issue.diagnostics}", err=True)
        raise fail(error.issues[0].diagnostics if error.issues else str(error)) from None
    except OSError as error:  # e.g. a data dir that cannot be created
        raise fail(f"{error.strerror or error}: {error.filename or ''}".rstrip(": ")) from None
    finally:
        if embedded is not None and embedded.stop():
            typer.echo("cradle: embedded database stopped", err=True)


def _exit_cleanly(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _run(settings: Settings) -> None:
    assert settings.mongo_uri is not None
    scheme = "https" if settings.ssl_certfile else "http"
    typer.echo(f"cradle: FHIR API at {scheme}://{settings.host}:{settings.port}/fhir "
               f"(database {redact(settings.mongo_uri)})", err=True)
    # Access logs stay off: search URLs carry names and identifiers (personal data).
    common: dict[str, Any] = {"host": settings.host, "port": settings.port,
                              "log_level": settings.log_level, "proxy_headers": False,
                              "access_log": False}
    if settings.ssl_certfile:
        common.update(ssl_certfile=str(settings.ssl_certfile),
                      ssl_keyfile=str(settings.ssl_keyfile) if settings.ssl_keyfile else None)
    if settings.workers <= 1:
        from server.api.app import create_app

        uvicorn.run(create_app(settings), **common)
        return
    # Worker processes build their own app from the environment.
    os.environ.update({"CRADLE_MONGO_URI": settings.mongo_uri,
                       "CRADLE_DATA_DIR": str(settings.data_dir),
                       "CRADLE_LOG_LEVEL": settings.log_level})
    uvicorn.run("server.api.app:app_from_env", factory=True, workers=settings.workers,
                **common)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
