"""Commits that lose the race to another writer are planned again on the newest state.

A compaction that loses the race is planned again on the newest
state. Kept merged segments are reused only when the newer state just grew at the
end of what they cover; any other change (here: the other writer's own compaction of
the appended samples, as two processes appending rows do) means planning anew,
never a layout that loses or repeats samples."""

from __future__ import annotations

import pytest

import hubcli
import hubcli.core.tensor
from hubcli.core.compact import compact_change
from hubcli.core.verify import verify
from hubcli.errors import TensorNotFoundError
from support.helpers import content


def _race(a, b_writes):
    """``a`` compacts; between its plan and its commit, ``b_writes`` commits."""
    change = compact_change([], a.reader_of)
    raced = []

    def planned_then_raced(state):
        plan = change(state)
        if not raced:
            raced.append(state.version)
            b_writes()
        return plan

    a._commit(planned_then_raced, message="compact")
    return raced


def _labels(path, values):
    ds = hubcli.empty(path)
    ds.create_tensor("t", htype="class_label", class_names=["a", "b"])
    for value in values:  # a small segment each
        ds.t.append(value)
    return ds


@pytest.fixture(autouse=True)
def _no_automatic_merges(monkeypatch):
    monkeypatch.setattr("hubcli.core.dataset.MERGE_VALUES_AFTER", 1_000)


def test_label_compaction_raced_by_an_append_and_its_compaction(tmp_path):
    path = tmp_path / "ds"
    _labels(path, ["a", "b", "a"])
    a, b = hubcli.load(path), hubcli.load(path)

    def append_and_compact():
        b.t.append("b")  # a fourth sample, then merged with the first three by b
        assert b.compact()

    assert _race(a, append_and_compact)
    ds = hubcli.load(path)
    assert ds.t.numpy().tolist() == [0, 1, 0, 1]
    assert verify(ds).ok


def test_label_compaction_raced_by_appends_only_keeps_its_merged_segments(tmp_path):
    path = tmp_path / "ds"
    _labels(path, ["a", "b", "a"])
    a, b = hubcli.load(path), hubcli.load(path)
    assert _race(a, lambda: b.t.extend(["b", "b"]))
    ds = hubcli.load(path)
    assert ds.t.numpy().tolist() == [0, 1, 0, 1, 1]
    entry = ds.log()[0]  # newest first
    assert entry["message"] == "compact" and ds.version == entry["version"]
    assert verify(ds).ok


def test_video_compaction_raced_by_an_append_and_its_compaction(tmp_path, clips):
    path = tmp_path / "ds"
    ds = hubcli.empty(path)
    ds.create_tensor("videos")
    for clip in clips[:3]:
        ds.videos.append(clip)
    a, b = hubcli.load(path), hubcli.load(path)

    def append_and_compact():
        b.videos.append(clips[0])
        assert b.compact()

    assert _race(a, append_and_compact)
    once = hubcli.empty(tmp_path / "once")
    once.create_tensor("videos")
    once.videos.extend([*clips[:3], clips[0]])
    ds = hubcli.load(path)
    assert content(ds) == content(once)
    assert verify(ds).ok


# -- a tensor dropped or renamed, and a new one of its name, while an append runs --------


def _append_raced_by(monkeypatch, a, other_writer):
    """``a`` appends a clip to ``videos``; between its plan and its commit,
    ``other_writer`` commits."""
    planned = hubcli.core.tensor.append_change

    def racing(name, directory, entries):
        change = planned(name, directory, entries)
        raced = []

        def plan(state):
            if not raced:
                raced.append(True)
                other_writer()
            return change(state)

        return plan

    monkeypatch.setattr(hubcli.core.tensor, "append_change", racing)


@pytest.mark.parametrize("how", ["dropped", "renamed"])
def test_an_append_never_lands_in_a_new_tensor_of_the_same_name(tmp_path, clips, monkeypatch, how):
    path = tmp_path / "ds"
    ds = hubcli.empty(path)
    ds.create_tensor("videos")
    ds.videos.append(clips[0])
    a, b = hubcli.load(path), hubcli.load(path)

    def replace_the_tensor():
        if how == "dropped":
            b.delete_tensor("videos")
        else:
            b.rename_tensor("videos", "old")
        b.create_tensor("videos")

    _append_raced_by(monkeypatch, a, replace_the_tensor)
    with pytest.raises(TensorNotFoundError, match="replaced while this append ran"):
        a.videos.append(clips[1])
    monkeypatch.undo()
    ds = hubcli.load(path)
    assert len(ds.videos) == 0 and ds.videos.meta.dir != "videos"
    assert (len(ds.old) == 1) if how == "renamed" else ("old" not in ds.tensors)
    ds.videos.append(clips[1])  # the new tensor works, in its own folder
    assert len(ds.videos) == 1 and verify(ds).ok
