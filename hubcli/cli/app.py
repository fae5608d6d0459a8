"""The ``hubcli`` application: the Typer app, its global options, and the one place
where errors become exit codes and one line of output (:class:`HubcliGroup`).

Start-up matters (CI scripts call hubcli hundreds of times): this module and the
command modules import only Typer and hubcli's light modules at import time; each
command imports what it needs when it runs.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any

import typer

# Typer >= 0.26 vendors Click; its exceptions are not importable elsewhere. A real
# `click.UsageError` would be a different class (STYLE.md §6).
from typer._click.exceptions import ClickException
from typer.core import TyperGroup

from hubcli.cli import output
from hubcli.errors import HubcliError, HubcliWarning
from hubcli.redaction import RedactingFilter, format_exception

EXIT_INTERRUPTED = 130


class HubcliGroup(TyperGroup):
    """Every error becomes one stderr line (a JSON one with --json): ours exit 1, usage
    errors exit 2. Lives on the group, so it also works under CliRunner, which bypasses
    :func:`main`."""

    def invoke(self, ctx: Any) -> Any:
        try:
            with warnings.catch_warnings():
                # hubcli's warnings are shown, once each, however the process filters
                # them (a test runner may turn warnings into errors).
                warnings.simplefilter("always", HubcliWarning)
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except HubcliError as exc:
            if output.SETTINGS.debug:
                raise
            output.error(exc.message, kind=type(exc).__name__, hint=exc.hint)
            raise typer.Exit(exc.exit_code) from None

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        arguments = list(sys.argv[1:] if args is None else args)
        _reset_settings(arguments)
        try:
            code = super().main(arguments, prog_name, standalone_mode=False, **extra)
        except ClickException as exc:  # usage: unknown option, bad choice, missing argument
            ctx = getattr(exc, "ctx", None)
            command = ctx.command_path if ctx is not None else "hubcli"
            output.error(_usage_message(exc), kind="UsageError", hint=f"see: {command} --help")
            if not standalone_mode:
                raise
            sys.exit(exc.exit_code)
        if code == EXIT_INTERRUPTED:  # Typer turns Ctrl-C into Exit(130), silently
            output.error("interrupted", kind="KeyboardInterrupt")
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def _reset_settings(arguments: list[str]) -> None:
    """Options of an earlier run in this process (CliRunner) must not leak into this one.
    ``--json`` is read from the arguments themselves: a usage error is found before any
    option is parsed, and must be a JSON line too."""
    options = arguments[: arguments.index("--")] if "--" in arguments else arguments
    output.SETTINGS.debug = "--debug" in options
    output.SETTINGS.quiet = False
    output.SETTINGS.json = "--json" in options


def _usage_message(exc: ClickException) -> str:
    # Typer validates choices with pydantic, whose text for a ValueError starts with
    # "Value error, ": the rest is the message.
    return exc.format_message().replace("Value error, ", "").rstrip(".")


app = typer.Typer(
    name="hubcli",
    cls=HubcliGroup,
    help="Video datasets you can index like numpy arrays.",
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from hubcli import __version__
        from hubcli.format.version import FORMAT_VERSION, READS

        typer.echo(f"hubcli {__version__} (writes format {FORMAT_VERSION}; reads {READS})")
        raise typer.Exit()


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress (also after a command)."),
    json_: bool = typer.Option(
        False, "--json", help="Results and errors as JSON (also after a command)."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Video datasets you can index like numpy arrays.

    Selectors name data the way Python indexes it: videos, videos[0],
    videos[0, 100:200:5], videos[1, -1], videos[0:3], videos[0, [3, 1, 4]].
    """
    output.SETTINGS.debug = debug
    output.SETTINGS.quiet = quiet
    # Also set by --json after the command, and read from the arguments (_reset_settings).
    output.SETTINGS.json = output.SETTINGS.json or json_
    warnings.showwarning = _show_warning
    _setup_logging(debug)


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (CliRunner swaps it per run);
    every record is redacted first: debug lines quote library exceptions, URLs and all."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(RedactingFilter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def _setup_logging(debug: bool) -> None:
    """One redacting stderr handler on the root logger (replacing ours from an earlier
    run in this process). Without --debug only hubcli's own warnings pass: an error is
    one line, and libraries log tracebacks of failures we report ourselves (gcsfs's
    "out of retries"). With --debug: hubcli's debug log and the libraries' warnings;
    never their debug logs, whose request headers hold key ids and signatures."""
    root_logger = logging.getLogger()
    for old in [h for h in root_logger.handlers if isinstance(h, _StderrHandler)]:
        root_logger.removeHandler(old)
    handler = _StderrHandler()
    fmt = "%(levelname)s:%(name)s:%(message)s" if debug else "%(message)s"
    handler.setFormatter(logging.Formatter(fmt))
    if not debug:
        handler.addFilter(logging.Filter("hubcli"))
    root_logger.addHandler(handler)
    root_logger.setLevel(logging.WARNING)
    logging.getLogger("hubcli").setLevel(logging.DEBUG if debug else logging.NOTSET)


def _show_warning(
    message: Warning | str, category: type[Warning], *args: object, **kwargs: object
) -> None:
    output.warn(str(message))


def main() -> None:
    """Console-script entry point: only bugs, Ctrl-C and errors under --debug reach the
    handlers here."""
    debug = "--debug" in sys.argv[1:]
    try:
        app()
    except KeyboardInterrupt:
        output.error("interrupted", kind="KeyboardInterrupt")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:
        code = exc.exit_code if isinstance(exc, HubcliError) else 1
        if debug:
            # Printed here, not by Python's hook: the chain quotes library texts (URLs
            # with their signatures), and Typer replaces sys.excepthook on every run.
            sys.stderr.write(format_exception(exc))
            sys.exit(code)
        output.error(
            f"internal error: {type(exc).__name__}: {exc}",
            kind=type(exc).__name__,
            hint="re-run with --debug",
        )
        sys.exit(1)
