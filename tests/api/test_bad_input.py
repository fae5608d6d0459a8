"""Bad input: one clear error naming the file and the problem, and the dataset unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

import hubcli
from hubcli.errors import FrameIndexError, InvalidSampleError, SourceNotFoundError
from support.helpers import snapshot
from support.media import make_audio_only, scramble_packets


@pytest.fixture
def ds(tmp_path, make_dataset):
    return make_dataset(tmp_path / "ds", {"videos": ("mp4", ["h264_bframes"])})


def _cut(src: Path, dst: Path, fraction: float) -> str:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return str(dst)


def _assert_fails_unchanged(ds, source, error, pattern):
    root = Path(ds.path)
    before = snapshot(root)
    with pytest.raises(error, match=pattern) as info:
        ds.videos.append(source)
    assert "\n" not in str(info.value)
    assert snapshot(root) == before
    assert len(hubcli.load(root).videos) == 1
    return info.value


def test_missing_file(ds, tmp_path):
    _assert_fails_unchanged(
        ds, str(tmp_path / "nope.mp4"), SourceNotFoundError, r"nope\.mp4: no such file"
    )


def test_directory(ds, tmp_path):
    _assert_fails_unchanged(ds, str(tmp_path), InvalidSampleError, "not a regular file")


def test_empty_file(ds, tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    _assert_fails_unchanged(
        ds, str(tmp_path / "empty.mp4"), InvalidSampleError, r"empty\.mp4: the file is empty"
    )


def test_not_a_video(ds, tmp_path):
    (tmp_path / "notes.mp4").write_text("these are not the frames you are looking for\n" * 50)
    _assert_fails_unchanged(
        ds, str(tmp_path / "notes.mp4"), InvalidSampleError, r"notes\.mp4: not a video file"
    )


def test_no_video_stream(ds, tmp_path):
    path = make_audio_only(tmp_path / "sound.mp4")
    _assert_fails_unchanged(ds, str(path), InvalidSampleError, r"sound\.mp4: has no video stream")


def test_wrong_container_names_both(ds, corpus):
    err = _assert_fails_unchanged(
        ds, str(corpus["h264_open_gop"]), InvalidSampleError, "is a mkv file"
    )
    assert "holds mp4" in str(err) and "h264_open_gop.mkv" in str(err)


@pytest.mark.parametrize("fraction", [0.5, 0.97])
def test_truncated_mp4_moov_at_end(ds, corpus, tmp_path, fraction):
    path = _cut(corpus["h264_bframes"], tmp_path / "cut.mp4", fraction)
    _assert_fails_unchanged(ds, path, InvalidSampleError, r"cut\.mp4: ")


@pytest.mark.parametrize("fraction", [0.3, 0.9, 0.995])
def test_truncated_faststart_mp4(ds, corpus, tmp_path, fraction):
    path = _cut(corpus["faststart"], tmp_path / "cut.mp4", fraction)
    _assert_fails_unchanged(ds, path, InvalidSampleError, r"cut\.mp4: the file is truncated")


@pytest.mark.parametrize(
    ("name", "fraction"), [("h264_open_gop", 0.6), ("h264_open_gop", 0.99), ("vp9_mkv", 0.8)]
)
def test_truncated_matroska(tmp_path, corpus, name, fraction):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos", sample_compression="mkv")
    path = _cut(corpus[name], tmp_path / "cut.mkv", fraction)
    before = snapshot(tmp_path / "ds")
    with pytest.raises(InvalidSampleError, match=r"cut\.mkv: the file is truncated"):
        ds.videos.append(path)
    assert snapshot(tmp_path / "ds") == before


def test_truncated_avi(tmp_path, corpus):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos", sample_compression="avi")
    path = _cut(corpus["mpeg4_avi"], tmp_path / "cut.avi", 0.7)
    before = snapshot(tmp_path / "ds")
    with pytest.raises(InvalidSampleError, match=r"cut\.avi: the file is truncated"):
        ds.videos.append(path)
    assert snapshot(tmp_path / "ds") == before


def test_noise_instead_of_video_data(ds, corpus, tmp_path):
    """A well-formed container whose video data is noise from the first packet."""
    path = scramble_packets(corpus["faststart"], tmp_path / "noise.mp4", first=0)
    _assert_fails_unchanged(ds, str(path), InvalidSampleError, r"noise\.mp4: ")


def test_undecodable_end_of_stream(tmp_path, corpus):
    """The container and the first GOPs are fine; the rest is noise. The append-time
    decode of the last keyframe catches it."""
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos", sample_compression="mkv")
    path = scramble_packets(corpus["vp9_mkv"], tmp_path / "noise.mkv", first=24)
    before = snapshot(tmp_path / "ds")
    with pytest.raises(InvalidSampleError, match=r"noise\.mkv: the video cannot be decoded"):
        ds.videos.append(str(path))
    assert snapshot(tmp_path / "ds") == before


def test_one_bad_source_appends_nothing(ds, corpus, tmp_path):
    root = Path(ds.path)
    before = snapshot(root)
    with pytest.raises(SourceNotFoundError, match="missing.mp4"):
        ds.videos.extend([str(corpus["hevc"]), str(corpus["audio"]), str(tmp_path / "missing.mp4")])
    assert snapshot(root) == before
    assert len(ds.videos) == 1


def test_bad_sample_types(ds):
    with pytest.raises(InvalidSampleError, match="cannot append int"):
        ds.videos.append(42)
    with pytest.raises(InvalidSampleError, match="URLs with scheme 'ftp' are not supported"):
        hubcli.read("ftp://example.com/a.mp4")


def test_out_of_range(ds):
    with pytest.raises(
        FrameIndexError,
        match=r"sample 1 is out of range for tensor 'videos', which has 1 samples \(valid: -1..0\)",
    ):
        ds.videos[1]
    with pytest.raises(
        IndexError,
        match=r"frame 60 is out of range for videos\[0\], which has 60 frames \(valid: -60..59\)",
    ):
        ds.videos[0, 60].numpy()
    with pytest.raises(IndexError, match="frame -61"):
        ds.videos[0, [0, -61]].timestamp
    with pytest.raises(FrameIndexError, match="cannot index frames"):
        ds.videos[0, 1.5].numpy()


def test_a_pixel_index_out_of_range_is_a_frame_index_error(tmp_path, corpus):
    ds = hubcli.empty(tmp_path / "px")
    ds.create_tensor("videos")
    ds.videos.append(str(corpus["h264_bframes"]))
    for index in ((0, 0, 100), (0, slice(None), 0, 0, 0, 0), (0, 0, "x")):
        with pytest.raises(FrameIndexError, match=r"cannot index the pixels of videos\[0\]"):
            ds.videos[index].shape
        with pytest.raises(FrameIndexError, match=r"cannot index the pixels of videos\[0\]"):
            ds.videos[index].numpy()
    assert ds.videos[0, 0, 10:20].shape == (10, 96, 3)
