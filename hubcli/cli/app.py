"""The ``hubcli`` application: the Typer app, its global options, and the one place
where errors become exit codes and one line of output (:class:`HubcliGroup`).

Start-up matters (CI scripts call hubcli hundreds of times): this module and the
command modules import only Typer and hubcli's light modules at import time; each
command imports what it needs when it runs. The command modules themselves are
imported only when one of their commands runs (:mod:`hubcli.cli.catalog`), so that
``hubcli --help`` and ``hubcli info`` do not load the code of ``append`` or ``export``.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import sys
import warnings
from typing import Any

import typer

# Typer >= 0.26 vendors Click; its exceptions are not importable elsewhere. A real
# `click.UsageError` would be a different class (STYLE.md §6).
from typer._click.exceptions import ClickException, UsageError
from typer.core import TyperCommand, TyperGroup

from hubcli.cli import catalog, coercion, output
from hubcli.errors import HubcliError, HubcliWarning
from hubcli.redaction import RedactingFilter, format_exception

EXIT_INTERRUPTED = 130


class HubcliGroup(TyperGroup):
    """Every error becomes one stderr line (a JSON one with --json): ours exit 1, usage
    errors exit 2. Lives on the group, so it also works under CliRunner, which bypasses
    :func:`main`.

    The group is lazy (Click's LazyGroup pattern): it lists the commands of
    :data:`catalog.COMMANDS` and imports a command's module when that command is
    resolved; while it draws its own help page, a command it has not loaded is a
    stand-in that carries only the catalog's summary."""

    #: True while the help page's command list is drawn (see :meth:`format_help`).
    _summaries_only = False

    def list_commands(self, ctx: Any) -> list[str]:
        loaded = super().list_commands(ctx)
        return [*catalog.COMMANDS, *(name for name in loaded if name not in catalog.COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = self.commands.get(cmd_name)
        entry = catalog.COMMANDS.get(cmd_name)
        if command is not None or entry is None:
            return command
        if self._summaries_only:
            return TyperCommand(name=cmd_name, help=entry.summary)
        importlib.import_module(entry.module)  # registers its commands on `app`
        for name, loaded in typer.main.get_group(app).commands.items():
            coercion.install(loaded, ctx)
            self.commands.setdefault(name, loaded)
        return self.commands.get(cmd_name)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        coercion.install(self, ctx)  # the global options (see hubcli.cli.coercion)
        return super().parse_args(ctx, args)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._summaries_only = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._summaries_only = False

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """Typer's, with its "Did you mean" drawn from every command, not only the ones
        loaded (the app is made with ``suggest_commands=False`` for this)."""
        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:
            _suggest_commands(exc, args[:1], self.list_commands(ctx))
            raise

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


def _suggest_commands(exc: UsageError, typed: list[str], names: list[str]) -> None:
    """Typer's "Did you mean" on an unknown command (typer.core.TyperGroup)."""
    import difflib

    matches = difflib.get_close_matches(typed[0], names) if typed else []
    if matches and exc.message.startswith("No such command"):
        suggestions = ", ".join(f"{m!r}" for m in matches)
        exc.message = f"{exc.message.rstrip('.')}. Did you mean {suggestions}?"


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
    suggest_commands=False,  # HubcliGroup suggests, from commands not loaded too
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
    # The command line does no linear algebra, and OpenBLAS starts a thread pool when
    # numpy is imported: a thread that would make `--jobs` spawn its workers (about a
    # second each) where it can fork them (core/parallel.py). A user's setting stands.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
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
    finally:
        # The process ends here and the OS reclaims its memory. Python's shutdown would
        # first walk every object left with several full collections (0.2 s after an
        # append, as long as the command's own parsing); frozen, they are not walked.
        gc.freeze()
