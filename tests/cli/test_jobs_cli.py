"""``hubcli append --jobs N`` and ``hubcli export --jobs N``: the same dataset and files
as one process, one commit, files done / total on stderr, and a bad file among good
ones changes nothing. Locally, and on the S3 test server (the workers take its
credentials from the environment, as a user's would)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import hubcli
from hubcli.cli import app
from support.helpers import snapshot
from support.media import frame_hash

runner = CliRunner()
GOOD = ["h264_bframes", "hevc", "vfr", "audio", "h264_bframes_editlist", "hevc"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def ok(result):
    assert result.exit_code == 0 and result.exception is None, (result.stderr, result.exception)
    return result


def assert_error(result, needle, code=1):
    """Exit ``code``, nothing on stdout, the error as one line on stderr (after any
    progress lines)."""
    assert result.exit_code == code, (result.exit_code, result.stderr, result.exception)
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and needle in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def _new(url):
    ok(invoke("create", url))
    ok(invoke("create-tensor", url, "videos", "--sample-compression", "mp4"))


def _check(url, sources, oracle, corpus_paths):
    """The dataset at ``url`` holds ``sources`` in order, each frame the oracle's, in
    one commit after the tensor was created."""
    ds = hubcli.load(url)
    assert len(ds.videos) == len(sources) and ds.version == 2
    for i, (source, path) in enumerate(zip(sources, corpus_paths, strict=True)):
        view = ds.videos[i]
        assert view.sample_info["filename"] == source
        assert [frame_hash(f) for f in view.numpy()] == oracle(path).hashes()


def test_append_jobs_equals_jobs_1(tmp_path, corpus, oracle):
    paths = [corpus[n] for n in GOOD]
    sources = [str(p) for p in paths]
    roots = {jobs: str(tmp_path / f"ds{jobs}") for jobs in (1, 2)}
    for jobs, root in roots.items():
        _new(root)
        result = ok(invoke("append", root, "videos", *sources, "--jobs", jobs))
        assert f"appended {len(GOOD)} samples" in result.stdout
    # stderr is no terminal: plain lines, the first and the last file always.
    assert result.stderr.splitlines()[-1].startswith(f"appending file {len(GOOD)}/{len(GOOD)}: ")
    _check(roots[2], sources, oracle, paths)
    one, two = hubcli.load(roots[1]), hubcli.load(roots[2])
    assert [v.sample_info for v in two.videos] == [v.sample_info for v in one.videos]


def test_append_jobs_bad_file_changes_nothing(tmp_path, corpus, make_dataset):
    root = tmp_path / "ds"
    make_dataset(root, {"videos": ("mp4", ["hevc"])})
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(corpus["hevc"].read_bytes()[:3000])  # cut short
    listed = [str(corpus[n]) for n in GOOD]
    listed.insert(3, str(bad))
    list_file = tmp_path / "list.txt"
    list_file.write_text("# videos\n" + "\n".join(listed) + "\n")
    before = snapshot(root)
    result = invoke("append", root, "videos", "--from-file", list_file, "--jobs", 2)
    assert_error(result, "broken.mp4")
    assert f"({list_file} line 5)" in result.stderr
    assert snapshot(root) == before


def test_jobs_zero_is_a_usage_error(tmp_path, corpus, make_dataset):
    root = tmp_path / "ds"
    make_dataset(root, {"videos": ("mp4", [])})
    before = snapshot(root)
    assert_error(invoke("append", root, "videos", corpus["hevc"], "--jobs", 0), "--jobs", 2)
    assert_error(invoke("export", root, "videos", "-o", tmp_path / "o/", "-j", -1), "--jobs", 2)
    assert snapshot(root) == before


@pytest.mark.parametrize("output", ["frames/", "png/%03d.png"])
def test_export_jobs_writes_the_same_files(tmp_path, corpus, make_dataset, output):
    root = tmp_path / "ds"
    make_dataset(root, {"videos": ("mp4", ["h264_bframes", "hevc", "vfr", "audio"])})
    written = {}
    for jobs in (1, 2):
        out = tmp_path / f"out{jobs}"
        result = ok(invoke("export", root, "videos[:, ::9]", "-o", out / output, "--jobs", jobs))
        files = {
            p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()
        }
        written[jobs] = (files, result.stdout.replace(str(out), "OUT"))
    assert written[2] == written[1]
    count = len(written[2][0])  # one .npy a sample, or one image a frame
    assert count == 4 if output == "frames/" else count > 4


def test_export_jobs_error_leaves_no_file(tmp_path, corpus, make_dataset):
    """A sample listed twice would write one file twice: refused, and nothing of the
    other samples is left behind either."""
    root = tmp_path / "ds"
    make_dataset(root, {"videos": ("mp4", ["h264_bframes", "hevc"])})
    out = tmp_path / "out"
    result = invoke("export", root, "videos[[0, 1, 0]]", "-o", f"{out}/", "--jobs", 2)
    assert_error(result, "would be written twice")
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow  # about 8 s: every request goes through moto
def test_append_and_export_jobs_on_s3(s3, corpus, oracle, tmp_path):
    url = f"s3://{s3.new_bucket()}/ds"
    hubcli.empty(url).create_tensor("videos", sample_compression="mp4")
    paths = [corpus[n] for n in GOOD[:4]]
    ok(invoke("append", url, "videos", *paths, "--jobs", 2))
    _check(url, [str(p) for p in paths], oracle, paths)
    out = tmp_path / "npy"
    ok(invoke("export", url, "videos[:, 0:5]", "-o", f"{out}/", "--jobs", 2))
    for i, path in enumerate(paths):
        frames = np.load(out / f"videos_{i}.npy")
        assert [frame_hash(f) for f in frames] == oracle(path).hashes()[:5]
