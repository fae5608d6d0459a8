"""hubcli.ray.read_frames and read_clips on a local Ray: every row equals an
independent PyAV decode, and a worker killed mid-read is retried to the same rows."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import ray
from conftest import RAY_WARNINGS
from ray.data.datasource import ReadTask

import hubcli
import hubcli.ray
import hubcli.ray.source
from hubcli.errors import FrameIndexError
from hubcli.ray import FrameSource
from hubcli.ray.plan import costs, pack
from hubcli.sampling import ClipSpec, plan_for
from hubcli.torch import ClipDataset
from support.media import decode_cropped

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.usefixtures("ray_local"), *RAY_WARNINGS]

LABELS = ["cat", "dog", "cat"]
META = [{"n": 0}, {"tags": ["x", "y"]}, None]


def _check_frames(rows: list[dict[str, Any]], sources: list[Path], oracle) -> None:
    for row in rows:
        truth = oracle(sources[row["sample"]])
        k = row["frame_index"]
        assert np.array_equal(row["frame"], truth.frames[k]), (row["sample"], k)
        assert row["frame"].dtype == np.uint8
        assert row["timestamp"] == truth.times[k], (row["sample"], k)


def test_every_row_equals_a_full_decode(labelled, oracle):
    path, sources = labelled
    frames = hubcli.ray.read_frames(
        path, "videos[:, ::7]", columns=("labels", "meta"), override_num_blocks=3
    )
    rows = frames.take_all()
    ds = hubcli.load(path, read_only=True)
    wanted = [(s, k) for s in range(3) for k in range(0, ds.videos[s].shape[0], 7)]
    assert sorted((r["sample"], r["frame_index"]) for r in rows) == wanted
    _check_frames(rows, sources, oracle)
    for row in rows:
        assert ds.labels.info.class_names[row["labels"]] == LABELS[row["sample"]]
        assert json.loads(row["meta"]) == META[row["sample"]]


def test_selection_with_repeats_negative_steps_and_scaling(labelled, oracle):
    path, sources = labelled
    rows = hubcli.ray.read_frames(path, "videos[[2, 0], ::-9]", columns=()).take_all()
    ds = hubcli.load(path, read_only=True)
    wanted = sorted((s, k) for s in (2, 0) for k in range(ds.videos[s].shape[0] - 1, -1, -9))
    assert sorted((r["sample"], r["frame_index"]) for r in rows) == wanted
    _check_frames(rows, sources, oracle)
    scaled = hubcli.ray.read_frames(path, "videos[1, [5, 5, 40]]", size=(16, 24), columns=())
    got = sorted(scaled.take_all(), key=lambda r: r["frame_index"])
    assert [r["frame_index"] for r in got] == [5, 5, 40]
    assert np.array_equal(
        np.stack([r["frame"] for r in got]), ds.videos[1, [5, 5, 40]].numpy(size=(16, 24))
    )


def test_clips_follow_the_torch_planner(labelled, oracle):
    path, sources = labelled
    clips = hubcli.ray.read_clips(
        path, clip_len=4, frame_step=2, clips_per_video=2, seed=3, epoch=1, columns=("labels",)
    ).take_all()
    ds = hubcli.load(path, read_only=True)
    spec = ClipSpec(clip_len=4, frame_step=2, clips_per_video=2, seed=3)
    plan = plan_for(ds.videos, spec)
    assert sorted(c["slot"] for c in clips) == list(range(len(plan)))
    for row in clips:
        planned = plan.clip(row["slot"], epoch=1)
        assert row["sample"] == planned.sample
        assert row["frame_indices"].tolist() == planned.frames.tolist()
        truth = oracle(sources[row["sample"]])
        assert np.array_equal(row["frames"], np.stack([truth.frames[k] for k in planned.frames]))
        assert row["timestamps"].tolist() == [truth.times[k] for k in planned.frames]
        assert ds.labels.info.class_names[row["labels"]] == LABELS[row["sample"]]


class DyingFrames(FrameSource):
    """Every read task ends its worker process the first time any task starts (a
    marker file remembers), as a node lost mid-read would."""

    marker: str = ""

    def get_read_tasks(self, parallelism: int, **kwargs: Any) -> list[ReadTask]:
        tasks = super().get_read_tasks(parallelism, **kwargs)
        return [ReadTask(_dies_once(self.marker, t), t.metadata) for t in tasks]


def _dies_once(marker: str, task: ReadTask) -> Any:
    def read() -> Any:
        if not os.path.exists(marker):
            with open(marker, "x") as f:
                f.write("died\n")
            os._exit(1)
        return task()

    return read


def test_a_worker_killed_during_a_read_is_retried_and_the_rows_are_exact(
    labelled, oracle, tmp_path
):
    path, sources = labelled
    source = DyingFrames(path, "videos[:, ::11]", columns=())
    source.marker = str(tmp_path / "died")
    # Ray retries a task whose worker died (max_retries: 3 by default).
    rows = ray.data.read_datasource(source, override_num_blocks=2).take_all()
    assert (tmp_path / "died").exists()  # a worker did die
    ds = hubcli.load(path, read_only=True)
    wanted = [(s, k) for s in range(3) for k in range(0, ds.videos[s].shape[0], 11)]
    assert sorted((r["sample"], r["frame_index"]) for r in rows) == wanted
    _check_frames(rows, sources, oracle)


def test_crop_and_interpolation_in_the_conversion(labelled):
    """A box cut from the source frame, then scaled by swscale's "area" filter: the
    frames of a PyAV decode cropped by numpy and reformatted alike."""
    path, sources = labelled
    box, size = (4, 6, 40, 60), (20, 30)
    rows = hubcli.ray.read_frames(
        path, "videos[0, [5, 40]]", size=size, interpolation="area", crop=box, columns=()
    ).take_all()
    expected = decode_cropped(sources[0], {5, 40}, box, size, "AREA")
    assert sorted(r["frame_index"] for r in rows) == [5, 40]
    for row in rows:
        assert np.array_equal(row["frame"], expected[row["frame_index"]]), row["frame_index"]
    with pytest.raises(FrameIndexError, match="crop=.random. draws a box per clip"):
        hubcli.ray.read_frames(path, size=size, crop="random")


def test_random_crops_of_clips_are_those_of_the_torch_datasets(labelled):
    path, _ = labelled
    options = {"clip_len": 3, "seed": 5, "size": (16, 16), "crop": "random"}
    rows = hubcli.ray.read_clips(path, epoch=2, columns=(), **options).take_all()
    clips = ClipDataset(path, layout="THWC", columns=(), **options)
    clips.set_epoch(2)
    assert len(rows) == len(clips)
    for row in rows:
        item = clips[row["slot"]]
        assert np.array_equal(row["frames"], item["frames"].numpy()), row["slot"]


def test_read_tasks_are_a_few_per_cpu_of_the_cluster(labelled, monkeypatch):
    """Ray asks for 200 blocks by default; tasks of a few keyframe runs each would idle
    the workers between them: at most TASKS_PER_CPU per CPU (2 here; 1 a CPU, so that
    this small dataset has more units than the cap)."""
    path, _ = labelled
    monkeypatch.setattr(hubcli.ray.source, "TASKS_PER_CPU", 1)
    source = FrameSource(path, "videos[:, ::2]", columns=())
    cap = 2
    assert len(pack(costs(source.units), 200)) > cap  # uncapped, the plan would make more
    tasks = source.get_read_tasks(200)
    assert 1 < len(tasks) <= cap
    assert sum(t.metadata.num_rows for t in tasks) == sum(u.rows for u in source.units)
    assert len(source.get_read_tasks(3)) <= 3  # fewer asked for: as asked
