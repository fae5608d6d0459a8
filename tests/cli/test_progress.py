"""Progress bars: on a terminal's stderr only, off with --quiet, uncoloured with NO_COLOR."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess

import pytest

import hubcli
from support.clirun import HUBCLI

SGR_COLOUR = re.compile(r"\x1b\[[0-9;]*3[0-9](;[0-9]+)*m")  # a foreground colour


def _append_on_a_terminal(root, source, *extra, env=None):
    """Run append with stderr on a pseudo-terminal; return (stdout, what the terminal got)."""
    main, side = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    environment.update({"COLUMNS": "120", "TERM": "xterm-256color", **(env or {})})
    proc = subprocess.Popen(
        [HUBCLI, *extra, "append", str(root), "videos", str(source)],
        stdout=subprocess.PIPE,
        stderr=side,
        env=environment,
    )
    os.close(side)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    stdout, _ = proc.communicate(timeout=120)
    os.close(main)
    assert proc.returncode == 0
    return stdout.decode(), b"".join(chunks).decode(errors="replace")


@pytest.fixture
def target(tmp_path):
    hubcli.empty(tmp_path / "ds").create_tensor("videos")
    return tmp_path / "ds"


def test_progress_on_a_terminal(target, corpus):
    stdout, terminal = _append_on_a_terminal(target, corpus["h264_bframes"])
    assert "appending" in terminal
    assert stdout.startswith("appended 1 sample (")  # results stay on stdout


def test_quiet_has_no_progress(target, corpus):
    _, terminal = _append_on_a_terminal(target, corpus["h264_bframes"], "--quiet")
    assert terminal == ""


def test_no_color(target, corpus):
    _, coloured = _append_on_a_terminal(target, corpus["h264_bframes"])
    _, plain = _append_on_a_terminal(target, corpus["hevc"], env={"NO_COLOR": "1"})
    assert "appending" in plain
    assert SGR_COLOUR.search(coloured), "the check for colour codes found none without NO_COLOR"
    assert not SGR_COLOUR.search(plain)


def test_the_file_bar_runs_no_thread():
    """A bar drawn by Rich's refresh thread would make `append --jobs N` spawn its workers
    (about a second each) instead of forking them: the bar is drawn as the work reports."""
    from rich.console import Console

    from hubcli.cli import output

    def threads():
        return len(os.listdir("/proc/self/task"))

    screen = io.StringIO()
    console = Console(force_terminal=True, file=screen, width=100)
    before = threads()
    bars = output._rich_file_progress(console, "appending", 3, 100)
    progress = next(bars)
    progress.start("a.mp4")
    progress.set_completed(50)
    assert threads() == before
    bars.close()
    assert "appending file 1/3" in screen.getvalue()  # drawn all the same
