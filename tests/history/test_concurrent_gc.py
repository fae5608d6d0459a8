"""gc running while 2-4 processes append (issue #14), locally and on the S3 and GCS test
servers: every committed sample survives, verifies and reads its own frames."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

import hubcli
from hubcli.core.verify import verify
from support.media import frame_hash

_APPENDER = textwrap.dedent(
    """
    import json, sys, time, hubcli
    url, deadline = sys.argv[1], float(sys.argv[2])
    clips = sys.argv[3:]
    done = []
    while time.time() < deadline:
        clip = clips[len(done) % len(clips)]
        hubcli.load(url).videos.append(clip)
        done.append(clip)
    print(json.dumps(done))
    """
)


def _run(url, clips, clip_hashes, writers, seconds, window):
    ds = hubcli.empty(url)
    ds.create_tensor("videos")
    ds.videos.append(clips[0])
    deadline = time.time() + seconds
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _APPENDER, url, str(deadline), *clips[w:], *clips[:w]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(writers)
    ]
    collections = 0
    while any(p.poll() is None for p in procs):
        hubcli.load(url).gc(keep_versions=1, safety_window=window)
        collections += 1
        time.sleep(0.2)
    appended = [clips[0]]
    for p in procs:
        out, err = p.communicate()
        assert p.returncode == 0, err[-2000:]
        appended += json.loads(out)
    final = hubcli.load(url)
    final.gc(keep_versions=1, safety_window=window)
    final = hubcli.load(url)
    assert collections >= 3
    assert len(final.videos) == len(appended)
    assert sorted(v.sample_info["filename"] for v in final.videos) == sorted(appended)
    report = verify(final)
    assert report.ok, report.problems
    for view in final.videos:
        first = frame_hash(final.videos[view.index, 0].numpy())
        assert first == clip_hashes[view.sample_info["filename"]][0]


@pytest.mark.slow
@pytest.mark.parametrize("writers", [2, 4])
def test_gc_while_processes_append_locally(tmp_path, clips, clip_hashes, writers):
    _run(str(tmp_path / "ds"), clips, clip_hashes, writers, seconds=8, window=3)


@pytest.mark.slow
@pytest.mark.parametrize("service", ["s3", "gcs"])
def test_gc_while_processes_append_remotely(request, clips, clip_hashes, service):
    remote = request.getfixturevalue(service)
    url = f"{remote.scheme}://{remote.new_bucket()}/ds"
    _run(url, clips, clip_hashes, 2, seconds=10, window=6)
