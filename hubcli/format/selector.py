"""Selectors: the shell spelling of an index, ``videos[0, 100:200:5]`` (format_spec/selectors.md).

Grammar (whitespace is allowed between tokens)::

    selector = name [ "[" item { "," item } "]" ]
    name     = ( letter | "_" ) { letter | digit | "_" | "-" }
    item     = slice | list | int
    slice    = [ int ] ":" [ int ] [ ":" [ int ] ]
    list     = "[" [ int { "," int } [ "," ] ] "]"
    int      = [ "-" | "+" ] digit { digit }      (at most 19 digits; fits int64)

letter, digit and whitespace are ASCII only: ``str.isdigit`` and friends accept Unicode
(``"٣".isdigit()``), which would let ``videos[1٣]`` select sample 13.

Parsed by hand: no ``eval``, and every error names the column where it went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hubcli.errors import SelectorError

MAX_ITEMS = 5  # sample, frame, row, column, channel
# An index fits int64, so its digits are bounded before int() sees them: int() refuses
# more than 4300 digits with a ValueError, and 2**63 - 1 has 19.
MAX_DIGITS = 19
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
MAX_SHOWN = 80  # longer selectors are cut in messages, so an error stays one short line
ASCII_DIGITS = frozenset("0123456789")
ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
ASCII_SPACE = frozenset(" \t\n\r")
NAME_START = ASCII_LETTERS | {"_"}
NAME_REST = ASCII_LETTERS | ASCII_DIGITS | {"_", "-"}


@dataclass(frozen=True)
class Selector:
    """A tensor name and the index that follows it (empty: the whole tensor)."""

    tensor: str
    index: tuple[Any, ...] = ()
    text: str = ""

    def __str__(self) -> str:
        return self.text or self.tensor


def parse_selector(text: str) -> Selector:
    """Parse ``text``; raise SelectorError naming the column of the first problem."""
    return _Parser(text).selector()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def shown(self) -> str:
        """The selector as quoted in messages: repr escapes control characters."""
        if len(self.text) <= MAX_SHOWN:
            return repr(self.text)
        return f"{self.text[:MAX_SHOWN]!r}... ({len(self.text)} characters)"

    def fail(self, expected: str) -> SelectorError:
        found = repr(self.text[self.pos]) if self.pos < len(self.text) else "the end"
        return SelectorError(
            f"bad selector {self.shown()}: expected {expected} at column {self.pos + 1}, "
            f"found {found}",
            hint="write it like videos, videos[0], videos[0, 100:200:5] or videos[0, [3, 1, 4]]",
        )

    def at(self, allowed: frozenset[str]) -> bool:
        return self.pos < len(self.text) and self.text[self.pos] in allowed

    def skip_space(self) -> None:
        while self.at(ASCII_SPACE):
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.fail(repr(char))
        self.pos += 1

    def selector(self) -> Selector:
        name = self.name()
        index: list[Any] = []
        if self.peek() == "[":
            self.pos += 1
            index.append(self.item())
            while self.peek() == ",":
                self.pos += 1
                if len(index) == MAX_ITEMS:
                    raise self.fail(f"']' (at most {MAX_ITEMS} indices)")
                index.append(self.item())
            self.expect("]")
        if self.peek():
            raise self.fail("'[' or the end" if not index else "the end")
        return Selector(name, tuple(index), self.text.strip())

    def name(self) -> str:
        self.skip_space()
        start = self.pos
        if self.at(NAME_START):
            self.pos += 1
            while self.at(NAME_REST):
                self.pos += 1
        if self.pos == start:
            raise self.fail("a tensor name")
        return self.text[start : self.pos]

    def item(self) -> Any:
        if self.peek() == "[":
            return self.int_list()
        if not self.peek() or self.peek() not in "+-:0123456789":
            raise self.fail("an integer, a slice or a list")
        start = None if self.peek() == ":" else self.integer()
        if self.peek() != ":":
            return start
        self.pos += 1
        stop = None if self.peek() in (":", ",", "]", "") else self.integer()
        step = None
        if self.peek() == ":":
            self.pos += 1
            step = None if self.peek() in (",", "]", "") else self.integer()
            if step == 0:
                raise SelectorError(f"bad selector {self.shown()}: slice step cannot be zero")
        return slice(start, stop, step)

    def int_list(self) -> list[int]:
        self.expect("[")
        values: list[int] = []
        while self.peek() != "]":
            values.append(self.integer())
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "]":
                raise self.fail("',' or ']'")
        self.pos += 1
        return values

    def integer(self) -> int:
        self.skip_space()
        start = self.pos
        if self.pos < len(self.text) and self.text[self.pos] in "+-":
            self.pos += 1
        digits = self.pos
        while self.at(ASCII_DIGITS):
            self.pos += 1
        if self.pos == digits:
            self.pos = start
            raise self.fail("an integer")
        value = int(self.text[start : self.pos]) if self.pos - digits <= MAX_DIGITS else None
        if value is None or not INT_MIN <= value <= INT_MAX:
            raise SelectorError(
                f"bad selector {self.shown()}: the integer at column {start + 1} is out of range",
                hint=f"indices fit in 64 bits ({INT_MIN}..{INT_MAX})",
            )
        return value
