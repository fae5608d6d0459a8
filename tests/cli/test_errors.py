"""Errors from the shell: exit 1 with one line for data problems, 2 for usage; nothing changed."""

from __future__ import annotations

import pytest

from support.clirun import assert_usage_error, assert_user_error, hubcli_run
from support.helpers import snapshot


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["info", "{missing}"],
            "no hubcli dataset at {missing}; create one with: hubcli create {missing}",
        ),
        (["shape", "{ds}", "clips[0]"], "no tensor 'clips' in {ds} (tensors: videos)"),
        (
            ["shape", "{ds}", "videos[0, 1:"],
            "bad selector 'videos[0, 1:': expected ']' at column 13",
        ),
        (["timestamps", "{ds}", "videos[0, [1, 2"], "bad selector"),
        (
            ["shape", "{ds}", "videos[0, 60]"],
            "frame 60 is out of range for videos[0], which has 60 frames",
        ),
        (
            ["export", "{ds}", "videos[7]", "-o", "{tmp}/x.npy"],
            "sample 7 is out of range for tensor 'videos'",
        ),
        (["append", "{ds}", "videos", "{tmp}/missing.mp4"], "missing.mp4: no such file"),
        (["append", "{ds}", "videos", "{notvideo}"], "notes.mp4: not a video file FFmpeg can read"),
        (["append", "{ds}", "videos", "{truncated}"], "cut.mp4: the file is truncated"),
        (
            ["create", "{ds}"],
            "a hubcli dataset already exists at {ds}; to replace it, pass --overwrite",
        ),
        (["create-tensor", "{ds}", "videos"], "tensor 'videos' already exists"),
        (["create-tensor", "{ds}", "../evil"], "invalid tensor name '../evil'"),
        (["info", "{ds}", "videos[0, 3]"], "info describes tensors and samples, not frames"),
        (["export", "{ds}", "videos[0]", "-o", "{tmp}/no/such/dir/x.npy"], "cannot write"),
    ],
)
def test_user_errors(cli_ds, tmp_path, corpus, args, needle):
    notvideo = tmp_path / "notes.mp4"
    notvideo.write_text("not a video\n" * 100)
    data = corpus["faststart"].read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    names = {
        "ds": cli_ds,
        "tmp": tmp_path,
        "missing": tmp_path / "nothing",
        "notvideo": notvideo,
        "truncated": tmp_path / "cut.mp4",
    }
    before = snapshot(cli_ds)
    run = hubcli_run(*[a.format(**names) for a in args])
    assert_user_error(run, needle.format(**names))
    assert snapshot(cli_ds) == before
    assert not (tmp_path / "x.npy").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["frobnicate"], "No such command 'frobnicate'"),
        (["shape", "{ds}"], "Missing argument 'selector'; see: hubcli shape --help"),
        (["create-tensor", "{ds}", "x", "--htype", "image"], "'image' is not one of 'video'"),
        (["create-tensor", "{ds}", "x", "--sample-compression", "gif"], "'gif' is not one of"),
        (["info", "{ds}", "--bogus"], "No such option: --bogus"),
        (["append", "{ds}", "videos"], "give video files or --from-file LIST"),
        (["export", "{ds}", "videos[0]"], "Missing option '--output'"),
    ],
)
def test_usage_errors(cli_ds, args, needle):
    before = snapshot(cli_ds)
    assert_usage_error(hubcli_run(*[a.format(ds=cli_ds) for a in args]), needle)
    assert snapshot(cli_ds) == before


def test_debug_shows_the_traceback(tmp_path):
    run = hubcli_run("--debug", "info", str(tmp_path / "nothing"))
    assert run.code == 1
    assert "Traceback" in run.stderr and "DatasetNotFoundError" in run.stderr


def test_no_color_and_no_markup_in_errors(tmp_path):
    run = hubcli_run("info", str(tmp_path / "[bold]x[/bold]"))
    assert "[bold]x[/bold]" in run.stderr and "\x1b[" not in run.stderr


def test_typer_runner_sees_the_same_translation(tmp_path):
    """Unit level (typer.testing, never click's runner): one line, exit 1, SystemExit."""
    from typer.testing import CliRunner

    from hubcli.cli import app

    result = CliRunner().invoke(app, ["info", str(tmp_path / "none")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stdout == "" and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: no hubcli dataset at")
