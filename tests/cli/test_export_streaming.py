"""Export streams: bounded memory for any size, and never a half-written file."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest

import hubcli
from support.clirun import HUBCLI, assert_user_error, hubcli_run
from support.media import BIG, decode_some, frame_hash

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


def _peak_rss(*args: str) -> int:
    """Peak resident memory (bytes) of ``hubcli ARGS`` run alone in a subprocess."""
    # A parent that runs only the export, so RUSAGE_CHILDREN is the export's own peak.
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, HUBCLI, *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1]) * 1024  # ru_maxrss is in KiB on Linux


def test_export_larger_than_the_memory_cap(big_ds, tmp_path):
    root, src = big_ds
    out = tmp_path / "all.npy"
    peak = _peak_rss("export", str(root), "videos[0]", "-o", str(out))
    size = out.stat().st_size
    assert size > 3 * MEMORY_CAP  # the export really is larger than the cap...
    assert peak < MEMORY_CAP, f"peak RSS {peak / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB export"
    print(f"\nexport of {size / 2**20:.0f} MiB: peak RSS {peak / 2**20:.0f} MiB")
    frames = np.load(out, mmap_mode="r")
    assert frames.shape == (480, 720, 1280, 3)
    expected = decode_some(src, {0, 59, 60, 333, 479})
    for k, frame in expected.items():
        assert frame_hash(np.asarray(frames[k])) == frame_hash(frame), k


#: Every other frame of the 720p video: 240 frames, 660 MB of RGB, over the memory cap.
HALF = "videos[0, ::2]"
RAW_HALF = 240 * 720 * 1280 * 3


@pytest.mark.parametrize("target", ["frames/%05d.png", "clip.mp4"])
def test_image_and_clip_exports_stream(big_ds, tmp_path, target):
    """Memory holds one frame and the encoder's state, not the selection (whose RGB is
    larger than the cap)."""
    root, src = big_ds
    assert RAW_HALF > MEMORY_CAP
    peak = _peak_rss("export", str(root), HALF, "-o", str(tmp_path / target))
    assert peak < MEMORY_CAP, f"peak RSS {peak / 2**20:.0f} MiB exporting {target}"
    print(f"\nexport of {HALF} to {target}: peak RSS {peak / 2**20:.0f} MiB")
    expected = decode_some(src, {0, 120, 478})
    if target.endswith(".png"):
        assert len(list((tmp_path / "frames").iterdir())) == 240
        with av.open(str(tmp_path / "frames" / "00120.png")) as png:
            picture = next(png.decode(video=0)).to_ndarray(format="rgb24")
        assert frame_hash(picture) == frame_hash(expected[120])
    else:
        with av.open(str(tmp_path / target)) as clip:
            frames = [f.to_ndarray(format="rgb24") for f in clip.decode(video=0)]
        assert len(frames) == 240
        for k in (0, 120, 478):
            error = np.mean((frames[k // 2].astype(float) - expected[k]) ** 2)
            assert 10 * np.log10(255**2 / error) > 35, k


@pytest.mark.parametrize(
    ("target", "partial"),
    [
        ("frames.npy", ".frames.npy.*.partial"),
        ("frames/", "frames/.*.png.*.partial"),
        ("clip.mkv", ".clip.mkv.*.partial"),
    ],
)
def test_interrupted_export_leaves_no_file(big_ds, tmp_path, target, partial):
    root, _ = big_ds
    extra = ["--format", "png"] if target.endswith("/") else []
    proc = subprocess.Popen(
        [HUBCLI, "export", str(root), "videos[0]", "-o", f"{tmp_path}/{target}", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(partial)):
        assert proc.poll() is None and time.monotonic() < deadline, "export never started"
        time.sleep(0.01)
    time.sleep(0.3)  # some frames written
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert list(tmp_path.iterdir()) == []  # the folder it created is gone too
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
