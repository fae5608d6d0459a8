"""Export streams: bounded memory for any size, and never a half-written file."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import hubcli
from clirun import HUBCLI, assert_user_error, hubcli_run
from media import BIG, decode_some, frame_hash

#: Peak resident memory allowed for exporting 1.3 GB of frames.
MEMORY_CAP = 400 * 2**20

_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)


@pytest.fixture(scope="module")
def big_ds(tmp_path_factory, video):
    root = tmp_path_factory.mktemp("big") / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    src = video(BIG)
    ds.videos.append(str(src))
    return root, src


def test_export_larger_than_the_memory_cap(big_ds, tmp_path):
    root, src = big_ds
    out = tmp_path / "all.npy"
    # A parent that runs only the export, so RUSAGE_CHILDREN is the export's own peak.
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, HUBCLI, "export", str(root), "videos[0]", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    peak = int(done.stdout.split()[-1]) * 1024  # ru_maxrss is in KiB on Linux
    size = out.stat().st_size
    assert size > 3 * MEMORY_CAP  # the export really is larger than the cap...
    assert peak < MEMORY_CAP, f"peak RSS {peak / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB export"
    print(f"\nexport of {size / 2**20:.0f} MiB: peak RSS {peak / 2**20:.0f} MiB")
    frames = np.load(out, mmap_mode="r")
    assert frames.shape == (480, 720, 1280, 3)
    expected = decode_some(src, {0, 59, 60, 333, 479})
    for k, frame in expected.items():
        assert frame_hash(np.asarray(frames[k])) == frame_hash(frame), k


def test_interrupted_export_leaves_no_file(big_ds, tmp_path):
    root, _ = big_ds
    out = tmp_path / "frames.npy"
    proc = subprocess.Popen(
        [HUBCLI, "export", str(root), "videos[0]", "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".frames.npy.*.partial")):
        assert proc.poll() is None and time.monotonic() < deadline, "export never started"
        time.sleep(0.01)
    time.sleep(0.3)  # some frames written
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert list(tmp_path.iterdir()) == []
    assert stderr.strip().splitlines() == ["error: interrupted"]


def test_failed_export_leaves_no_file(tmp_path, corpus):
    root = tmp_path / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    ds.videos.append(str(corpus["h264_bframes"]))
    table = ds.videos.reader().frame_table(0)
    chunk = next((root / "tensors" / "videos" / "chunks").iterdir())
    data = bytearray(chunk.read_bytes())
    data[8 + int(table.offset[40]) + 5] ^= 0x40  # damage packet 40 (8: the chunk's magic)
    chunk.write_bytes(bytes(data))
    out = tmp_path / "out" / "frames.npy"
    out.parent.mkdir()
    run = hubcli_run("export", str(root), "videos[0]", "-o", str(out))
    assert_user_error(run, "packet 40 fails its checksum")
    assert list(out.parent.iterdir()) == []
