"""Creating, opening and writing datasets through the Python API."""

from __future__ import annotations

import pytest

import hubcli
from hubcli.errors import (
    DatasetExistsError,
    DatasetNotFoundError,
    HubcliError,
    InvalidNameError,
    ReadOnlyError,
    TensorExistsError,
    TensorNotFoundError,
    UnsupportedHtypeError,
)
from support.helpers import snapshot


def test_empty_then_load(tmp_path, corpus):
    ds = hubcli.empty(tmp_path / "ds")
    assert ds.path == str(tmp_path / "ds") and ds.version == 0 and ds.tensors == {}
    t = ds.create_tensor("videos", htype="video", sample_compression="mp4")
    assert t.name == "videos" and len(t) == 0 and ds.version == 1
    t.append(hubcli.read(corpus["h264_bframes"]))
    t.append(str(corpus["hevc"]))
    again = hubcli.load(tmp_path / "ds")
    assert list(again.tensors) == ["videos"]
    assert len(again.videos) == len(again["videos"]) == 2 == len(again)
    assert again.version == 3
    assert again.videos[1].shape == (60, 64, 96, 3)
    assert "videos" in again and "nope" not in again


def test_empty_refuses_existing_dataset_without_overwrite(tmp_path):
    hubcli.empty(tmp_path / "ds").create_tensor("videos")
    before = snapshot(tmp_path / "ds")
    with pytest.raises(DatasetExistsError, match="already exists.*overwrite=True"):
        hubcli.empty(tmp_path / "ds")
    assert snapshot(tmp_path / "ds") == before


def test_overwrite_replaces_only_the_dataset(tmp_path, corpus):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos").append(str(corpus["h264_bframes"]))
    (tmp_path / "ds" / "NOTES.txt").write_text("mine")
    fresh = hubcli.empty(tmp_path / "ds", overwrite=True)
    assert fresh.tensors == {} and fresh.version == 0
    assert (tmp_path / "ds" / "NOTES.txt").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == ["NOTES.txt", "log", "versions"]
    assert hubcli.load(tmp_path / "ds").manifest.dataset_id != ds.manifest.dataset_id


def test_overwrite_never_touches_an_unrelated_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"\xff\xd8 not ours")
    before = snapshot(folder)
    with pytest.raises(DatasetExistsError, match="holds no hubcli dataset"):
        hubcli.empty(folder, overwrite=True)
    assert snapshot(folder) == before


def test_empty_in_an_existing_empty_folder(tmp_path):
    (tmp_path / "ds").mkdir()
    assert hubcli.empty(tmp_path / "ds").version == 0


