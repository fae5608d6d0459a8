"""Frame tables, segments and the planning of decode runs."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from hubcli.errors import CorruptDatasetError
from hubcli.format.frames import (
    FLAG_DISCARD,
    FLAG_KEYFRAME,
    FrameTable,
    decode_frame_table,
    encode_frame_table,
)
from hubcli.video.plan import plan_runs, start_packets


def _table(pts, keys, discard=()):
    n = len(pts)
    flags = np.zeros(n, np.uint8)
    flags[list(keys)] |= FLAG_KEYFRAME
    flags[list(discard)] |= FLAG_DISCARD
    shown = np.array([i for i in range(n) if i not in discard])
    order = shown[np.argsort(np.array(pts)[shown], kind="stable")]
    return FrameTable(
        offset=np.arange(n, dtype=np.int64) * 10,
        size=np.full(n, 10, np.uint32),
        pts=np.array(pts, np.int64),
        dts=np.arange(n, dtype=np.int64),
        flags=flags,
        crc32=np.zeros(n, np.uint32),
        frame_packet=order.astype(np.uint32),
    )


# Open GOP in decode order: I0 P4 B2 B1 B3 | I8 B6 B5 B7 P12 B10 B9 B11
OPEN_GOP_PTS = [0, 4, 2, 1, 3, 8, 6, 5, 7, 12, 10, 9, 11]


def test_roundtrip():
    t = _table(OPEN_GOP_PTS, keys=[0, 5])
    again = decode_frame_table(encode_frame_table(t), "x")
    for name in ("offset", "size", "pts", "dts", "flags", "crc32", "frame_packet"):
        assert np.array_equal(getattr(again, name), getattr(t, name))
    assert list(again.frame_pts) == sorted(OPEN_GOP_PTS)


def test_leading_pictures_start_at_the_previous_keyframe():
    t = _table(OPEN_GOP_PTS, keys=[0, 5])
    # frames 5, 6, 7 (pts 5, 6, 7) are decoded after I8 but shown before it
    assert list(start_packets(t, np.array([0, 4, 5, 6, 7, 8, 12]))) == [0, 0, 0, 0, 0, 5, 5]


def test_runs_merge_and_never_repeat_a_packet():
    t = _table(OPEN_GOP_PTS, keys=[0, 5])
    # Frame 1 needs packets 0-3 only; frames 8 and 12 need GOP 2: two runs.
    runs = plan_runs(t, np.array([12, 1, 1, 8]))
    assert [(r.start, r.stop, sorted(r.wanted)) for r in runs] == [(0, 4, [3]), (5, 10, [5, 9])]
    # Frame 5 is a leading picture of GOP 2 (packet 7, decoded from packet 0): its run
    # overlaps GOP 2's, so they merge and packets 5-7 are decoded once.
    runs = plan_runs(t, np.array([12, 5, 8]))
    assert [(r.start, r.stop, sorted(r.wanted)) for r in runs] == [(0, 10, [5, 7, 9])]
    runs = plan_runs(t, np.array([9]))
    assert [(r.start, r.stop, sorted(r.wanted)) for r in runs] == [(5, 12, [11])]


def test_separate_gops_make_separate_runs():
    pts = list(range(30))
    t = _table(pts, keys=[0, 10, 20])
    runs = plan_runs(t, np.array([25, 3, 4]))
    assert [(r.start, r.stop, sorted(r.wanted)) for r in runs] == [(0, 5, [3, 4]), (20, 26, [25])]


def test_frames_before_the_first_keyframe_decode_from_packet_zero():
    t = _table(list(range(10)), keys=[4])
    assert list(start_packets(t, np.array([0, 3, 4, 9]))) == [0, 0, 4, 4]


def _corrupt(**changes):
    t = _table(OPEN_GOP_PTS, keys=[0, 5])
    body = msgpack.unpackb(encode_frame_table(t))
    body.update(changes)
    return msgpack.packb(body)


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"packets": 99}, "wrong length"),
        ({"size": b"\x00"}, "wrong length"),
        ({"frame_packet": np.array([0] * 13, "<u4").tobytes()}, "not a set of packet indices"),
        ({"frame_packet": np.arange(13, dtype="<u4")[::-1].copy().tobytes()}, "out of order"),
        ({"flags": np.full(13, 0x80, np.uint8).tobytes()}, "unknown packet flag"),
        ({"offset": np.full(13, -5, "<i8").tobytes()}, "negative packet offset"),
    ],
)
def test_corrupt_tables_are_rejected(changes, pattern):
    with pytest.raises(CorruptDatasetError, match=pattern):
        decode_frame_table(_corrupt(**changes), "t")


def test_garbage_is_rejected():
    with pytest.raises(CorruptDatasetError, match="not valid msgpack"):
        decode_frame_table(b"\xc1\xc1", "t")
    with pytest.raises(CorruptDatasetError, match="missing field"):
        decode_frame_table(msgpack.packb({"packets": 0}), "t")
