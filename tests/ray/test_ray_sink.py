"""hubcli.ray.Datasink on a local Ray: one commit of every task's rows; a task killed
mid-way and retried, a bad file, or a commit that fails leave the dataset exactly as
before or with every sample once."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import ray
from conftest import RAY_WARNINGS

import hubcli
import hubcli.ray
from hubcli.ray import Datasink
from support.helpers import snapshot
from support.media import frame_hash

pytestmark = [pytest.mark.usefixtures("ray_local"), *RAY_WARNINGS]

NAMES = ("h264_bframes", "hevc", "h264_bframes_editlist", "vfr")
LABELS = ("cat", "dog", "dog", "cat")


@pytest.fixture
def target(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    ds.create_tensor("labels", htype="class_label", class_names=["cat", "dog"])
    return root


def _rows(corpus: dict[str, Path], names=NAMES, labels=LABELS) -> Any:
    items = [
        {"videos": str(corpus[n]), "labels": lab} for n, lab in zip(names, labels, strict=True)
    ]
    return ray.data.from_items(items, override_num_blocks=2)


def content(ds: hubcli.Dataset) -> list[tuple[str, list[str], Any]]:
    """What a reader sees of each row: the video's file and frame hashes, its label."""
    labels = ds.labels.numpy(aslist=True)
    return [
        (view.sample_info["filename"], [frame_hash(f) for f in view.numpy()], labels[i].tolist())
        for i, view in enumerate(ds.videos)
    ]


def _check_every_sample_once(root: Path, corpus, oracle, version: int) -> None:
    ds = hubcli.load(root)
    assert ds.version == version  # one commit
    files = [ds.videos[i].sample_info["filename"] for i in range(len(ds.videos))]
    assert Counter(files) == Counter(str(corpus[n]) for n in NAMES)
    names = ds.labels.info.class_names
    by_file = {str(corpus[n]): lab for n, lab in zip(NAMES, LABELS, strict=True)}
    for i, name in enumerate(files):
        assert names[int(ds.labels[i].numpy())] == by_file[name]  # rows stay aligned
        view = ds.videos[i]
        truth = oracle(corpus[NAMES[[str(corpus[n]) for n in NAMES].index(name)]])
        assert [frame_hash(f) for f in view.numpy()] == truth.hashes()
        assert view.timestamp.tolist() == truth.times


def test_rows_of_several_tasks_land_in_one_commit(target, corpus, oracle):
    before = hubcli.load(target).version
    _rows(corpus).write_datasink(Datasink(target, columns=("labels",)))
    _check_every_sample_once(target, corpus, oracle, before + 1)
    assert len(hubcli.load(target).log()) == before + 2  # versions 0..before+1
    # The same process reads what it just wrote: nothing stale is kept of the newest.
    assert hubcli.ray.read_frames(target, "videos[:, 0]", columns=()).count() == 4


class DyingSink(Datasink):
    """Each write task stores its videos, then its worker dies the first time (a
    marker file remembers): the objects are written, the result never returned."""

    marker = ""

    def write(self, blocks: Any, ctx: Any) -> Any:
        staged = super().write(blocks, ctx)
        if not os.path.exists(self.marker):
            with open(self.marker, "x") as f:
                f.write(f"{len(staged.keys)} objects written\n")
            os._exit(1)
        return staged


def test_a_write_task_killed_mid_way_is_retried_and_every_sample_lands_once(
    target, corpus, oracle, tmp_path
):
    before = hubcli.load(target).version
    sink = DyingSink(target, columns=("labels",))
    sink.marker = str(tmp_path / "died")
    _rows(corpus).write_datasink(sink)  # Ray retries a task whose worker died
    assert (tmp_path / "died").read_text() != "0 objects written\n"
    _check_every_sample_once(target, corpus, oracle, before + 1)
    # What the dead task wrote is named by no version: gc removes it, and only it.
    ds = hubcli.load(target)
    seen = content(ds)
    report = ds.gc(safety_window=0)
    assert report["objects_removed"] >= 2  # its chunk and its segment at least
    assert content(hubcli.load(target)) == seen


class RacedSink(Datasink):
    """Another writer removes the labels tensor between the tasks and the commit."""

    def on_write_complete(self, write_result: Any) -> None:
        ds = hubcli.load(self.url)
        ds.delete_tensor("labels")
        staged = {k for s in write_result.write_returns for k in s.keys}
        assert staged
        self.expected = {k: v for k, v in snapshot(Path(self.url)).items() if k not in staged}
        super().on_write_complete(write_result)


def test_a_failing_commit_leaves_the_dataset_as_the_other_writer_left_it(target, corpus):
    sink = RacedSink(target, columns=("labels",))
    with pytest.raises(Exception, match="'labels' was removed or replaced while this append"):
        _rows(corpus).write_datasink(sink)
    # Nothing of the sink's: not a version, not an object (the driver removed them all).
    assert snapshot(target) == sink.expected
    ds = hubcli.load(target)
    assert len(ds.videos) == 0 and "labels" not in ds


def test_a_bad_file_among_good_ones_changes_nothing_and_is_named(target, corpus, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video\n" * 100)
    ds = hubcli.load(target)
    seen, version = content(ds), ds.version
    rows = [{"videos": str(corpus[n]), "labels": "cat"} for n in NAMES[:3]]
    rows.insert(2, {"videos": str(bad), "labels": "dog"})
    with pytest.raises(Exception, match="notes.mp4"):
        ray.data.from_items(rows, override_num_blocks=2).write_datasink(Datasink(target))
    ds = hubcli.load(target)
    assert ds.version == version and content(ds) == seen
    # The good task's objects are leftovers no version names: gc's to remove.
    ds.gc(safety_window=0)
    assert content(hubcli.load(target)) == seen
    assert not [k for k in snapshot(target) if "/chunks/" in k]


def test_bad_rows_and_labels_are_refused_before_anything_is_stored(target, corpus):
    version = hubcli.load(target).version
    no_labels = ray.data.from_items([{"videos": str(corpus["hevc"])}])
    with pytest.raises(Exception, match="no column 'labels'"):
        no_labels.write_datasink(Datasink(target))
    with pytest.raises(hubcli.errors.TensorNotFoundError, match="no tensor 'nope'"):
        Datasink(target, columns=("nope",))
    assert hubcli.load(target).version == version
    assert not [k for k in snapshot(target) if "/chunks/" in k]
