"""Streaming reads from S3, measured at the server (a proxy in front of moto): a few
frames of a large remote video cost the bytes those frames need, not the video."""

from __future__ import annotations

import numpy as np
import pytest

import hubcli
from support.media import STREAM_720P, decode_some, frame_hash

#: A frame costs at most this much more than the packets it needs plus the index.
BUDGET = 1.05


@pytest.fixture(scope="module")
def remote_720p(s3, video):
    src = video(STREAM_720P)
    url = f"s3://{s3.new_bucket()}/ds"
    ds = hubcli.empty(url)
    ds.create_tensor("videos")
    ds.videos.append(str(src))
    chunk = next(k for k in s3.keys(url[5:]) if "/chunks/" in k)
    return url, src, chunk


def _gets(s3, part=""):
    return [e for e in s3.proxy.log if e.method == "GET" and part in e.path]


def test_one_frame_late_in_a_gop(s3, remote_720p, capsys):
    url, src, _chunk = remote_720p
    s3.proxy.reset()
    ds = hubcli.load(url)
    table = ds.videos.reader().frame_table(0)
    index_bytes = sum(e.sent for e in _gets(s3))  # list + manifest + segment header + frame table
    keys = np.flatnonzero(table.keyframe)
    packet = int(keys[3]) - 1  # the last packet before the 4th keyframe: late in GOP 3
    frame = int(np.flatnonzero(table.frame_packet == packet)[0])
    start = int(keys[2])
    packets_needed = int(table.size[start : packet + 1].sum())

    s3.proxy.reset()
    got = ds.videos[0, frame].numpy()
    video_gets = _gets(s3, "/chunks/")
    video_bytes = sum(e.sent for e in video_gets)
    total = sum(e.sent for e in _gets(s3))
    assert frame_hash(got) == frame_hash(decode_some(src, {frame})[frame])
    lower_bound = packets_needed + index_bytes
    assert index_bytes + total <= BUDGET * lower_bound
    assert len(video_gets) == 1 and total == video_bytes  # one ranged GET; index cached
    object_size = int(table.size.sum())
    with capsys.disabled():
        print(
            f"\nframe {frame} (packet {packet}, GOP from packet {start}): {len(video_gets)} GET, "
            f"{video_bytes} video bytes for {packets_needed} bytes of packets needed; index "
            f"{index_bytes} bytes in 4 requests; video is {object_size} bytes "
            f"({(index_bytes + total) / lower_bound:.4f}x the lower bound)"
        )


def test_shape_and_info_read_no_video_bytes(s3, remote_720p):
    url, _, _ = remote_720p
    s3.proxy.reset()
    ds = hubcli.load(url)
    assert ds.videos[0].shape == (1440, 720, 1280, 3)
    assert ds.videos[0].sample_info["duration"] > 0
    assert ds.videos[0, 100:200].shape == (100, 720, 1280, 3)
    assert _gets(s3, "/chunks/") == []
    assert len(s3.proxy.log) == 3  # LIST versions, GET manifest, GET segment header


def test_scattered_frames_one_get_per_run(s3, remote_720p):
    url, src, _ = remote_720p
    ds = hubcli.load(url)
    table = ds.videos.reader().frame_table(0)
    wanted = [10, 600, 1300]  # three GOPs
    s3.proxy.reset()
    frames = ds.videos[0, wanted].numpy()
    expected = decode_some(src, set(wanted))
    assert [frame_hash(f) for f in frames] == [frame_hash(expected[k]) for k in wanted]
    gets = _gets(s3, "/chunks/")
    assert len(gets) == 3
    assert sum(e.sent for e in gets) < int(table.size.sum()) / 3
