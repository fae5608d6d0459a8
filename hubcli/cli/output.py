"""Where CLI output goes: results to stdout (plain, Rich tables, or one JSON document),
progress, warnings and errors to stderr. Rich honours NO_COLOR by itself.

Every string here may come from data (a file name, a path, a URL, a reason naming them),
so it is printed as text, never as Rich markup, and with control characters escaped.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubcli.redaction import redact

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import TextIO

    # Rich loads when something is drawn or a console is asked about its terminal
    # (start-up time: `hubcli info DS > file` prints without it).
    from rich.console import Console
    from rich.text import Text


@dataclass
class Settings:
    """The options every command takes (before or after its name), for this run."""

    debug: bool = False
    quiet: bool = False
    #: Results as one JSON document on stdout, errors as one JSON line on stderr.
    json: bool = False


SETTINGS = Settings()


# What a terminal obeys instead of showing: C0 controls (ESC starts colour, cursor and
# OSC 8 hyperlink sequences; \r rewrites the line), DEL, C1 controls (\x9b is an 8-bit
# CSI), and the Unicode bidi controls and line separators that reorder or break the
# shown text (the "Trojan Source" characters).
_BEYOND_C0 = "\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
UNSAFE_CHARS = re.compile(f"[\x00-\x1f{_BEYOND_C0}]")
# json.dumps escapes C0 itself; the rest it writes raw (and its indent needs "\n").
_JSON_UNSAFE_CHARS = re.compile(f"[{_BEYOND_C0}]")


def escape_control(text: str) -> str:
    """``text`` with every character of UNSAFE_CHARS written as a visible escape
    (``\\x1b``, ``\\u202e``), so data is shown, never obeyed by the terminal."""
    return UNSAFE_CHARS.sub(_escape_char, text)


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def plain(value: object) -> Text:
    """A value from data as Rich text: no markup, emoji codes or highlighting applied."""
    from rich.text import Text

    return Text(escape_control(str(value)))


def stdout_console() -> Console:
    from rich.console import Console

    # markup/emoji/highlight off: a str that reaches print() by mistake is still text.
    return Console(file=sys.stdout, soft_wrap=True, markup=False, emoji=False, highlight=False)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(
        file=sys.stderr, stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False
    )


def print_json(document: Any) -> None:
    """Exactly one JSON document on stdout. Non-finite floats (a crafted fps) become
    null, as JSON has no NaN; DEL, C1 and bidi controls are \\u-escaped like the C0 ones
    json escapes itself (they only occur inside strings, so the data is unchanged)."""
    text = json.dumps(_finite(document), indent=2, ensure_ascii=False, allow_nan=False)
    sys.stdout.write(_JSON_UNSAFE_CHARS.sub(_json_escape_char, text) + "\n")


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float, however deeply nested, replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _json_escape_char(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def print_lines(lines: list[str]) -> None:
    """Plain values for shell scripts: no markup, no wrapping, control characters escaped
    (a newline inside a value cannot start a new line)."""
    sys.stdout.write("".join(f"{escape_control(line)}\n" for line in lines))


def print_rows(rows: list[list[Any]]) -> None:
    """Tab-separated values for shell scripts (``cut -f``): each cell escaped on its own
    (a tab or newline inside a value cannot break the columns), cells joined by tabs."""
    sys.stdout.write("".join("\t".join(escape_control(str(c)) for c in row) + "\n" for row in rows))


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A Rich table on a terminal; anywhere else (a pipe, a file) the title on a line of
    its own, then tab-separated lines, a header line first, every value whole: a table
    fitted to 80 columns would cut file names. Data is text either way (``[/]`` in a
    path is shown, not parsed)."""
    console = None if surely_not_terminal(sys.stdout) else stdout_console()
    if console is None or not console.is_terminal:
        print_lines([title])
        print_rows([columns, *rows])
        return
    from rich.table import Table  # imported when a table is printed: start-up time

    table = Table(title=plain(title), title_justify="left")
    for column in columns:
        table.add_column(plain(column))
    for row in rows:
        table.add_row(*(plain(cell) for cell in row))
    console.print(table)


def surely_not_terminal(stream: TextIO) -> bool:
    """True where Rich's ``Console.is_terminal`` would say False without asking Rich
    (which then need not load): not a tty, and neither TTY_COMPATIBLE=1 nor FORCE_COLOR
    (which Rich obeys) says otherwise. False means "ask Rich"."""
    if os.environ.get("TTY_COMPATIBLE") == "1" or os.environ.get("FORCE_COLOR") is not None:
        return False
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream: Rich says False
        return True


def plural(count: int, noun: str) -> str:
    """``1 sample``, ``3 samples``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def error(message: str, *, kind: str = "HubcliError", hint: str | None = None) -> None:
    """The one place the CLI prints an error: one line on stderr, redacted
    (hubcli/redaction.py), since "internal error" lines quote library texts that may hold
    a signed URL. With --json the line is ``{"error": {"type", "message", "hint"}}``:
    ``kind`` is the exception's class name, ``hint`` the fix (else part of the text)."""
    if SETTINGS.json:
        document = {
            "type": kind,
            "message": redact(message),
            "hint": redact(hint) if hint else None,
        }
        _json_line({"error": document})
        return
    shown = f"{message}; {hint}" if hint else message
    stderr_console().print(f"error: {redact(shown)}", markup=False, highlight=False)


