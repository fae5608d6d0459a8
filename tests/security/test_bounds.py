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
from hubcli.errors import CorruptDatasetError, HubcliError
from hubcli.format.limits import MAX_VERSION
from support.clirun import assert_user_error, hubcli_run
from support.crafting import edit_entry, edit_json_objects, edit_segment_header, edit_state
from support.helpers import snapshot

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
    # count = length = 3e7 in the state: 4.4 GB, and verify unbounded.
    "count_3e7": ("entry", lambda e, t: _count(e, t, 30_000_000, None)),
    # The same with a header_size that could hold them: refused when the header is read.
    "count_1e6_big_header": ("entry", lambda e, t: _count(e, t, 1_000_000, 64 << 20)),
    # header_size = 1e13: a MemoryError from a buffered read.
    "header_size_1e13": ("entry", lambda e, t: e.__setitem__(slice(2, 4), [10**13, 10**13])),
    # Offsets of 2^64 - 1 (msgpack uint64): seeks overflowed.
    "offset_2_64": ("seg", lambda h: _sample(h).update(offset=2**64 - 1)),
    "frames_offset_2_64": ("seg", lambda h: _sample(h).update(frames_offset=2**64 - 1)),
    "size_2_63": ("seg", lambda h: _sample(h).update(size=2**63 - 1, extra_size=0)),
    "chunk_size_2_64": ("seg", lambda h: h["chunks"][0].__setitem__(1, 2**64 - 1)),
    # A huge picture size declared (with the codec agreeing).
    "picture_huge": ("seg", lambda h: _picture(h, 1 << 15, 1 << 15)),
    # fps NaN / inf: `--json` printed NaN, which is not JSON.
    "fps_nan": ("seg", lambda h: _sample(h).update(fps=float("nan"))),
    "fps_inf": ("seg", lambda h: _sample(h).update(fps=float("inf"))),
    # JSON traps in the dataset's JSON objects themselves.
    "repeated_keys": ("raw", lambda text: text.replace('"', '"x":0,"x":1,"', 1)),
    "deep_json": ("raw", lambda text: _extra(text, "[" * 100_000 + "]" * 100_000)),
    "int_5000_digits": ("raw", lambda text: _extra(text, "9" * 5000)),
    "nan_constant": ("raw", lambda text: _extra(text, "NaN")),
}


def _extra(text, value):
    """The JSON object with one more field ``"x"`` whose raw JSON is ``value``."""
    return text.rstrip().removesuffix("}") + f', "x": {value}}}\n'


def _count(entry, tensor, count, header_size):
    entry[1] = count
    if header_size is not None:
        entry[2:4] = [header_size, header_size + 1000]
    if tensor:
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
    elif kind == "entry":
        edit_entry(root, change)
    else:
        edit_json_objects(root, change)
    return root


def _metadata_bytes(root):
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and "chunks" not in p.parts)


#: Runs the commands of a list in one fresh Python (through the CLI's own entry, as a
#: shell would see them, but without paying start-up per command), and reports each
#: one's exit code, output, whether it crashed, and the process's peak RSS after it.
DRIVER = """
import json, sys, time
from typer.testing import CliRunner
from hubcli.cli import app
runner = CliRunner()
results = []

def peak_rss_mb():
    # VmHWM belongs to this process's own memory map (ru_maxrss would carry over the
    # peak of the pytest process this one was forked from).
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

for args in json.loads(sys.argv[1]):
    start = time.monotonic()
    result = runner.invoke(app, args)
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    peak = peak_rss_mb()
    results.append([result.exit_code, result.stdout, result.stderr, crashed, peak,
                    time.monotonic() - start])
print(json.dumps(results))
"""


def run_commands(commands, timeout=120):
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_every_command_answers_a_crafted_dataset(good_root, tmp_path, name):
    root = craft(good_root, tmp_path, name)
    assert _metadata_bytes(root) <= 1 << 20
    out = tmp_path / "out"
    out.mkdir()
    commands = [[a.format(ds=root, out=out) for a in template] for template in COMMANDS]
    for args, (code, stdout, stderr, crashed, rss, _) in zip(
        commands, run_commands(commands), strict=True
    ):
        assert not crashed and "internal error" not in stderr, (args, stderr)
        assert code in (0, 1), (args, code, stderr)
        if code == 1 and args[0] != "verify":
            assert stdout == "" and stderr.count("\n") == 1, (args, stdout, stderr)
        if args[0] == "verify":
            assert code == 1, (args, stdout)  # a crafted dataset never verifies
        assert rss <= MAX_RSS_MB, (args, rss)


def test_one_command_in_its_own_process_is_bounded_too(good_root, tmp_path):
    """The same bound for one command alone in a fresh process (no other command's
    memory in it), on the crafted dataset that used to need the most: 3.9 GB."""
    root = craft(good_root, tmp_path, "frames_5e8")
    probe = (
        "import atexit, sys\n"
        "from hubcli.cli import main\n"
        "def peak():\n"
        "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
        "    sys.stderr.write('PEAK ' + hwm[0].split()[1] + '\\n')\n"
        "atexit.register(peak)\n"
        "sys.argv = ['hubcli', 'shape', sys.argv[1], 'videos']\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(root)], capture_output=True, text=True, timeout=120
    )
    peak = int(done.stderr.split("PEAK ")[1].split()[0]) / 1024
    assert done.returncode == 1 and "error: " in done.stderr, done.stderr
    assert peak <= MAX_RSS_MB, peak


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
        else:  # refused as corrupt: one strict JSON error line (--json)
            assert run.code == 1 and run.stdout == "", run.stderr
            error = json.loads(run.stderr)["error"]
            assert "fps" in error["message"] and error["type"] == "CorruptDatasetError"


def _with_version(good_root, tmp_path, version):
    """The dataset with its newest state claiming ``version``."""
    root = _copy(good_root, tmp_path / str(version))
    edit_state(root, lambda state: state.update(version=version))
    return root


def test_the_last_version_is_never_followed_by_a_lost_commit(good_root, tmp_path, corpus):
    """The issue's case: a newest version whose successor has no 20-digit name made the
    next commit write a name that is never read (the commit lost, exit 0). The format's
    last version is MAX_VERSION (int64, like every number): the next commit is refused."""
    root = _with_version(good_root, tmp_path, MAX_VERSION)
    before = snapshot(root)
    assert hubcli.load(root).version == MAX_VERSION
    run = hubcli_run("append", str(root), "videos", str(corpus["hevc"]))
    assert_user_error(run, f"version {MAX_VERSION + 1} is beyond the last version")
    assert snapshot(root) == before


def test_a_version_beyond_the_last_is_refused(good_root, tmp_path, corpus):
    """A record named 99999999999999999999 (beyond int64) and no usable hint."""
    root = _copy(good_root, tmp_path / "v20")
    (root / "log" / "hint.json").unlink()
    last = sorted((root / "log").iterdir())[-1]
    (root / "log" / f"{10**20 - 1:020d}.json").write_text(last.read_text())
    before = snapshot(root)
    with pytest.raises(HubcliError, match="beyond the last version|was removed"):
        hubcli.load(root)
    run = hubcli_run("append", str(root), "videos", str(corpus["hevc"]))
    assert_user_error(run, "")
    assert snapshot(root) == before


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
