"""The ``hubcli`` command line (Typer). Only this package imports typer."""

from __future__ import annotations

import typer

import hubcli

app = typer.Typer(
    name="hubcli",
    help="Video datasets you can index like numpy arrays.",
    pretty_exceptions_enable=False,
    no_args_is_help=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hubcli {hubcli.__version__} (format {hubcli.FORMAT_VERSION})")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Video datasets you can index like numpy arrays."""


def main() -> None:
    """Console-script entry point."""
    app()
