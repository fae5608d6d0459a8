"""Where CLI output goes: results to stdout (plain, Rich tables, or one JSON document),
progress, warnings and errors to stderr. Rich honours NO_COLOR by itself."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@dataclass
class Settings:
    """Global options, kept on the Typer context."""

    debug: bool = False
    quiet: bool = False


SETTINGS = Settings()


def stdout_console() -> Console:
    return Console(file=sys.stdout, soft_wrap=True)


def stderr_console() -> Console:
    return Console(file=sys.stderr, stderr=True, soft_wrap=True)


def print_json(document: Any) -> None:
    """Exactly one JSON document on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def print_lines(lines: list[str]) -> None:
    """Plain values for shell scripts: no markup, no wrapping."""
    sys.stdout.write("".join(f"{line}\n" for line in lines))


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    stdout_console().print(table)


def error(message: str) -> None:
    stderr_console().print(f"error: {message}", markup=False, highlight=False)


def warn(message: str) -> None:
    stderr_console().print(f"warning: {message}", markup=False, highlight=False)


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
