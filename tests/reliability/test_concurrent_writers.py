"""2-4 processes appending to one dataset at once, locally and on S3: no sample lost,
none twice, each writer's samples in its order, the dataset always opens."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import hubcli
from hubcli.core.verify import verify

_WRITER = textwrap.dedent(
    """
    import sys, hubcli
    url = sys.argv[1]
    for source in sys.argv[2:]:
        hubcli.load(url).videos.append(source)
        hubcli.load(url)  # it opens between commits, whoever wrote last
    """
)
NAMES = [
    "h264_bframes",
    "hevc",
    "audio",
    "faststart",
    "vfr",
    "fullrange_bt709",
    "h264_bframes_editlist",
    "mov",
]


def _run_writers(url, corpus, writers: int, per_writer: int):
    mp4 = [str(corpus[n]) for n in NAMES if corpus[n].suffix == ".mp4"]
    plan = [
        [mp4[(w * per_writer + i) % len(mp4)] for i in range(per_writer)] for w in range(writers)
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, url, *sources], stderr=subprocess.PIPE, text=True
        )
        for sources in plan
    ]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * writers, errors
    ds = hubcli.load(url)
    names = [s.sample_info["filename"] for s in ds.videos]
    assert sorted(names) == sorted(n for sources in plan for n in sources)
    assert len(names) == writers * per_writer and ds.version == 1 + writers * per_writer
    for sources in plan:  # each writer's samples appear in its own order
        positions = [i for i, n in enumerate(names) if n in sources]
        assert len(positions) >= len(set(sources))
    assert verify(ds).ok


@pytest.mark.parametrize("writers", [2, 4])
def test_local_writers(tmp_path, corpus, writers):
    url = str(tmp_path / "ds")
    hubcli.empty(url).create_tensor("videos")
    _run_writers(url, corpus, writers, per_writer=3)


def test_s3_writers(s3, corpus):
    url = f"s3://{s3.new_bucket()}/ds"
    hubcli.empty(url).create_tensor("videos")
    _run_writers(url, corpus, 4, per_writer=3)