def test_load_missing_dataset(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"no hubcli dataset at .*nothing.*hubcli.empty"):
        hubcli.load(tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()
    (tmp_path / "folder").mkdir()
    with pytest.raises(FileNotFoundError):  # builtins still catch our errors
        hubcli.load(tmp_path / "folder")


def test_dataset_opens_or_creates(tmp_path):
    ds = hubcli.dataset(tmp_path / "ds")
    ds.create_tensor("videos")
    assert list(hubcli.dataset(tmp_path / "ds").tensors) == ["videos"]


def test_create_tensor_errors(tmp_path):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    before = snapshot(tmp_path / "ds")
    with pytest.raises(TensorExistsError, match="'videos' already exists"):
        ds.create_tensor("videos")
    with pytest.raises(UnsupportedHtypeError, match="unknown htype 'image'"):
        ds.create_tensor("images", htype="image")
    with pytest.raises(UnsupportedHtypeError, match="unknown sample_compression 'mpg'"):
        ds.create_tensor("clips", sample_compression="mpg")
    for bad in ["", "../x", "/abs", "a/b", "x\x00y", "-lead", "a" * 65, "with space"]:
        with pytest.raises(InvalidNameError):
            ds.create_tensor(bad)
    assert snapshot(tmp_path / "ds") == before


def test_unknown_tensor(tmp_path):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    with pytest.raises(TensorNotFoundError, match=r"no tensor 'clips'.*tensors: videos"):
        ds["clips"]
    with pytest.raises(AttributeError):
        ds.clips


def test_read_only(tmp_path, corpus):
    hubcli.empty(tmp_path / "ds").create_tensor("videos")
    ds = hubcli.load(tmp_path / "ds", read_only=True)
    before = snapshot(tmp_path / "ds")
    with pytest.raises(ReadOnlyError, match="read-only"):
        ds.videos.append(str(corpus["h264_bframes"]))
    with pytest.raises(ReadOnlyError):
        ds.create_tensor("more")
    assert snapshot(tmp_path / "ds") == before


def test_two_writers_both_land(tmp_path, corpus):
    """A writer whose view is stale re-applies its append on the newer version."""
    hubcli.empty(tmp_path / "ds").create_tensor("videos")
    a = hubcli.load(tmp_path / "ds")
    b = hubcli.load(tmp_path / "ds")
    a.videos.append(str(corpus["h264_bframes"]))
    b.videos.append(str(corpus["hevc"]))  # b still sees version 1; version 2 is taken
    final = hubcli.load(tmp_path / "ds")
    assert final.version == 3
    assert [s.sample_info["codec"] for s in final.videos] == ["h264", "hevc"]
    assert b.videos[1].sample_info["codec"] == "hevc"


def test_create_tensor_race_is_a_clear_error(tmp_path):
    hubcli.empty(tmp_path / "ds")
    a, b = hubcli.load(tmp_path / "ds"), hubcli.load(tmp_path / "ds")
    a.create_tensor("videos")
    with pytest.raises(TensorExistsError):
        b.create_tensor("videos")


def test_extend_is_one_commit(tmp_path, corpus):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    ds.videos.extend([str(corpus["h264_bframes"]), str(corpus["hevc"]), str(corpus["audio"])])
    assert ds.version == 2 and len(ds.videos) == 3
    chunks = list((tmp_path / "ds" / "tensors" / "videos" / "chunks").iterdir())
    assert len(chunks) == 1  # small videos share one chunk


def test_memory_dataset_needs_no_disk(corpus):
    """Nothing above the storage layer assumes a local disk."""
    ds = hubcli.empty("memory://core-test", overwrite=True)
    ds.create_tensor("videos", sample_compression="mkv")
    ds.videos.append(str(corpus["h264_open_gop"]))
    again = hubcli.load("memory://core-test")
    assert again.videos[0, -1].numpy().shape == (64, 96, 3)


def test_repr_and_errors_are_hubcli_errors(tmp_path):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    assert "videos[0]" in repr(ds) and "length=0" in repr(ds.videos)
    assert issubclass(DatasetNotFoundError, HubcliError)


def test_leftovers_of_an_interrupted_overwrite(tmp_path, corpus):
    """Hint and manifests gone (an overwrite deletes them first), the log and tensors/
    left behind: no dataset, and creating one clears them."""
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos").append(str(corpus["h264_bframes"]))
    (tmp_path / "ds" / "log" / "hint.json").unlink()
    for manifest in (tmp_path / "ds" / "versions").iterdir():
        manifest.unlink()
    with pytest.raises(DatasetNotFoundError):
        hubcli.load(tmp_path / "ds")
    fresh = hubcli.dataset(tmp_path / "ds")
    assert fresh.version == 0 and fresh.tensors == {}
    assert not (tmp_path / "ds" / "tensors").exists()


def test_a_writer_never_commits_onto_a_replaced_dataset(tmp_path, corpus):
    stale = hubcli.empty(tmp_path / "ds")
    stale.create_tensor("videos")
    replaced = hubcli.empty(tmp_path / "ds", overwrite=True)
    replaced.create_tensor("videos")
    before = snapshot(tmp_path / "ds")
    with pytest.raises(hubcli.errors.ConflictError, match="replaced or removed"):
        stale.videos.append(str(corpus["h264_bframes"]))
    assert snapshot(tmp_path / "ds") == before


def test_an_error_after_the_commit_keeps_the_committed_sample(tmp_path, corpus, monkeypatch):
    """Ctrl-C (or a lost reply) after the manifest landed must not delete its objects."""
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    real_commit = hubcli.Dataset._commit

    def commit_then_interrupt(self, change, *args, **kwargs):
        real_commit(self, change, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(hubcli.Dataset, "_commit", commit_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        ds.videos.append(str(corpus["h264_bframes"]))
    monkeypatch.undo()
    again = hubcli.load(tmp_path / "ds")
    assert len(again.videos) == 1
    assert again.videos[0, -1].numpy().shape == (64, 96, 3)


def test_names_with_a_trailing_newline_are_refused(tmp_path):
    with pytest.raises(InvalidNameError):
        hubcli.empty(tmp_path / "ds").create_tensor("videos\n")
