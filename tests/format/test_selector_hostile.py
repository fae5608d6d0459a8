"""Hostile selector text (issue 13): the grammar is ASCII, integers are bounded, and any
string at all is either a selector or one SelectorError, never another exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubcli.errors import SelectorError
from hubcli.format.selector import INT_MAX, INT_MIN, parse_selector

# str.isdigit() is True for all of these, str.isalpha()/isspace() for the letters and
# spaces below: a parser built on them selected sample 13 for 'videos[1٣]'.
UNICODE_DIGITS = ["٣", "３", "¹", "߃", "𝟗", "໓"]  # noqa: RUF001 - the point of the test
UNICODE_LETTERS = ["é", "ｖ", "ß", "Ω"]  # noqa: RUF001
UNICODE_SPACES = ["\u3000", "\xa0", "\u2003", "\x1c", "\x0b"]


@pytest.mark.parametrize("digit", UNICODE_DIGITS)
def test_non_ascii_digits_are_not_digits(digit):
    assert digit.isdigit()  # why the old parser took them
    for text, column in (
        (f"videos[1{digit}]", 9),
        (f"videos[{digit}]", 8),
        (f"videos[0, 1:{digit}]", 13),
        (f"videos[0, [1, {digit}]]", 15),
    ):
        with pytest.raises(SelectorError, match=f"at column {column},"):
            parse_selector(text)


@pytest.mark.parametrize("letter", UNICODE_LETTERS)
def test_non_ascii_letters_are_not_name_characters(letter):
    with pytest.raises(SelectorError, match="at column 1,"):
        parse_selector(f"{letter}ideos")
    with pytest.raises(SelectorError, match="at column 4,"):
        parse_selector(f"vid{letter}os[0]")


@pytest.mark.parametrize("space", UNICODE_SPACES)
def test_only_ascii_whitespace_separates_tokens(space):
    assert space.isspace()
    with pytest.raises(SelectorError, match="at column 7,"):
        parse_selector(f"videos{space}[0]")
    with pytest.raises(SelectorError, match="at column 8,"):
        parse_selector(f"videos[{space}0]")


def test_ascii_whitespace_is_still_allowed():
    assert parse_selector(" \tvideos [ 0 ,\r\n1 : 5 ] ").index == (0, slice(1, 5, None))


def test_5000_digit_index_is_a_selector_error_naming_the_column():
    # int() refuses more than 4300 digits with a ValueError (an internal error before).
    text = f"videos[0, {'7' * 5000}]"
    with pytest.raises(SelectorError) as caught:
        parse_selector(text)
    message = str(caught.value)
    assert "the integer at column 11 is out of range" in message
    assert "\n" not in message and len(message) < 300  # one line, the text cut short


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        (str(INT_MAX), True),
        (str(INT_MIN), True),
        ("+" + str(INT_MAX), True),
        (str(INT_MAX + 1), False),
        (str(INT_MIN - 1), False),
        ("9" * 19, False),
        ("1" + "0" * 19, False),
        ("0" * 20, False),  # at most 19 digits, whatever their value
    ],
)
def test_integers_fit_int64(number, ok):
    text = f"videos[{number}]"
    if ok:
        assert parse_selector(text).index == (int(number),)
    else:
        with pytest.raises(SelectorError, match="column 8 is out of range"):
            parse_selector(text)


def check_total(text: str) -> None:
    """A selector, or a one-line SelectorError; a parsed one is ASCII and int64-bounded."""
    try:
        parsed = parse_selector(text)
    except SelectorError as exc:
        message = str(exc)
    else:
        message = ""
    assert "\n" not in message
    if message:
        return
    assert parsed.tensor.isascii()
    for item in parsed.index:
        parts = item if isinstance(item, list) else [item]
        if isinstance(item, slice):
            parts = [item.start, item.stop, item.step]
        for part in parts:
            assert part is None or (type(part) is int and INT_MIN <= part <= INT_MAX)


@settings(deadline=None, max_examples=400)
@given(st.text())
def test_any_text_is_a_selector_or_a_selector_error(text):
    check_total(text)


# Text built from the grammar's own tokens mixed with look-alikes reaches every branch.
TOKENS = st.sampled_from(
    [
        *["videos", "_x-1", "[", "]", ",", ":", "-", "+", "0", "7", "9" * 19, "9" * 25, " ", "\t"],
        *UNICODE_DIGITS,
        *UNICODE_LETTERS,
        *UNICODE_SPACES,
    ]
)


@settings(deadline=None, max_examples=400)
@given(st.lists(TOKENS | st.characters(), max_size=24).map("".join))
def test_grammar_like_text_is_a_selector_or_a_selector_error(text):
    check_total(text)
