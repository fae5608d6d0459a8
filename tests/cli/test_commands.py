"""Every command end to end, in a subprocess, checked against the Python API and the oracle."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hubcli
from support.clirun import assert_user_error, hubcli_run
from support.helpers import snapshot
from support.media import frame_hash


def test_version():
    run = hubcli_run("--version")
    assert run.code == 0
    from hubcli.format.version import READS

    expected = f"hubcli {hubcli.__version__} (writes format {hubcli.FORMAT_VERSION}; reads {READS})"
    assert run.stdout == expected + "\n" and "1.0, 1.1" in READS


def test_create_create_tensor_append(tmp_path, corpus):
    ds = tmp_path / "new"
    run = hubcli_run("create", str(ds), "--json")
    assert run.code == 0 and run.stderr == ""
    assert run.json() == {"path": str(ds), "version": 0, "format_version": "1.2"}
    run = hubcli_run("create-tensor", str(ds), "clips", "--sample-compression", "mkv", "--json")
    assert run.json() == {
        "tensor": "clips",
        "htype": "video",
        "sample_compression": "mkv",
        "version": 1,
    }
    sources = [str(corpus["h264_open_gop"]), str(corpus["vp9_mkv"])]
    run = hubcli_run("append", str(ds), "clips", *sources, "--json")
    # stderr is not a terminal: progress is one JSON line per file, never a bar.
    assert run.code == 0
    progress = [json.loads(line)["progress"] for line in run.stderr.splitlines()]
    assert [(p["file"], p["name"]) for p in progress] == [(1, sources[0]), (2, sources[1])]
    expected_bytes = sum(corpus[n].stat().st_size for n in ("h264_open_gop", "vp9_mkv"))
    assert run.json() == {
        "tensor": "clips",
        "samples_added": 2,
        "bytes_added": expected_bytes,
        "length": 2,
        "version": 2,
    }
    loaded = hubcli.load(ds)
    assert [s.sample_info["codec"] for s in loaded.clips] == ["h264", "vp9"]
    human = hubcli_run("append", str(ds), "clips", sources[0])
    assert (
        human.code == 0
        and human.stdout.startswith("appended 1 sample (")
        and "now has 3" in human.stdout
    )


def test_create_overwrite(tmp_path, cli_ds):
    assert hubcli_run("create", str(cli_ds), "--overwrite").code == 0
    assert hubcli.load(cli_ds).tensors == {}


def test_append_from_file_and_stdin(tmp_path, corpus):
    ds = tmp_path / "ds"
    hubcli.empty(ds).create_tensor("videos")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# my clips\n\n{corpus['h264_bframes']}\n   {corpus['hevc']}  \n# done\n")
    assert hubcli_run("append", str(ds), "videos", "--from-file", str(listing)).code == 0
    run = hubcli_run(
        "append", str(ds), "videos", "--from-file", "-", "--json", input=f"{corpus['audio']}\n"
    )
    assert run.json()["length"] == 3
    assert [s.sample_info["filename"] for s in hubcli.load(ds).videos] == [
        str(corpus["h264_bframes"]),
        str(corpus["hevc"]),
        str(corpus["audio"]),
    ]


def test_append_list_names_the_bad_line_and_appends_nothing(tmp_path, corpus):
    ds = tmp_path / "ds"
    hubcli.empty(ds).create_tensor("videos")
    listing = tmp_path / "list.txt"
    listing.write_text(
        f"{corpus['h264_bframes']}\n# comment\n{tmp_path / 'gone.mp4'}\n{corpus['hevc']}\n"
    )
    before = snapshot(ds)
    run = hubcli_run("append", str(ds), "videos", "--from-file", str(listing))
    assert_user_error(run, f"gone.mp4: no such file ({listing} line 3); check the path")
    assert snapshot(ds) == before
    run = hubcli_run("append", str(ds), "videos", "--from-file", "-", input=f"{corpus['vp9']}\n")
    assert_user_error(run, "vp9.webm: is a webm file, tensor 'videos' holds mp4")
    assert "(stdin line 1)" in run.stderr
    assert snapshot(ds) == before


def test_info_dataset_tensor_sample(cli_ds):
    ds = hubcli.load(cli_ds)
    run = hubcli_run("info", str(cli_ds), "--json")
    assert run.json() == {
        "path": str(cli_ds),
        "version": 2,
        "format_version": "1.2",
        "dataset_id": ds.manifest.dataset_id,
        "tensors": [{"name": "videos", "htype": "video", "sample_compression": "mp4", "length": 3}],
    }
    run = hubcli_run("info", str(cli_ds), "videos", "--json")
    doc = run.json()
    assert doc["length"] == 3 and doc["samples"] == [s.sample_info for s in ds.videos]
    run = hubcli_run("info", str(cli_ds), "videos[-1]", "--json")
    assert run.json() == ds.videos[-1].sample_info
    run = hubcli_run("info", str(cli_ds), "videos[0:2]", "--json")
    assert run.json() == [ds.videos[0].sample_info, ds.videos[1].sample_info]
    human = hubcli_run("info", str(cli_ds))
    assert human.code == 0 and "videos" in human.stdout and "version 2" in human.stdout
    human = hubcli_run("info", str(cli_ds), "videos")
    assert "h264_bframes.mp4" in human.stdout and "hevc" in human.stdout


@pytest.mark.parametrize(
    ("selector", "lines"),
    [
        ("videos[0]", ["60 64 96 3"]),
        ("videos[0, 100:200:5]", ["0 64 96 3"]),
        ("videos[0, 10:40:5]", ["6 64 96 3"]),
        ("videos[1, -1]", ["64 96 3"]),
        ("videos[0, [3, 1, 4]]", ["3 64 96 3"]),
        ("videos[-1, ::-2]", ["28 64 96 3"]),
        ("videos", ["60 64 96 3", "60 64 96 3", "55 64 96 3"]),
        ("videos[0:3]", ["60 64 96 3", "60 64 96 3", "55 64 96 3"]),
    ],
)
def test_shape(cli_ds, selector, lines):
    run = hubcli_run("shape", str(cli_ds), selector)
    assert run.code == 0 and run.lines == lines
    doc = hubcli_run("shape", str(cli_ds), selector, "--json").json()
    target = hubcli.load(cli_ds).select(selector)
    views = list(target) if not isinstance(target, hubcli.SampleView) else [target]
    assert doc == {
        "selector": selector,
        "samples": [{"index": v.index, "shape": list(v.shape)} for v in views],
    }


def test_timestamps(cli_ds, corpus, oracle):
    expected = oracle(corpus["h264_bframes"]).times
    run = hubcli_run("timestamps", str(cli_ds), "videos[0, 10:15]")
    assert run.code == 0 and [float(x) for x in run.lines] == expected[10:15]
    one = hubcli_run("timestamps", str(cli_ds), "videos[0, -1]")
    assert one.lines == [repr(expected[-1])]
    doc = hubcli_run("timestamps", str(cli_ds), "videos[1:, [0, -1]]", "--json").json()
    ds = hubcli.load(cli_ds)
    assert doc == {
        "selector": "videos[1:, [0, -1]]",
        "samples": [
            {"index": i, "timestamps": ds.videos[i, [0, -1]].timestamp.tolist()} for i in (1, 2)
        ],
    }
    several = hubcli_run("timestamps", str(cli_ds), "videos[:, 0]")
    assert several.lines == [f"{i} {ds.videos[i, 0].timestamp!r}" for i in range(3)]


def test_export_one_sample(cli_ds, corpus, oracle, tmp_path):
    expected = oracle(corpus["h264_bframes"])
    out, ts = tmp_path / "frames.npy", tmp_path / "ts.npy"
    run = hubcli_run(
        "export", str(cli_ds), "videos[0, 50:10:-7]", "--output", str(out), "--timestamps", str(ts)
    )
    assert run.code == 0 and run.stderr == ""
    frames = np.load(out)
    assert frames.dtype == np.uint8 and frames.shape == (6, 64, 96, 3)
    assert [frame_hash(f) for f in frames] == expected.hashes()[50:10:-7]
    np.testing.assert_array_equal(np.load(ts), expected.timestamps[50:10:-7])
    run = hubcli_run("export", str(cli_ds), "videos[0, -1]", "-o", str(out), "--json")
    assert run.json()["files"] == [
        {"index": 0, "path": str(out), "shape": [64, 96, 3], "timestamps": None}
    ]
    assert frame_hash(np.load(out)) == expected.hashes()[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "frames.npy", "ts.npy"]


def test_export_several_samples_into_a_folder(cli_ds, corpus, oracle, tmp_path):
    out = tmp_path / "out"
    run = hubcli_run(
        "export",
        str(cli_ds),
        "videos[:, [0, 2, 4]]",
        "--output",
        str(out),
        "--timestamps",
        str(tmp_path / "ts"),
    )
    assert run.code == 0
    assert sorted(p.name for p in out.iterdir()) == ["videos_0.npy", "videos_1.npy", "videos_2.npy"]
    for i, name in enumerate(["h264_bframes", "hevc", "h264_bframes_editlist"]):
        expected = oracle(corpus[name])
        assert [frame_hash(f) for f in np.load(out / f"videos_{i}.npy")] == [
            expected.hashes()[k] for k in (0, 2, 4)
        ]
        np.testing.assert_array_equal(
            np.load(tmp_path / "ts" / f"videos_{i}.npy"), expected.timestamps[[0, 2, 4]]
        )


def test_help_for_every_command_and_in_readme():
    from pathlib import Path

    from hubcli.cli import app
    from hubcli.cli.catalog import load_all

    load_all()  # the command modules register their commands when imported
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    names = [c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands]
    assert {"create", "create-tensor", "append", "info", "shape", "timestamps", "export"} <= set(
        names
    )
    for name in names:
        run = hubcli_run(name, "--help")
        assert run.code == 0 and "Example" in run.stdout, name
        assert f"hubcli {name}" in readme, f"{name} is not in the README"


def test_shell_completion_script():
    run = hubcli_run(
        "--show-completion", "bash", env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    )
    assert run.code == 0 and "_HUBCLI_COMPLETE" in run.stdout
