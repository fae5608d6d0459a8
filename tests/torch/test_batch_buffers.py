"""A batch is decoded straight into its final tensor: each frame is converted into its
place (channels-last memory, a channels-first layout being a view of it, as TorchCodec
gives frames), items of one shape are views of one batch tensor that
``collate`` hands on without stacking, and inside a DataLoader worker that tensor is
in shared memory from the start (nothing is copied on the way to the main process).
Frames are checked against an independent PyAV decode."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

import hubcli
from hubcli.sampling import read_clips
from hubcli.torch import ClipDataset, FrameDataset, VideoFrames, collate
from support.media import LONG


@pytest.fixture(scope="module")
def files(corpus, video):
    """Two videos of 96x64 and one of 160x96: batches of one shape and of two."""
    return [corpus["h264_bframes"], corpus["hevc"], video(LONG)]


@pytest.fixture(scope="module")
def path(tmp_path_factory, files):
    root = tmp_path_factory.mktemp("buffers") / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    ds.videos.extend([str(f) for f in files])
    return str(root)


@pytest.fixture(scope="module")
def truth(files, oracle):
    return [oracle(f) for f in files]


def _expected(item, truth, layout):
    frames = np.stack([truth[item["index"]].frames[k] for k in item["frame_indices"].tolist()])
    if layout == "TCHW":
        return frames.transpose(0, 3, 1, 2)
    return frames


def _channels_last(frames, layout):
    """Whether ``frames`` (in ``layout``) are stored RGB pixel by pixel, without gaps."""
    order = {"TCHW": (0, 2, 3, 1), "CHW": (1, 2, 0)}.get(layout)
    return (frames if order is None else frames.permute(order)).is_contiguous()


@pytest.mark.parametrize("layout", ["TCHW", "THWC"])
def test_one_shape_is_one_batch_tensor_that_collate_hands_on(path, truth, layout):
    clips = ClipDataset(path, clip_len=5, clips_per_video=3, layout=layout, columns=(), seed=3)
    slots = [k for k in range(len(clips)) if clips.plan.clip(k).sample < 2][:4]
    items = clips.__getitems__(slots)
    for item in items:
        assert _channels_last(item["frames"], layout)
        assert np.array_equal(item["frames"].numpy(), _expected(item, truth, layout))
    batch = collate(items)["frames"]
    assert batch.data_ptr() == items[0]["frames"].data_ptr()  # not stacked: the same memory
    assert torch.equal(batch, default_collate(items)["frames"])
    assert torch.equal(batch, torch.stack([it["frames"] for it in items]))


def test_items_of_two_shapes_each_get_their_own_tensor(path, truth):
    clips = ClipDataset(path, clip_len=4, clips_per_video=2, columns=(), seed=1)
    items = clips.__getitems__(list(range(len(clips))))
    assert {it["frames"].shape[-1] for it in items} == {96, 160}
    for item in items:
        assert np.array_equal(item["frames"].numpy(), _expected(item, truth, "TCHW"))
    assert isinstance(collate(items)["frames"], list)  # unequal shapes: listed, not stacked
    same = [it for it in items if it["index"] < 2]
    assert torch.equal(collate(same)["frames"], torch.stack([it["frames"] for it in same]))


def test_a_subset_of_a_batch_is_stacked_not_handed_on(path):
    clips = ClipDataset(path, clip_len=3, clips_per_video=3, columns=(), seed=2)
    items = clips.__getitems__([0, 1, 2])
    part = collate(items[:2])["frames"]
    assert part.shape[0] == 2 and part.data_ptr() != items[0]["frames"].data_ptr()
    assert torch.equal(part, torch.stack([items[0]["frames"], items[1]["frames"]]))
    swapped = collate([items[1], items[0], items[2]])["frames"]
    assert torch.equal(swapped[0], items[1]["frames"])


def test_worker_batches_arrive_in_shared_memory_and_equal_the_main_process(path):
    clips = ClipDataset(path, clip_len=4, clips_per_video=2, columns=(), seed=4)
    slots = [k for k in range(len(clips)) if clips.plan.clip(k).sample < 2]
    subset = torch.utils.data.Subset(clips, slots)
    here = list(DataLoader(subset, batch_size=2, collate_fn=_probed))
    there = list(DataLoader(subset, batch_size=2, num_workers=1, collate_fn=_probed))
    assert len(here) == len(there) == 2
    for a, b in zip(here, there, strict=True):
        assert b["shared in the worker"] and not a["shared in the worker"]
        assert b["unshared tensors"] == [] and "frame_indices" in a["unshared tensors"]
        assert a["handed on whole"] and b["handed on whole"]
        assert torch.equal(a["frames"], b["frames"])
        assert torch.equal(a["frame_indices"], b["frame_indices"])


def _probed(items):
    """collate, whether the batch was in shared memory where it was made (any tensor a
    worker sends is moved there on the way, so look before it is sent: that copy runs
    in the queue's thread, which a worker's exit can end inside torch's C++ code and
    abort it), which of its tensors were not, and whether collate handed the frames on
    without stacking."""
    batch = collate(items)
    batch["shared in the worker"] = batch["frames"].is_shared()
    batch["unshared tensors"] = [
        key
        for key, value in batch.items()
        if isinstance(value, torch.Tensor) and not value.is_shared()
    ]
    batch["handed on whole"] = batch["frames"].data_ptr() == items[0]["frames"].data_ptr()
    return batch


@pytest.mark.parametrize("layout", ["CHW", "HWC"])
def test_frame_layouts_are_written_in_place(path, truth, layout):
    frames = FrameDataset(path, frame_step=7, layout=layout, columns=())
    items = frames.__getitems__([0, 1, 2])
    for item in items:
        want = truth[item["index"]].frames[int(item["frame_indices"])]
        got = item["frames"].numpy()
        assert _channels_last(item["frames"], layout)
        assert np.array_equal(got.transpose(1, 2, 0) if layout == "CHW" else got, want)
        assert item["timestamps"].dim() == 0 and item["frame_indices"].dim() == 0
    assert collate(items)["frames"].data_ptr() == items[0]["frames"].data_ptr()


def test_video_frames_items_are_in_their_layout(path, truth):
    items = list(VideoFrames(path, clip_len=8, columns=()))
    assert sum(len(it["frame_indices"]) for it in items) == sum(len(t.frames) for t in truth)
    for item in items[:3] + items[-2:]:
        assert _channels_last(item["frames"], "TCHW")
        assert np.array_equal(item["frames"].numpy(), _expected(item, truth, "TCHW"))


def test_read_clips_checks_the_arrays_it_is_given(path):
    clips = ClipDataset(path, clip_len=4, columns=())
    videos = hubcli.load(path).videos
    plan = [clips.plan.clip(0)]
    with pytest.raises(ValueError, match=r"out\[0\] is uint8 \(4, 64, 95, 3\)"):
        read_clips(videos, plan, out=[np.zeros((4, 64, 95, 3), np.uint8)])
    with pytest.raises(ValueError, match="out holds 2 arrays for 1 clips"):
        read_clips(videos, plan, out=[np.zeros((4, 64, 96, 3), np.uint8)] * 2)
