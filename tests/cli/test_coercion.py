"""hubcli.cli.coercion: every option value converted as Typer's own conversion converts
it (the same value, or the same error), for every parameter of every command."""

from __future__ import annotations

import enum
from pathlib import Path

import pytest
import typer
from typer._click.core import Context
from typer._coercion import build_runtime_param

from hubcli.cli import app, catalog, coercion

INTS = ["0", "1", "-3", "2", "007", "+2", " 4", "1_000", "1.5", "x", "", "10" * 12, 0, 1, 5, True]
STRS = ["", "x", "videos[0, 1:3]", " spaced ", "ünï"]
PATHS = ["a.mp4", "/tmp", "-", "", "/nonexistent/deep/file", "~/x", Path("a"), Path("/tmp")]


def _commands():
    catalog.load_all()
    group = typer.main.get_command(app)
    found = [("hubcli", group)]
    for name, command in typer.main.get_group(app).commands.items():
        found.append((name, command))
        found += [(f"{name} {sub}", c) for sub, c in getattr(command, "commands", {}).items()]
    return found


def _values(annotation):
    if annotation is bool:
        return [True, False, "true", None]
    if annotation is int:
        return [*INTS, None]
    if annotation is str:
        return [*STRS, None]
    if annotation is Path:
        return [*PATHS, None]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        values = [m.value for m in annotation]
        return [*values, *(v.upper() for v in values), *annotation, "bogus", None]
    return [("a", "b"), ["x"], (), "a", None]  # list[str]


def _outcome(convert, value, param, ctx):
    try:
        return ("value", convert.coerce(value, param=param, ctx=ctx))
    except Exception as exc:  # the same class and text are expected of both
        return ("error", type(exc).__name__, str(exc))


CASES = [
    (f"{where} {param.name}", command, param)
    for where, command in _commands()
    for param in command.get_params(Context(command))
    if hasattr(param, "type_descriptor")
]


@pytest.mark.parametrize(("name", "command", "param"), CASES, ids=[c[0] for c in CASES])
def test_each_value_converts_as_typer_converts_it(name, command, param):
    ctx = Context(command)
    descriptor = param.type_descriptor
    ours, theirs = coercion.PlainConversion(descriptor), build_runtime_param(descriptor)
    for value in _values(descriptor.annotation):
        assert _outcome(ours, value, param, ctx) == _outcome(theirs, value, param, ctx), value


def test_every_kind_of_option_is_covered():
    """The comparison above has values for each kind hubcli declares: a new kind needs
    its own (and a look at hubcli.cli.coercion.plain)."""
    for _, _, param in CASES:
        annotation = param.type_descriptor.annotation
        is_enum = isinstance(annotation, type) and issubclass(annotation, enum.Enum)
        assert is_enum or annotation in (bool, str, int, Path, list[str]), param.name


@pytest.mark.parametrize(
    ("annotation", "value", "expected"),
    [
        (int, "12", 12),
        (int, 3, 3),
        (str, "a", "a"),
        (Path, "a/b", Path("a/b")),
        (list[str], ("a",), ["a"]),
    ],
)
def test_plain_values_are_converted_here(annotation, value, expected):
    """Not by Typer's conversion (which would import pydantic): the plain path returns."""
    param = next(p for _, _, p in CASES if p.type_descriptor.annotation == annotation)
    assert coercion.plain(param.type_descriptor, value) == expected


def test_typer_converts_what_is_not_plain():
    param = next(p for _, _, p in CASES if p.name == "jobs")
    with pytest.raises(coercion.NotPlain):
        coercion.plain(param.type_descriptor, "0")  # below its minimum: Typer explains
