"""A Hub user's first calls (issue 15, reference/hub_video_guide.txt): each used to raise
TypeError or AttributeError; each now works as in Hub, or is a one-line error that says
what to do."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest

import hubcli
from hubcli.errors import (
    CredentialsError,
    DatasetNotFoundError,
    FrameIndexError,
    HubcliWarning,
    InvalidSampleError,
    RaggedError,
    SourceNotFoundError,
    TensorExistsError,
)
from support.helpers import snapshot

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture
def ds(tmp_path, corpus):
    """Tensor 'videos' (mp4) with h264_bframes and hevc (both 60 frames of 96x64)."""
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos", htype="video", sample_compression="mp4")
    ds.videos.extend([str(corpus["h264_bframes"]), str(corpus["hevc"])])
    return ds


# --- links and creds keys ----------------------------------------------------------------


def test_links_append_takes_creds_key_as_the_guide_writes_it(tmp_path, corpus, oracle):
    ds = hubcli.empty(tmp_path / "ds")
    links = ds.create_tensor("video_links", htype="link[video]")
    ds.add_creds_key("MY_KEY")
    ds.populate_creds("MY_KEY", {"aws_access_key_id": "id", "aws_secret_access_key": "s"})
    links.append(str(corpus["h264_bframes"]), creds_key="MY_KEY")
    links.append(hubcli.link(str(corpus["hevc"]), creds_key="MY_KEY"))
    assert [s.sample_info["creds_key"] for s in links] == ["MY_KEY", "MY_KEY"]
    expected = oracle(corpus["h264_bframes"]).frames
    assert np.array_equal(links[0, [0, 59]].numpy(), np.stack([expected[0], expected[59]]))
    assert ds.get_creds_keys() == ["MY_KEY"]


def test_a_creds_key_given_twice_must_agree(tmp_path, corpus):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("links", htype="link[video]")
    ds.add_creds_key("A")
    ds.add_creds_key("B")
    before = snapshot(tmp_path / "ds")
    with pytest.raises(InvalidSampleError, match="creds_key 'B' given beside a link made with"):
        ds.links.append(hubcli.link(str(corpus["hevc"]), creds_key="A"), creds_key="B")
    with pytest.raises(CredentialsError, match="creds key 'NOPE' was not added"):
        ds.links.append(str(corpus["hevc"]), creds_key="NOPE")
    assert snapshot(tmp_path / "ds") == before


def test_a_video_tensor_reads_a_source_with_a_creds_key(ds, corpus):
    ds.videos.append(str(corpus["vfr"]), creds_key="ENV")
    assert ds.videos[2].sample_info["filename"] == str(corpus["vfr"])
    with pytest.raises(CredentialsError, match="creds key 'NOPE' was not added"):
        ds.videos.append(str(corpus["vfr"]), creds_key="NOPE")
    with pytest.raises(InvalidSampleError, match="pass creds= to hubcli.read instead"):
        ds.videos.append(hubcli.read(str(corpus["vfr"])), creds_key="ENV")
    assert len(ds.videos) == 3


# --- hubcli.read(verify=..., compression=...) ---------------------------------------------


def test_read_verify_checks_the_video_at_read_time(tmp_path, corpus):
    source = hubcli.read(corpus["h264_bframes"], verify=True)
    assert source.name == str(corpus["h264_bframes"])
    data = corpus["faststart"].read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.mp4").write_text("not a video\n" * 100)
    with pytest.raises(InvalidSampleError, match="cut.mp4: the file is truncated"):
        hubcli.read(tmp_path / "cut.mp4", verify=True)
    with pytest.raises(InvalidSampleError, match="notes.mp4: not a video file FFmpeg can read"):
        hubcli.read(tmp_path / "notes.mp4", verify=True)
    with pytest.raises(SourceNotFoundError, match="gone.mp4: no such file"):
        hubcli.read(tmp_path / "gone.mp4", verify=True)
    hubcli.read(tmp_path / "gone.mp4")  # without verify: lazy, as before


def test_read_compression_is_checked_against_the_container(ds, corpus):
    hubcli.read(corpus["h264_open_gop"], compression="mkv", verify=True)
    with pytest.raises(InvalidSampleError, match="is an mkv file, but hubcli.read was given"):
        hubcli.read(corpus["h264_open_gop"], compression="mp4", verify=True)
    before = snapshot(Path(ds.path))
    mislabelled = hubcli.read(corpus["mov"], compression="mp4")  # lazy: checked at append
    with pytest.raises(InvalidSampleError, match="mov.mov: is a mov file, but"):
        ds.videos.append(mislabelled)
    assert snapshot(Path(ds.path)) == before
    with pytest.raises(InvalidSampleError, match="unknown compression 'mp3'; use one of: mp4"):
        hubcli.read(corpus["h264_bframes"], compression="mp3")
    ds.videos.append(hubcli.read(corpus["vfr"], compression="mp4"))
    assert len(ds.videos) == 3


# --- hubcli.dataset, create_tensor --------------------------------------------------------


def test_dataset_takes_overwrite_and_read_only(ds, tmp_path):
    path = ds.path
    assert hubcli.dataset(path, read_only=True).read_only
    assert len(hubcli.dataset(path).videos) == 2
    replaced = hubcli.dataset(path, overwrite=True)
    assert replaced.tensors == {} and hubcli.load(path).tensors == {}
    with pytest.raises(DatasetNotFoundError, match="to open read-only"):
        hubcli.dataset(tmp_path / "new", read_only=True)
    assert not (tmp_path / "new").exists()
    with pytest.raises(hubcli.HubcliError, match="not both"):
        hubcli.dataset(path, overwrite=True, read_only=True)
    assert hubcli.dataset(tmp_path / "new").version == 0  # created, as before


def test_create_tensor_exist_ok_and_hubs_ignored_options(tmp_path):
    ds = hubcli.empty(tmp_path / "ds")
    videos = ds.create_tensor(
        "videos",
        htype="video",
        sample_compression="mp4",
        chunk_compression="lz4",
        max_chunk_size=32 << 20,
        create_shape_tensor=True,
        create_sample_info_tensor=True,
        create_id_tensor=True,
    )
    assert list(ds.tensors) == ["videos"]  # no shape, info or id tensors
    version = ds.version
    again = ds.create_tensor("videos", htype="video", sample_compression="mp4", exist_ok=True)
    assert again.name == videos.name and ds.version == version  # no new version
    ro = hubcli.load(tmp_path / "ds", read_only=True)
    assert ro.create_tensor("videos", exist_ok=True).name == "videos"
    with pytest.raises(TensorExistsError, match="as video, mp4, not link\\[video\\], any"):
        ds.create_tensor("videos", htype="link[video]", exist_ok=True)
    with pytest.raises(TensorExistsError, match="already exists"):
        ds.create_tensor("videos")


# --- reading as Hub does ------------------------------------------------------------------


def test_tensor_numpy_shape_and_len(ds, corpus, oracle):
    frames = ds.videos.numpy(aslist=True)
    assert isinstance(frames, list) and len(frames) == 2
    for array, name in zip(frames, ("h264_bframes", "hevc"), strict=True):
        assert np.array_equal(array, np.stack(oracle(corpus[name]).frames))
    assert ds.videos.numpy().shape == (2, 60, 64, 96, 3)
    assert ds.videos.shape == (2, 60, 64, 96, 3)
    assert len(ds) == 2


def test_ragged_shapes_and_errors(tmp_path, corpus):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("clips", sample_compression="mkv")
    ds.clips.extend([str(corpus["h264_open_gop"]), str(corpus["odd_444"])])
    assert ds.clips.shape == (2, None, None, None, 3)
    with pytest.raises(RaggedError) as caught:
        ds.clips.numpy()
    assert str(caught.value) == (
        "2 samples of 'clips' have different shapes (clips[0] is (72, 64, 96, 3), "
        "clips[1] is (60, 55, 97, 3)); pass aslist=True to get a list of arrays"
    )
    assert [a.shape for a in ds.clips.numpy(aslist=True)] == [(72, 64, 96, 3), (60, 55, 97, 3)]


def test_chained_indexing_equals_one_index(ds, corpus, oracle):
    expected = np.stack(oracle(corpus["h264_bframes"]).frames)
    v = ds.videos
    assert np.array_equal(v[0][10:20].numpy(), v[0, 10:20].numpy())
    assert np.array_equal(v[0][10:20].numpy(), expected[10:20])
    assert np.array_equal(v[0][5].numpy(), expected[5])
    assert np.array_equal(v[0][-1].numpy(), expected[-1])
    assert np.array_equal(v[0][::-7].timestamp, v[0, ::-7].timestamp)
    assert np.array_equal(v[0, 10:40][5:25:5].numpy(), expected[10:40][5:25:5])
    assert np.array_equal(v[0, 10:40][3].numpy(), expected[13])
    assert np.array_equal(v[0, [7, 2, 7]][1:].numpy(), expected[[2, 7]])
    assert np.array_equal(v[0, 5][10].numpy(), expected[5][10])  # a row of frame 5
    assert np.array_equal(v[0, 5][10, 3:9].numpy(), expected[5][10, 3:9])
    assert v[0][10:20].shape == (10, 64, 96, 3)
    with pytest.raises(FrameIndexError, match="frame 60 is out of range for videos\\[0\\]"):
        v[0][60].numpy()
    with pytest.raises(FrameIndexError, match="frame 30 is out of range for the frames selected"):
        v[0, 10:40][30]
    with pytest.raises(FrameIndexError, match="it already selects pixels"):
        v[0, 5, 10][2]


def test_sample_numpy_takes_aslist(ds):
    assert np.array_equal(ds.videos[1].numpy(aslist=True), ds.videos[1].numpy())
    assert ds.videos[1, 3].numpy(aslist=False).shape == (64, 96, 3)


# --- commit and with ---------------------------------------------------------------------


def test_commit_records_its_message_in_the_next_commit(ds, corpus):
    version = ds.version
    assert ds.commit("first clips") == version
    assert hubcli.load(ds.path).version == version  # no version of its own
    ds.videos.append(str(corpus["vfr"]))
    ds.videos.append(str(corpus["audio"]))
    log = ds.log()
    assert [e["message"] for e in log[:2]] == [None, "first clips"]
    assert log[1]["version"] == version + 1
    assert ds.commit() == version + 2
    with pytest.raises(TypeError, match="message must be a str"):
        ds.commit(lambda state: None)


def test_commit_on_a_read_only_dataset_says_so(ds):
    with pytest.raises(hubcli.errors.ReadOnlyError, match="opened read-only"):
        hubcli.load(ds.path, read_only=True).commit("x")


def test_a_dataset_is_a_context_manager(tmp_path, corpus):
    with hubcli.empty(tmp_path / "ds") as ds:
        ds.create_tensor("videos")
        ds.videos.append(str(corpus["h264_bframes"]))
        ds.flush()
    assert len(hubcli.load(tmp_path / "ds").videos) == 1


# --- format upgrade, the av extra ----------------------------------------------------------


def test_the_first_write_to_a_legacy_dataset_warns_once(tmp_path, corpus):
    root = shutil.copytree(FIXTURES / "format-1.0", tmp_path / "ds")
    ds = hubcli.load(root)
    with pytest.warns(HubcliWarning) as caught:
        ds.videos.append(str(corpus["h264_bframes"]))
    ds.videos.append(str(corpus["hevc"]))  # filterwarnings=error: a second one would raise
    version = hubcli.load(root).manifest.format_version
    assert version != "1.0"
    assert [str(w.message) for w in caught] == [
        f"upgraded {root} to format {version} (hubcli before 0.3 cannot read it)"
    ]


def test_the_av_extra_exists():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(r.startswith("av") for r in project["optional-dependencies"]["av"])
    assert any(r.startswith("av") for r in project["dependencies"])
