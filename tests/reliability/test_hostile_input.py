"""Hostile input: mutated videos and mutated dataset files always end in a clear
HubcliError (or correct data), never a crash, a hang, unbounded memory or a traceback."""

from __future__ import annotations

import json
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hubcli
from hubcli.core.verify import verify
from hubcli.errors import HubcliError, InvalidSampleError
from support.clirun import hubcli_run
from support.media import frame_hash

WORKER = Path(__file__).resolve().parent.parent / "support" / "fuzz_worker.py"
SOURCES = ["h264_bframes", "h264_open_gop", "hevc", "vp9", "mpeg4_avi", "av1"]
CASES_RUN: list[int] = []


def _mutations(data: bytes, rng: random.Random) -> list[bytes]:
    out = []
    for _ in range(6):  # bit flips, a few or many
        m = bytearray(data)
        for _ in range(rng.choice([1, 4, 64])):
            m[rng.randrange(len(m))] ^= 1 << rng.randrange(8)
        out.append(bytes(m))
    # truncation, including to nothing
    out.extend(data[: int(len(data) * fraction)] for fraction in (0.0, 0.1, 0.5, 0.97))
    m = bytearray(data)  # a block of junk in the middle
    start = rng.randrange(len(m) // 2)
    m[start : start + 512] = bytes(rng.randrange(256) for _ in range(512))
    out.append(bytes(m))
    out.append(bytes(rng.randrange(256) for _ in range(4096)))  # junk with a video name
    return out


def test_mutated_videos(tmp_path, corpus):
    rng = random.Random(7)
    cases = tmp_path / "cases"
    cases.mkdir()
    n = 0
    for name in SOURCES:
        for data in _mutations(corpus[name].read_bytes(), rng):
            (cases / f"{n:04d}{corpus[name].suffix}").write_bytes(data)
            n += 1
    done = subprocess.run(
        [sys.executable, str(WORKER), str(cases), "60"], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcomes = json.loads(done.stdout.splitlines()[-1])
    assert sum(outcomes.values()) == n
    assert outcomes.get("stored-wrongly", 0) == 0
    CASES_RUN.append(n)
    print(f"\nmutated videos: {n} cases, {outcomes}")


def _huge_dimensions(mp4: bytes) -> bytes:
    """The sample entry's width and height (in 'stsd', not the 'avc1' brand of 'ftyp')
    set to 65535x65535; the SPS inside still says 96x64."""
    data = bytearray(mp4)
    at = data.find(b"avc1", data.find(b"stsd"))
    struct.pack_into(">HH", data, at + 4 + 24, 65535, 65535)
    return bytes(data)


def test_absurd_declared_dimensions(tmp_path, corpus):
    path = tmp_path / "huge.mp4"
    path.write_bytes(_huge_dimensions(corpus["h264_bframes"].read_bytes()))
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    outcome = _append(ds, path)
    if outcome is None:  # FFmpeg believed the SPS: the real size, and nothing huge
        assert ds.videos[0].shape == (60, 64, 96, 3)
    else:
        assert "picture size" in str(outcome)


def test_pictures_beyond_the_limit_are_refused(tmp_path, corpus, monkeypatch):
    monkeypatch.setattr("hubcli.video.index.MAX_SIDE", 80)  # our 96x64 clip is now "huge"
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    with pytest.raises(InvalidSampleError, match="picture size 96x64 is beyond what hubcli reads"):
        ds.videos.append(str(corpus["h264_bframes"]))


def _append(ds, path):
    try:
        ds.videos.append(str(path))
    except InvalidSampleError as exc:
        return exc
    return None


@pytest.fixture(scope="module")
def dataset_files(tmp_path_factory, corpus):
    root = tmp_path_factory.mktemp("fuzzds") / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    ds.videos.extend([str(corpus["h264_bframes"]), str(corpus["hevc"])])
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return root, {p: p.read_bytes() for p in files}


# No example database: the files drawn from are made anew each run (random object ids),
# so a saved example would replay its choices on other files.
@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_mutated_dataset_files(dataset_files, oracle, corpus, data):
    """Any flipped bytes in the manifest, a segment or a chunk: the right frames or a
    HubcliError from load, read and verify; nothing else."""
    root, originals = dataset_files
    path = data.draw(st.sampled_from(sorted(originals)))
    original = originals[path]
    flips = data.draw(
        st.lists(
            st.tuples(st.integers(0, len(original) - 1), st.integers(1, 255)),
            min_size=1,
            max_size=4,
        )
    )
    mutated = bytearray(original)
    for at, xor in flips:
        mutated[at] ^= xor
    truncate = data.draw(st.booleans())
    path.write_bytes(bytes(mutated[: len(mutated) // 2] if truncate else mutated))
    try:
        ds = hubcli.load(root)
        frames = ds.videos[1, [0, 30, -1]].numpy()
        expected = oracle(corpus["hevc"]).hashes()
        assert [frame_hash(f) for f in frames] == [expected[0], expected[30], expected[-1]]
        verify(ds)
    except HubcliError:
        pass
    finally:
        path.write_bytes(original)
    CASES_RUN.append(1)


def test_the_cli_never_shows_a_traceback(tmp_path, corpus):
    rng = random.Random(3)
    ds = tmp_path / "ds"
    hubcli.empty(ds).create_tensor("videos")
    for i, data in enumerate(_mutations(corpus["h264_bframes"].read_bytes(), rng)[:8]):
        path = tmp_path / f"m{i}.mp4"
        path.write_bytes(data)
        run = hubcli_run("append", str(ds), "videos", str(path))
        assert run.code in (0, 1) and "Traceback" not in run.stderr, run.stderr
        if run.code == 1:
            assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: ")
    assert verify(hubcli.load(ds)).ok


def test_fuzz_cases_were_run():
    print(f"\nfuzz cases run: {sum(CASES_RUN)}")
    assert sum(CASES_RUN) >= 200
