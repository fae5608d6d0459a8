"""Issue 13 point 6 and the format items of "Weak": every size a dataset declares is
checked against the format's limits and the real bytes before anything is allocated
from it. Each crafted dataset here is a few kilobytes of metadata; every command must
answer it with one error line (or a correct answer), in bounded memory, promptly."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import hubcli
from clirun import HUBCLI, assert_user_error, hubcli_run
from crafting import edit_manifest, edit_segment_header, newest_manifest_path
from hubcli.errors import CorruptDatasetError, HubcliError
from hubcli.format.limits import MAX_VERSION

#: What the issue allows a command on a dataset of at most 1 MB of metadata.
MAX_RSS_MB = 200

COMMANDS = [
    ["info", "{ds}"],
    ["info", "{ds}", "videos"],
    ["info", "{ds}", "videos[0]"],
    ["info", "{ds}", "videos[-1]"],
    ["shape", "{ds}", "videos"],
    ["shape", "{ds}", "videos[0:]"],
    ["shape", "{ds}", "videos[0]"],
    ["timestamps", "{ds}", "videos[0]"],
    ["export", "{ds}", "videos[0, 0]", "-o", "{out}/x.npy"],
    ["export", "{ds}", "videos[0]", "-o", "{out}/y.npy"],
    ["verify", "{ds}"],
    ["verify", "{ds}", "--deep"],
    ["creds", "list", "{ds}"],
]


def _sample(record):
    return record["samples"][0]


CRAFTED = {
    # shape[0] = 5e8 in a segment header: `hubcli shape` allocated 3.9 GB.
    "frames_5e8": ("seg", lambda h: _sample(h)["shape"].__setitem__(0, 500_000_000)),
    # count = length = 3e7 in a manifest: 4.4 GB, and verify unbounded.
    "count_3e7": ("man", lambda m: _count(m, 30_000_000, None)),
    # The same with a header_size that could hold them: refused when the header is read.
    "count_1e6_big_header": ("man", lambda m: _count(m, 1_000_000, 64 << 20)),
    # header_size = 1e13: a MemoryError from a buffered read.
    "header_size_1e13": ("man", lambda m: _segment(m).update(header_size=10**13, size=10**13)),
    # Offsets of 2^64 - 1 (msgpack uint64): seeks overflowed.
    "offset_2_64": ("seg", lambda h: _sample(h).update(offset=2**64 - 1)),
    "frames_offset_2_64": ("seg", lambda h: _sample(h).update(frames_offset=2**64 - 1)),
    "size_2_63": ("seg", lambda h: _sample(h).update(size=2**63 - 1, extra_size=0)),
    "chunk_size_2_64": ("seg", lambda h: h["chunks"][0].update(size=2**64 - 1)),
    # A huge picture size declared (with the codec agreeing).
    "picture_huge": ("seg", lambda h: _picture(h, 1 << 15, 1 << 15)),
    # fps NaN / inf: `--json` printed NaN, which is not JSON.
    "fps_nan": ("seg", lambda h: _sample(h).update(fps=float("nan"))),
    "fps_inf": ("seg", lambda h: _sample(h).update(fps=float("inf"))),
    # JSON traps in the manifest itself.
    "repeated_keys": (
        "raw",
        lambda text: text.replace('"version":', '"version": 0, "version":', 1),
    ),
    "deep_json": (
        "raw",
        lambda text: text[:-2] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n",
    ),
    "int_5000_digits": ("raw", lambda text: text[:-2] + ', "x": ' + "9" * 5000 + "}\n"),
    "nan_constant": ("raw", lambda text: text[:-2] + ', "x": NaN}\n'),
}


def _extra(text, value):
    """The manifest's JSON with one more field ``"x"`` whose raw JSON is ``value``."""
    return text.rstrip().removesuffix("}") + f', "x": {value}}}\n'


def _segment(manifest):
    return manifest["tensors"][0]["segments"][0]


def _count(manifest, count, header_size):
    tensor = manifest["tensors"][0]
    seg = _segment(manifest)
    seg["count"] = count
    if header_size is not None:
        seg.update(header_size=header_size, size=header_size + 1000)
    tensor["length"] = count


def _picture(header, width, height):
    record = _sample(header)
    record["shape"][1:3] = [height, width]
    record["codec"].update(width=width, height=height)


@pytest.fixture(scope="module")
def good_root(tmp_path_factory, corpus):
    root = tmp_path_factory.mktemp("bounds") / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos", sample_compression="mp4")
    ds.videos.append(str(corpus["h264_bframes"]))
    return root


def _copy(src, dst):
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    return dst


def craft(good_root, tmp_path, name):
    root = _copy(good_root, tmp_path / name)
    kind, change = CRAFTED[name]
    if kind == "seg":
        edit_segment_header(root, change)
    elif kind == "man":
        edit_manifest(root, change)
    else:
        path = newest_manifest_path(root)
        path.write_text(change(path.read_text()))
    return root


