"""Scaling at decode time (issue 18): ``numpy(size=(h, w))`` scales in the pass that
converts to RGB, and gives exactly what PyAV's own ``VideoFrame.reformat`` gives for
the same frames of an independent full decode."""

from __future__ import annotations

import numpy as np
import pytest

from hubcli.errors import FrameIndexError
from support.media import decode_some, frame_hash

WANTED = [0, 5, 23, 47]


@pytest.fixture(scope="module")
def two(tmp_path_factory, make_dataset):
    return make_dataset(
        tmp_path_factory.mktemp("resize") / "ds", {"videos": ["h264_bframes", "hevc"]}
    )


@pytest.mark.parametrize("size", [(32, 48), (90, 160), (17, 33)])
def test_scaled_frames_equal_pyav_reformat(two, corpus, size):
    got = two.videos[0, WANTED].numpy(size=size)
    assert got.shape == (len(WANTED), *size, 3) and got.dtype == np.uint8
    scaled = decode_some(corpus["h264_bframes"], set(WANTED), size=size)
    expected = [scaled[k] for k in WANTED]
    assert [frame_hash(f) for f in got] == [frame_hash(f) for f in expected]
    one = two.videos[0, WANTED[2]].numpy(size=size)
    assert one.shape == (*size, 3) and frame_hash(one) == frame_hash(expected[2])


def test_samples_of_different_sizes_stack_once_scaled(two, corpus):
    both = two.videos[0:2, 0].numpy(size=(24, 32))
    assert both.shape == (2, 24, 32, 3)
    expected = decode_some(corpus["hevc"], {0}, size=(24, 32))[0]
    assert frame_hash(both[1]) == frame_hash(expected)


@pytest.mark.parametrize("size", [(0, 10), (10,), (20000, 10), ("a", 3), (2.5, 4), None.__class__])
def test_bad_sizes_are_one_line_errors(two, size):
    with pytest.raises(FrameIndexError, match="size must be"):
        two.videos[0, 0].numpy(size=size)


def test_size_does_not_go_with_a_pixel_index(two):
    with pytest.raises(FrameIndexError, match="cannot go with a pixel index"):
        two.videos[0, 0, 5].numpy(size=(8, 8))
