"""Scaling and cropping at decode time (issue 18): ``numpy(size=(h, w), crop=box,
interpolation=...)`` crops and scales in the pass that converts to RGB, and gives exactly
what PyAV's own ``VideoFrame.reformat`` gives for the same frames of an independent full
decode, cropped in numpy."""

from __future__ import annotations

import av
import numpy as np
import pytest

from hubcli.errors import FrameIndexError, HubcliError
from support.media import decode_cropped, decode_some, frame_hash

WANTED = [0, 5, 23, 47]


@pytest.fixture(scope="module")
def two(tmp_path_factory, make_dataset):
    return make_dataset(
        tmp_path_factory.mktemp("resize") / "ds",
        {
            "videos": ["h264_bframes", "hevc", "fullrange_bt709"],
            "mkv": ("mkv", ["odd_444", "vp9_mkv", "hevc_10bit_open_gop"]),
        },
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


# --- crop and interpolation, against numpy cropping the planes of a PyAV decode ---------
CROPS = [
    ((0, 0, 64, 96), None),  # the whole frame
    ((3, 5, 40, 50), None),  # odd edges: the chroma starts half a sample in
    ((10, 20, 30, 44), (32, 48)),
    ((2, 4, 21, 33), (90, 160)),  # odd sizes, scaled up
]


@pytest.mark.parametrize(("box", "size"), CROPS)
def test_crop_then_scale_equals_pyav_on_the_cropped_planes(two, corpus, box, size):
    got = two.videos[0, WANTED].numpy(crop=box, size=size)
    expected = decode_cropped(corpus["h264_bframes"], set(WANTED), box, size)
    assert got.shape == (len(WANTED), *(size or box[2:]), 3)
    assert [frame_hash(f) for f in got] == [frame_hash(expected[k]) for k in WANTED]


@pytest.mark.parametrize("interpolation", ["bicubic", "area", "nearest", "lanczos"])
def test_interpolation_is_swscale_s_algorithm(two, corpus, interpolation):
    flag = {"nearest": "POINT"}.get(interpolation, interpolation.upper())
    box = (6, 8, 50, 70)
    got = two.videos[0, WANTED[:2]].numpy(size=(33, 47), crop=box, interpolation=interpolation)
    expected = decode_cropped(corpus["h264_bframes"], set(WANTED[:2]), box, (33, 47), flag)
    assert [frame_hash(f) for f in got] == [frame_hash(expected[k]) for k in WANTED[:2]]
    plain = two.videos[0, WANTED[:2]].numpy(size=(33, 47), crop=box)
    assert not np.array_equal(got, plain)  # the algorithm made a difference


@pytest.mark.parametrize(
    ("tensor", "sample", "name", "location"),
    [
        ("mkv", 0, "odd_444", None),
        ("videos", 2, "fullrange_bt709", "left"),
        ("mkv", 1, "vp9_mkv", None),
    ],
)
def test_crop_on_other_pixel_formats_and_colour_ranges(two, corpus, tensor, sample, name, location):
    _, height, width, _ = two[tensor][sample].shape
    box = (1, 3, height - 9, width - 13)
    got = two[tensor][sample, [0, 7]].numpy(crop=box, size=(40, 40))
    expected = decode_cropped(corpus[name], {0, 7}, box, (40, 40), location=location)
    for frame, k in zip(got, [0, 7], strict=True):
        assert np.abs(frame.astype(int) - expected[k]).max() <= 1, (name, k)
    assert np.array_equal(got[0], expected[0])  # the same swscale path: exact


def test_a_whole_frame_crop_changes_nothing_and_samples_views_crop_each(two):
    whole = two.videos[0, 5].numpy(crop=(0, 0, 64, 96))
    assert np.array_equal(whole, two.videos[0, 5].numpy())
    both = two.videos[0:2, 0].numpy(crop=(8, 8, 32, 32), size=(16, 16))
    assert both.shape == (2, 16, 16, 3)
    assert np.array_equal(both[1], two.videos[1, 0].numpy(crop=(8, 8, 32, 32), size=(16, 16)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"crop": (0, 0, 65, 10)},
            r"crop \(0, 0, 65, 10\).*does not lie inside the 96x64 frames of videos\[0\]",
        ),
        ({"crop": (-1, 0, 5, 5)}, "does not lie inside"),
        ({"crop": (0, 0, 0, 5)}, "does not lie inside"),
        ({"crop": (0, 0, 5)}, "crop must be \\(top, left, height, width\\)"),
        ({"crop": "center"}, "crop must be"),
        ({"crop": (0, 0, 5.0, 5)}, "four ints"),
        ({"interpolation": "cubic"}, "interpolation must be one of nearest, fast_bilinear"),
        ({"interpolation": None}, "interpolation must be one of"),
        ({"size": (0, 3)}, "size must be"),
    ],
)
def test_bad_crops_and_interpolations_are_one_line_errors(two, kwargs, message):
    with pytest.raises(HubcliError, match=message) as raised:
        two.videos[0, 0].numpy(**kwargs)
    assert "\n" not in str(raised.value)


def test_ten_bit_4_2_0_moves_an_odd_left_edge_to_the_chroma_grid(two, corpus):
    """FFmpeg's crop filter cannot start a 2-byte, horizontally subsampled chroma plane
    at an odd luma column: such a box moves one pixel left, keeping its size."""
    odd = two.mkv[2, [0, 3]].numpy(crop=(3, 5, 40, 50), size=(20, 25))
    even = two.mkv[2, [0, 3]].numpy(crop=(3, 4, 40, 50), size=(20, 25))
    assert np.array_equal(odd, even)
    expected = decode_cropped(corpus["hevc_10bit_open_gop"], {0, 3}, (3, 4, 40, 50), (20, 25))
    assert np.array_equal(even[1], expected[3])


def test_crop_does_not_go_with_a_pixel_index(two):
    with pytest.raises(FrameIndexError, match="cannot go with a pixel index"):
        two.videos[0, 0, 5].numpy(crop=(0, 0, 8, 8))


def test_keyframe_runs_come_from_the_frame_table(two, corpus):
    runs = two.videos[0].keyframe_runs()
    assert runs[0] == 0 and runs[-1] == two.videos[0].shape[0]
    assert (np.diff(runs) > 0).all()
    with av.open(str(corpus["h264_bframes"])) as container:
        keys = [k for k, f in enumerate(container.decode(video=0)) if f.key_frame]
    assert runs[:-1].tolist() == keys  # closed GOPs: a run per keyframe
