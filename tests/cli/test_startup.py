"""Start-up (issue #15): a CI job calls hubcli hundreds of times, so a command loads
only what it uses. Each case runs in a fresh interpreter and lists the heavy modules it
loaded; the time itself is measured by scripts/bench_startup.py, not here."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import hubcli

#: Heavy modules: PyAV, the cloud backends, numpy, msgpack, and hubcli's video stack
#: and playback server.
HEAVY = ("av", "fsspec", "s3fs", "gcsfs", "aiohttp", "botocore", "numpy", "msgpack")
HEAVY_HUBCLI = ("hubcli.video", "hubcli.serve")

_PROBE = """
import json, sys
args = json.loads(sys.argv[1])
heavy = set(json.loads(sys.argv[2]))
prefixes = tuple(json.loads(sys.argv[3]))
if args is None:
    import hubcli
else:
    sys.argv = ["hubcli", *args]
    from hubcli.cli import main
    try:
        main()
    except SystemExit:
        pass
loaded = sorted(
    {m.split(".")[0] for m in sys.modules if m.split(".")[0] in heavy}
    | {".".join(m.split(".")[:2]) for m in sys.modules if m.startswith(prefixes)}
)
print("LOADED " + json.dumps(loaded), file=sys.stderr)
"""


def _loaded(args):
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _PROBE,
            json.dumps(args),
            json.dumps(HEAVY),
            json.dumps(HEAVY_HUBCLI),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith("LOADED "))
    return set(json.loads(line[len("LOADED ") :]))


@pytest.fixture(scope="module")
def small_ds(tmp_path_factory, corpus):
    root = tmp_path_factory.mktemp("startup") / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    ds.videos.append(str(corpus["h264_bframes"]))
    return str(root)


@pytest.mark.parametrize(
    "args", [["--version"], ["--help"], ["info", "--help"], ["export", "--help"], None]
)
def test_help_version_and_import_load_nothing_heavy(args):
    assert _loaded(args) == set(), args


@pytest.mark.parametrize(
    "args",
    [["info", "{ds}"], ["info", "{ds}", "videos"], ["shape", "{ds}", "videos[0]"], ["log", "{ds}"]],
)
def test_reading_metadata_loads_no_video_stack_backend_or_server(small_ds, args):
    loaded = _loaded([a.format(ds=small_ds) for a in args])
    assert not loaded & {"av", "fsspec", "s3fs", "gcsfs", "aiohttp", "botocore", *HEAVY_HUBCLI}


def test_the_probe_sees_what_a_decode_loads(small_ds, tmp_path):
    """The check itself can fail: exporting frames loads PyAV and the video stack."""
    loaded = _loaded(["export", small_ds, "videos[0, 0]", "-o", str(tmp_path / "f.npy")])
    assert {"av", "numpy", "hubcli.video"} <= loaded
