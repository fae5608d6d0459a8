"""Hostile text from data reaching the terminal (issue 13): file names and paths are shown
as text, never as Rich markup, with control characters escaped; --json is strict JSON;
selectors take ASCII digits only."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

import hubcli
from hubcli.cli import output
from support.clirun import assert_user_error, hubcli_run
from support.crafting import edit_segment_header
from support.media import VideoSpec, make_video

# A file name may hold anything but '/' and NUL. These pieces, if obeyed, close a Rich tag
# that was never opened (the crash), open a clickable link (OSC 8 under a terminal),
# colour the line, move the cursor home (\r), start an 8-bit CSI (\x9b) and reverse the
# text that follows (U+202E, U+2066).
NASTY = "[red]R\x1b[31mE\rC\u202eD\x7f\x9b\u2066"
# The link tag needs '/', so its pieces are folders; the shown path is one string.
LINK = "[link=http://evil.example]x[/link]"
ESCAPED = r"[red]R\x1b[31mE\x0dC\u202eD\x7f\x9b\u2066"

PIPE = {"NO_COLOR": "1"}
# TTY_COMPATIBLE=1 makes Rich treat stdout as a terminal (it emits styles and links).
TERMINAL = {"TTY_COMPATIBLE": "1", "TERM": "xterm-256color", "NO_COLOR": ""}
SGR = re.compile(r"\x1b\[[0-9;]*m")  # Rich's own styles (bold headers) under a terminal
# What a terminal obeys (C0 but the newline, DEL, C1, bidi controls, line separators);
# written out here rather than taken from hubcli, so the test is its own oracle.
OBEYED = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


@pytest.fixture(scope="module")
def small_video(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("video")
    return make_video(VideoSpec("small", "mp4", "libx264", frames=12), folder / "small.mp4")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, small_video) -> tuple[Path, list[str]]:
    """A dataset in a folder whose name is hostile too, holding two hostile names."""
    tmp = tmp_path_factory.mktemp("hostile")
    names = [
        f"{tmp}/src/a[/]b{NASTY}.mp4",  # folder 'a[', file ']b...'
        f"{tmp}/src/{LINK}{NASTY}.mp4",
    ]
    for name in names:
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_bytes(small_video.read_bytes())
    root = tmp / "x[" / f"]y{NASTY}"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    # file:// because a plain path holding '://' is taken for a URL.
    ds.videos.extend([f"file://{name}" for name in names])
    assert [s.sample_info["filename"] for s in ds.videos] == names
    return root, names


def check_shown_as_text(stdout: str, env: dict[str, str]) -> None:
    assert "\x1b]" not in stdout  # no OSC 8 hyperlink (nor any other OSC)
    if env is PIPE:
        assert "\x1b" not in stdout
    styles = SGR.findall(stdout)
    text = SGR.sub("", stdout)
    if env is PIPE:
        # In a pipe a table is tab-separated lines: every line of it has the header's
        # number of tabs, so no tab came from the data (it would add a column).
        rows = [line for line in text.splitlines() if "\t" in line]
        assert len({line.count("\t") for line in rows}) <= 1, stdout
        text = text.replace("\t", " ")
    assert not OBEYED.findall(text), stdout
    assert "\x1b[31m" not in styles  # neither the file's ESC nor its [red] made colour


@pytest.mark.parametrize("env", [PIPE, TERMINAL], ids=["pipe", "terminal"])
@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["info", "{ds}"], [ESCAPED]),  # the dataset's path, in the title
        (["info", "{ds}", "videos"], [ESCAPED, LINK]),
        (["info", "{ds}", "videos[0]"], [ESCAPED]),
        (["info", "{ds}", "videos[1]"], [ESCAPED, LINK]),
        (["info", "{ds}", "videos[0:2]"], [ESCAPED, LINK]),
        (["verify", "{ds}"], []),
        (["shape", "{ds}", "videos"], []),
        (["timestamps", "{ds}", "videos[1, :2]"], []),
    ],
)
def test_hostile_names_are_shown_escaped(hostile, args, shown, env):
    root, _ = hostile
    run = hubcli_run(*(a.format(ds=root) for a in args), env={**env, "COLUMNS": "400"})
    assert run.code == 0, run.stderr  # `info` crashed on '[/]' with a MarkupError
    assert run.stderr == "" or env is TERMINAL  # a terminal gets verify's progress bar
    check_shown_as_text(run.stdout, env)
    for text in shown:  # escaped; a link tag shown as typed, not turned into a link
        assert text in run.stdout, run.stdout


def test_info_of_a_dataset_in_folder_x_slash_y(tmp_path):
    root = tmp_path / "x[" / "]y"  # the path reads x[/]y: a closing tag with no opening
    hubcli.empty(root).create_tensor("videos")
    run = hubcli_run("info", str(root))
    assert run.code == 0, run.stderr
    assert run.lines[0] == f"{root} (version 1, format 1.2)"


def test_json_keeps_the_names_exact_and_escapes_controls(hostile):
    root, names = hostile
    run = hubcli_run("info", str(root), "videos", "--json")
    assert run.code == 0
    assert not OBEYED.findall(run.stdout)  # C0 by json itself; DEL, C1 and bidi \u-escaped by us
    assert [s["filename"] for s in run.json()["samples"]] == names


def test_print_lines_escapes_controls_and_keeps_one_value_a_line(capsys):
    output.print_lines(["a\nb\x1b[2J\u202ec", "plain [/] [bold]x"])
    assert capsys.readouterr().out == "a\\x0ab\\x1b[2J\\u202ec\nplain [/] [bold]x\n"


def test_print_table_takes_data_as_text(capsys):
    output.print_table("t [/]", ["k [/]", "v"], [["[link=http://e]x[/link]", "\x1b[31m"]])
    out = capsys.readouterr().out
    assert "t [/]" in out and "[link=http://e]x[/link]" in out and r"\x1b[31m" in out
    assert "\x1b" not in out


# --- selectors from the shell --------------------------------------------------------


def test_shape_refuses_a_non_ascii_digit(hostile):
    # Python's int() reads '1٣' as 13: this selected sample 13 of a 14-sample tensor.
    root, _ = hostile
    assert_user_error(hubcli_run("shape", str(root), "videos[1٣]"), "at column 9")


def test_shape_refuses_5000_digits_in_one_line(hostile):
    root, _ = hostile
    run = hubcli_run("shape", str(root), f"videos[0, {'9' * 5000}]")
    assert_user_error(run, "the integer at column 11 is out of range")
    assert "internal error" not in run.stderr and len(run.stderr) < 400


# --- --json is JSON ------------------------------------------------------------------


def strict_json(text: str) -> object:
    """json.loads that refuses NaN and Infinity, as every JSON parser but Python's does."""

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_print_json_writes_non_finite_floats_as_null(capsys):
    nan, inf = math.nan, math.inf
    output.print_json({"fps": nan, "t": [inf, -inf, 1.5], "deep": {"x": (nan, 2)}})
    assert strict_json(capsys.readouterr().out) == {
        "fps": None,
        "t": [None, None, 1.5],
        "deep": {"x": [None, 2]},
    }


def craft_fps(root: Path, fps: float) -> None:
    """Rewrite sample 0's fps in its segment header, and re-bind the header (its CRC-32
    and size), as a hostile writer following format_spec/ would."""
    edit_segment_header(root, lambda header: header["samples"][0].update(fps=fps))


@pytest.mark.parametrize("fps", [math.nan, math.inf, -math.inf])
def test_json_of_a_crafted_fps_is_json(tmp_path, small_video, fps):
    root = tmp_path / "ds"
    hubcli.empty(root).create_tensor("videos")
    hubcli.load(root).videos.append(str(small_video))
    craft_fps(root, fps)
    for args in (["videos"], ["videos[0]"]):
        run = hubcli_run("info", str(root), *args, "--json")
        if run.code == 1:  # a reader may refuse the fps as corrupt: one JSON error line
            assert run.stdout == "" and run.stderr.count("\n") == 1, run.stderr
            error = strict_json(run.stderr)["error"]
            assert error["type"] == "CorruptDatasetError" and "fps" in error["message"]
            continue
        assert run.code == 0, run.stderr
        doc = strict_json(run.stdout)
        info = doc["samples"][0] if args == ["videos"] else doc
        assert info["fps"] is None
