"""Frames and timestamps against an independent full decode (tests/media.py::decode_all)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hubcli
from support.media import CORPUS, Decoded, frame_hash

NAMES = [spec.name for spec in CORPUS]
SPECS = {spec.name: spec for spec in CORPUS}


@pytest.fixture(scope="module")
def corpus_ds(tmp_path_factory, corpus) -> hubcli.Dataset:
    """One dataset with a tensor per corpus video (tensor name = video name)."""
    ds = hubcli.empty(tmp_path_factory.mktemp("oracle") / "ds")
    for name in NAMES:
        ds.create_tensor(name, sample_compression=SPECS[name].container)
        ds[name].append(str(corpus[name]))
    return ds


def test_corpus_is_present(corpus):
    # No vacuous passes: every codec/container the core issue names is in the corpus.
    codecs = {(s.codec, s.container) for s in CORPUS}
    assert {
        ("libx264", "mp4"),
        ("libx264", "mkv"),
        ("libx265", "mp4"),
        ("libvpx-vp9", "webm"),
    } <= codecs
    assert {("libsvtav1", "mkv"), ("mpeg4", "avi")} <= codecs
    assert any(s.vfr for s in CORPUS) and any(s.audio for s in CORPUS)
    assert any(s.pts_offset < 0 for s in CORPUS) and any(s.pix_fmt == "yuv444p" for s in CORPUS)
    assert any("10le" in s.pix_fmt for s in CORPUS)
    assert all(corpus[n].stat().st_size > 1000 for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_shape_is_the_decoded_frame_count(corpus_ds, corpus, oracle, name):
    expected: Decoded = oracle(corpus[name])
    spec = SPECS[name]
    assert corpus_ds[name][0].shape == (len(expected.frames), spec.height, spec.width, 3)


@pytest.mark.parametrize("name", NAMES)
def test_every_frame_and_timestamp_matches_a_full_decode(corpus_ds, corpus, oracle, name):
    expected = oracle(corpus[name])
    sample = corpus_ds[name][0]
    frames = sample.numpy()
    assert frames.dtype == np.uint8
    assert [frame_hash(f) for f in frames] == expected.hashes()
    timestamps = sample.timestamp
    assert timestamps.dtype == np.float64
    np.testing.assert_array_equal(timestamps, expected.timestamps)


def test_edit_list_drops_discarded_frames(corpus_ds, corpus, oracle):
    # 60 packets were encoded; the edit list hides the first 5, and frame 0 is at t=0.
    expected = oracle(corpus["h264_bframes_editlist"])
    assert len(expected.frames) == 55
    assert corpus_ds["h264_bframes_editlist"][0].shape[0] == 55
    assert corpus_ds["h264_bframes_editlist"][0, 0].timestamp == expected.times[0]


def _expected(expected: Decoded, selection):
    positions = np.arange(len(expected.frames))[selection]
    if np.ndim(positions) == 0:
        return expected.hashes()[int(positions)], expected.times[int(positions)]
    return [expected.hashes()[i] for i in positions], expected.timestamps[positions]


SELECTIONS = [
    0,
    -1,
    7,
    -13,
    slice(None),
    slice(10, 40, 5),
    slice(None, None, -1),
    slice(-1, 3, -7),
    slice(50, 10, -2),
    slice(5, 5),
    [3, 1, 4, 1, 5, 9, 2, 6],
    [-1, 0, -1],
    [],
    np.array([11, 12, 13, 0]),
    slice(0, 1000),
    slice(-1000, 3),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("selection", SELECTIONS, ids=repr)
def test_selections(corpus_ds, corpus, oracle, name, selection):
    expected = oracle(corpus[name])
    view = corpus_ds[name][0, selection]
    want_hashes, want_times = _expected(expected, selection)
    got = view.numpy()
    if isinstance(want_hashes, str):
        assert got.shape == view.shape == expected.frames[0].shape
        assert frame_hash(got) == want_hashes
        assert view.timestamp == want_times and isinstance(view.timestamp, float)
    else:
        assert got.shape == view.shape == (len(want_hashes), *expected.frames[0].shape)
        assert [frame_hash(f) for f in got] == want_hashes
        np.testing.assert_array_equal(view.timestamp, want_times)
    data = view.data()
    assert np.array_equal(data["frames"], got)
    np.testing.assert_array_equal(data["timestamps"], want_times)


def _selection(n: int) -> st.SearchStrategy:
    index = st.integers(-n, n - 1)
    bound = st.none() | st.integers(-n - 5, n + 5)
    step = st.none() | st.integers(-9, 9).filter(lambda s: s != 0)
    return index | st.builds(slice, bound, bound, step) | st.lists(index, max_size=8)


HYPOTHESIS_VIDEOS = [
    "h264_bframes_editlist",
    "h264_open_gop",
    "hevc_10bit_open_gop",
    "mpeg4_avi",
    "vfr",
    "av1",
]


@pytest.mark.parametrize("name", HYPOTHESIS_VIDEOS)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_property_selections_match_numpy_indexing_of_the_full_decode(
    corpus_ds, corpus, oracle, name, data
):
    expected = oracle(corpus[name])
    selection = data.draw(_selection(len(expected.frames)))
    want_hashes, want_times = _expected(expected, selection)
    view = corpus_ds[name][0, selection]
    got = view.numpy()
    if isinstance(want_hashes, str):
        assert frame_hash(got) == want_hashes and view.timestamp == want_times
    else:
        assert [frame_hash(f) for f in got] == want_hashes
        np.testing.assert_array_equal(view.timestamp, want_times)


def test_pixel_indexing_after_frames(corpus_ds, corpus, oracle):
    expected = oracle(corpus["h264_bframes"])
    view = corpus_ds["h264_bframes"][0, 3:9:2, 10:20, ::2, 1]
    got = view.numpy()
    want = np.stack(expected.frames)[3:9:2, 10:20, ::2, 1]
    assert view.shape == want.shape == got.shape
    assert np.array_equal(got, want)


def test_several_samples_stack_or_list(tmp_path, corpus, oracle):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos", sample_compression="mp4")
    ds.videos.extend(
        [str(corpus["h264_bframes"]), str(corpus["hevc"]), str(corpus["h264_bframes_editlist"])]
    )
    stacked = ds.videos[0:2, 5:8].numpy()
    assert stacked.shape == (2, 3, 64, 96, 3)
    for k, name in enumerate(["h264_bframes", "hevc"]):
        assert [frame_hash(f) for f in stacked[k]] == oracle(corpus[name]).hashes()[5:8]
    # 60, 60 and 55 frames: ragged without a frame selection
    assert ds.videos[:].shape == (3, None, 64, 96, 3)
    with pytest.raises(hubcli.errors.RaggedError, match="aslist=True"):
        ds.videos[:].numpy()
    arrays = ds.videos[[2, 0], -1].numpy(aslist=True)
    assert [frame_hash(a) for a in arrays] == [
        oracle(corpus["h264_bframes_editlist"]).hashes()[-1],
        oracle(corpus["h264_bframes"]).hashes()[-1],
    ]
    assert len(ds.videos[::-1].sample_info) == 3
    assert ds.videos[1:3].timestamp[1][0] == oracle(corpus["h264_bframes_editlist"]).times[0]


def test_sample_info_without_decoding(corpus_ds, corpus):
    info = corpus_ds["h264_bframes"][0].sample_info
    assert info["shape"] == [60, 64, 96, 3]
    assert info["fps"] == 24.0
    assert info["timebase"] == 1 / 12288
    assert info["duration"] == 60 * 512  # 60 frames of 1/24 s in 1/12288 units
    assert info["format"] == "mp4" and info["codec"] == "h264" and info["modified"] is False
    assert info["filename"] == str(corpus["h264_bframes"])
    assert info["size"] == Path(corpus["h264_bframes"]).stat().st_size
    mkv = corpus_ds["h264_open_gop"][0].sample_info
    assert mkv["format"] == "mkv" and mkv["duration"] > 0 and mkv["fps"] == 24.0
    assert corpus_ds["vp9"][0].sample_info["format"] == "webm"
    assert corpus_ds["mpeg4_avi"][0].sample_info["format"] == "avi"
    vfr = corpus_ds["vfr"][0].sample_info
    assert 0 < vfr["fps"] < 60