def warn(message: str) -> None:
    """One ``warning:`` line on stderr; with --json a ``{"warning": {"message"}}`` line,
    so that every line a JSON run writes to stderr parses."""
    if SETTINGS.json:
        _json_line({"warning": {"message": redact(message)}})
        return
    stderr_console().print(f"warning: {redact(message)}", markup=False, highlight=False)


def _json_line(document: dict[str, Any]) -> None:
    text = json.dumps(document, ensure_ascii=False)
    sys.stderr.write(_JSON_UNSAFE_CHARS.sub(_json_escape_char, text) + "\n")


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


@contextmanager
def progress(
    description: str, total: int | None, *, in_bytes: bool = False
) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr, advanced by the callback it yields. Off when stderr is
    not a terminal, or with --quiet."""
    console = stderr_console()
    if SETTINGS.quiet or not console.is_terminal or total == 0:
        yield lambda n: None
        return
    from rich.progress import (  # imported when a bar is shown: start-up time
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    count = DownloadColumn() if in_bytes else MofNCompleteColumn()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        count,
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


class FileProgress:
    """Progress of work over several files: which file (``appending file 3/9``) and the
    bytes done of the total, shown by ``render`` after each change (None: nothing)."""

    def __init__(
        self,
        verb: str,
        files: int,
        total: int | None,
        render: Callable[[FileProgress, bool], None] | None = None,
    ) -> None:
        self.verb, self.files, self.total = verb, files, total
        self.current = 0
        self.name = ""
        self.completed = 0
        self._render = render

    @property
    def description(self) -> str:
        return f"{self.verb} file {self.current}/{self.files}"

    def start(self, name: str) -> None:
        """The next file begins."""
        self.current += 1
        self.name = name
        self._show(started=True)

    def add_total(self, nbytes: int) -> None:
        """A file whose size was unknown (a URL) turned out ``nbytes`` long."""
        self.total = (self.total or 0) + nbytes
        self._show(started=False)

    def set_completed(self, nbytes: int) -> None:
        self.completed = nbytes
        self._show(started=False)

    def _show(self, *, started: bool) -> None:
        if self._render is not None:
            self._render(self, started)


#: Seconds between two redraws of a file bar (Rich's own rate): drawing costs
#: milliseconds, and files can be stored faster than that.
_REDRAW = 0.1


@contextmanager
def file_progress(
    verb: str, files: int, total: int | None, *, interval: float = 1.0
) -> Iterator[FileProgress]:
    """Progress on stderr: a Rich bar on a terminal; elsewhere (a CI log), for several
    files, one plain line as a file starts, at most one every ``interval`` seconds (the
    first and the last file always; for one file the result line says it all, and an
    error stays the only line); nothing with --quiet."""
    console = stderr_console()
    if SETTINGS.quiet or files == 0:
        yield FileProgress(verb, files, total)
    elif not console.is_terminal:
        yield FileProgress(verb, files, total, _PlainLines(interval) if files > 1 else None)
    else:
        yield from _rich_file_progress(console, verb, files, total)


class _PlainLines:
    """``appending file 3/9: c.mp4 (12.3 MB of 40.0 MB done)``, throttled; with --json
    a ``{"progress": {...}}`` line."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last: float | None = None

    def __call__(self, progress: FileProgress, started: bool) -> None:
        if not started:
            return
        now = time.monotonic()
        edge = progress.current in (1, progress.files)
        if not edge and self.last is not None and now - self.last < self.interval:
            return
        self.last = now
        if SETTINGS.json:
            _json_line({"progress": _progress_document(progress)})
        else:
            done = human_bytes(progress.completed)
            of = f" of {human_bytes(progress.total)}" if progress.total else ""
            line = f"{progress.description}: {progress.name} ({done}{of} done)"
            sys.stderr.write(escape_control(redact(line)) + "\n")
        sys.stderr.flush()


def _progress_document(progress: FileProgress) -> dict[str, Any]:
    return {
        "verb": progress.verb,
        "file": progress.current,
        "files": progress.files,
        "name": redact(progress.name),
        "bytes_done": progress.completed,
        "bytes_total": progress.total,
    }


def _rich_file_progress(
    console: Console, verb: str, files: int, total: int | None
) -> Iterator[FileProgress]:
    from rich.progress import (  # imported when a bar is shown: start-up time
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    # The description holds no data (no file name): Rich reads it as markup.
    # Drawn as the work reports, not by Rich's refresh thread: a process that runs one
    # thread alone can fork `--jobs` workers (core/parallel.py), which start in
    # milliseconds where spawned ones take about a second.
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        auto_refresh=False,
    ) as bar:
        task = bar.add_task(f"{verb} file 0/{files}", total=total)
        drawn = 0.0

        def render(progress: FileProgress, started: bool) -> None:
            nonlocal drawn
            now = time.monotonic()
            due = now - drawn >= _REDRAW
            bar.update(
                task,
                description=progress.description,
                completed=progress.completed,
                total=progress.total,
                refresh=due,
            )
            if due:
                drawn = now

        bar.refresh()
        yield FileProgress(verb, files, total, render)
