"""Command-line values converted without pydantic where the conversion is plain.

Typer 0.29 converts every parameter's value with a pydantic TypeAdapter that it builds
when the command runs: importing pydantic and building the adapters of a command's
options took 0.15 s of every call's start-up, more than the rest of the parsing
(issue #15: CI scripts call hubcli hundreds of times), and left tens of thousands of
objects that every later garbage collection walked (0.09 s more over an append).

Every option of hubcli is a str, a bool flag, an int, a Path, an enum, or a list of
str. Their well-formed values are converted here, to what Typer's adapter gives for
them (tests/cli/test_coercion.py compares the two on each kind); anything else, which
includes every value Typer would refuse, goes to Typer's own conversion, built on first
use, so that its error messages stay the ones users see.

This leans on Typer's private parameter API (a parameter's ``_runtime_param``, built
on first use, and the conversion helpers of ``typer._param_types``). A Typer without it
(0.26 to 0.28, which do not use pydantic) keeps its own conversion: :func:`install`
changes only parameters that have that attribute.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path
from typing import Any, get_args, get_origin

#: A decimal int that pydantic reads as Python does (no sign, space, underscore or
#: non-ASCII digit: those go to Typer).
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)\Z")


class NotPlain(Exception):
    """The value is not one this module converts: Typer's conversion takes it."""


def install(command: Any, ctx: Any) -> None:
    """Give each parameter of ``command`` (its help option included, which Click makes
    on first use from ``ctx``'s settings) the plain conversion, unless Typer has built
    its own already."""
    for param in command.get_params(ctx):
        if getattr(param, "_runtime_param", False) is None and hasattr(param, "type_descriptor"):
            param._runtime_param = PlainConversion(param.type_descriptor)


class PlainConversion:
    """A parameter's conversion (Typer's ``RuntimeParam`` interface): :func:`plain`
    where it applies, else Typer's own."""

    def __init__(self, descriptor: Any) -> None:
        self.descriptor = descriptor
        self._typer: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        try:
            return plain(self.descriptor, value, multiple=param.multiple or param.nargs == -1)
        except NotPlain:
            pass
        if self._typer is None:
            from typer._coercion import build_runtime_param

            self._typer = build_runtime_param(self.descriptor)
        return self._typer.coerce(value, param=param, ctx=ctx)


def plain(descriptor: Any, value: Any, *, multiple: bool = False) -> Any:
    """``value`` converted as Typer's adapter for ``descriptor`` converts it, for the
    plain cases; raises :class:`NotPlain` for every other."""
    annotation, info = descriptor.annotation, descriptor.parameter_info
    if value is None:
        return () if multiple else None  # as Typer's, without building its adapter
    if info.parser is not None or descriptor.file_annotation is not None:
        raise NotPlain
    if get_origin(annotation) is list and get_args(annotation) == (str,):
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
        raise NotPlain
    if multiple:
        raise NotPlain
    if annotation is bool and isinstance(value, bool):
        return value
    if annotation is str and isinstance(value, str):
        return value
    if annotation is int:
        return _int(value, info)
    if annotation is Path and info.path_type is None and isinstance(value, (str, Path)) and value:
        return _path(Path(value), info)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _choice(annotation, value, info.case_sensitive)
    raise NotPlain


def _int(value: Any, info: Any) -> int:
    """A decimal text, or an int (a default), within the option's bounds."""
    if isinstance(value, str) and _DECIMAL.match(value):
        number = int(value)
    elif type(value) is int:  # not a bool
        number = value
    else:
        raise NotPlain
    low, high = info.min, info.max
    if info.clamp or (low is not None and number < low) or (high is not None and number > high):
        raise NotPlain  # Typer clamps, or says what the bounds are
    return number


def _path(path: Path, info: Any) -> Any:
    """Typer's checks of a path option (exists, file or directory, readable...), which
    it makes after pydantic has made the Path; a refusal goes to Typer for its text."""
    from typer._click.exceptions import BadParameter
    from typer._param_types import coerce_cli_path

    try:
        return coerce_cli_path(path, info, path_type=Path)
    except BadParameter:
        raise NotPlain from None


def _choice(annotation: type[enum.Enum], value: Any, case_sensitive: bool) -> Any:
    """The member of ``annotation`` that ``value`` names (Typer's matching, without a
    context's token normalisation, which hubcli does not set)."""
    from typer._param_types import coerce_cli_choice

    try:
        return coerce_cli_choice(value, choices=tuple(annotation), case_sensitive=case_sensitive)
    except ValueError:
        raise NotPlain from None  # Typer says which values there are