def _metadata_bytes(root):
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and "chunks" not in p.parts)


def run_measured(args, timeout=60):
    """Run hubcli in a child of a fresh Python, returning (exit code, stdout, stderr, peak RSS
    in MB, seconds). ru_maxrss of RUSAGE_CHILDREN is the peak of the waited child."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.monotonic()\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "dt = time.monotonic() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "import json; print(json.dumps([r.returncode, r.stdout, r.stderr, rss, dt]))\n"
    )
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-c", probe, HUBCLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_every_command_answers_a_crafted_dataset(good_root, tmp_path, name):
    root = craft(good_root, tmp_path, name)
    assert _metadata_bytes(root) <= 1 << 20
    out = tmp_path / "out"
    out.mkdir()
    for template in COMMANDS:
        args = [a.format(ds=root, out=out) for a in template]
        code, stdout, stderr, rss, _ = run_measured(args)
        assert "Traceback" not in stderr and "internal error" not in stderr, (args, stderr)
        assert code in (0, 1), (args, code, stderr)
        if code == 1 and args[0] != "verify":
            assert stdout == "" and stderr.count("\n") == 1, (args, stdout, stderr)
        if args[0] == "verify":
            assert code == 1, (args, stdout)  # a crafted dataset never verifies
        assert rss <= MAX_RSS_MB, (args, rss)
        if "--json" in args:
            json.loads(stdout)


def test_python_api_refuses_declared_sizes(good_root, tmp_path):
    for name in ("frames_5e8", "count_3e7", "header_size_1e13", "offset_2_64"):
        root = craft(good_root, tmp_path, name)
        with pytest.raises(CorruptDatasetError):
            ds = hubcli.load(root)
            ds.videos[0].numpy()


def test_json_of_a_crafted_dataset_is_json(good_root, tmp_path):
    root = craft(good_root, tmp_path, "fps_nan")
    for args in (["info", str(root), "--json"], ["info", str(root), "videos[0]", "--json"]):
        run = hubcli_run(*args)
        if run.code == 0:
            json.loads(run.stdout)  # never NaN / Infinity
        else:
            assert_user_error(run, "fps")


def _with_version(good_root, tmp_path, version):
    root = _copy(good_root, tmp_path / str(version))
    manifest = json.loads(newest_manifest_path(root).read_text())
    manifest["version"] = version
    (root / "versions" / f"{version:020d}.json").write_text(json.dumps(manifest))
    return root


def test_the_last_version_is_never_followed_by_a_lost_commit(good_root, tmp_path, corpus):
    """The issue's case: a newest version whose successor has no 20-digit name made the
    next commit write a name that is never read (the commit lost, exit 0). The format's
    last version is MAX_VERSION (int64, like every number): the next commit is refused."""
    root = _with_version(good_root, tmp_path, MAX_VERSION)
    before = sorted(p.name for p in (root / "versions").iterdir())
    assert hubcli.load(root).version == MAX_VERSION
    run = hubcli_run("append", str(root), "videos", str(corpus["hevc"]))
    assert_user_error(run, f"version {MAX_VERSION + 1} is beyond the last version")
    assert sorted(p.name for p in (root / "versions").iterdir()) == before
    assert len(list((root / "tensors" / "videos" / "segments").iterdir())) == 1


def test_a_version_beyond_the_last_is_corrupt(good_root, tmp_path, corpus):
    root = _with_version(good_root, tmp_path, 10**20 - 1)
    with pytest.raises(CorruptDatasetError, match="is beyond the last version"):
        hubcli.load(root)
    run = hubcli_run("append", str(root), "videos", str(corpus["hevc"]))
    assert_user_error(run, "is beyond the last version")


@pytest.mark.parametrize(
    "path",
    [
        "with\x00nul",
        "x" * 300,  # one component over NAME_MAX
        "/".join(["y" * 200] * 30),  # over PATH_MAX
    ],
    ids=["nul", "name_max", "path_max"],
)
def test_hostile_names_are_one_line_errors(tmp_path, corpus, path):
    target = str(tmp_path / path)
    for call in (
        lambda: hubcli.load(target),
        lambda: hubcli.empty(target),
        lambda: hubcli.dataset(target),
    ):
        with pytest.raises(HubcliError):
            call()
    ds = hubcli.empty(tmp_path / "ok")
    ds.create_tensor("videos")
    with pytest.raises(HubcliError):
        ds.videos.append(target + ".mp4")
    if "\x00" not in path:  # argv cannot carry NUL
        run = hubcli_run("info", target)
        assert_user_error(run, "")
        run = hubcli_run("append", str(tmp_path / "ok"), "videos", target)
        assert_user_error(run, "")
