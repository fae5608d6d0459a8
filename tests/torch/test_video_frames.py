"""hubcli.torch.VideoFrames: whole videos in order, sharded by (sample, keyframe run)
across DataLoader workers and ranks: every frame exactly once, equal to an independent
PyAV decode."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import hubcli
from hubcli.torch import VideoFrames

NAMES = ("hevc", "h264_bframes", "vfr")  # hevc: keyint 12, five runs


@pytest.fixture(scope="module")
def path(tmp_path_factory, corpus):
    root = tmp_path_factory.mktemp("sequential") / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    ds.create_tensor("caption", htype="text")
    ds.extend({"videos": [str(corpus[n]) for n in NAMES], "caption": list(NAMES)})
    return str(root)


@pytest.fixture(scope="module")
def truth(corpus, oracle):
    return [oracle(corpus[n]) for n in NAMES]


def test_two_ranks_of_two_workers_give_every_frame_once_in_runs(path, truth):
    seen: dict[tuple[int, int], int] = {}
    for rank in (0, 1):
        frames = VideoFrames(path, clip_len=5, rank=rank, world_size=2, columns=("caption",))
        loader = DataLoader(frames, batch_size=None, num_workers=2)
        for item in loader:
            sample, wanted = item["index"], item["frame_indices"].tolist()
            assert wanted == list(range(wanted[0], wanted[0] + len(wanted)))  # consecutive
            assert 1 <= len(wanted) <= 5 and item["caption"] == NAMES[sample]
            decoded = truth[sample]
            got = item["frames"].permute(0, 2, 3, 1).numpy()
            assert np.array_equal(got, np.stack([decoded.frames[k] for k in wanted]))
            assert item["timestamps"].tolist() == [decoded.times[k] for k in wanted]
            for k in wanted:
                seen[(sample, k)] = seen.get((sample, k), 0) + 1
    every = {(s, k) for s, d in enumerate(truth) for k in range(len(d.frames))}
    assert set(seen) == every and set(seen.values()) == {1}


def test_units_are_the_keyframe_runs_dealt_round_robin(path, truth):
    frames = VideoFrames(path, rank=1, world_size=2)
    units = frames.units
    hevc = units[units[:, 0] == 0]
    assert len(hevc) == 5 and hevc[:, 1].tolist() == [0, 12, 24, 36, 48]  # keyint 12
    for sample, decoded in enumerate(truth):  # the runs of a sample tile its frames
        mine = units[units[:, 0] == sample]
        assert mine[0, 1] == 0 and mine[-1, 2] == len(decoded.frames)
        assert (mine[1:, 1] == mine[:-1, 2]).all()
    shards = [frames.shard(w, 3) for w in range(3)]  # rank 1's workers: every 6th unit
    assert [s[:, :2].tolist() for s in shards] == [units[k::6, :2].tolist() for k in (3, 4, 5)]


def test_single_frames_in_order_cropped_and_scaled(path):
    frames = VideoFrames(path, size=(16, 16), crop="center", layout="HWC")
    items = list(frames)
    assert len(items) == 60 * 3
    assert [int(i["frame_indices"]) for i in items[:13]] == list(range(13))
    ds = hubcli.load(path)
    expected = ds.videos[1, 7].numpy(size=(16, 16), crop=(0, 16, 64, 64))
    (item,) = [i for i in items if i["index"] == 1 and int(i["frame_indices"]) == 7]
    assert item["frames"].shape == (16, 16, 3) and item["frames"].dtype == torch.uint8
    assert np.array_equal(item["frames"].numpy(), expected)


def test_bad_ranks_and_layouts(path):
    with pytest.raises(ValueError, match="0 <= rank < world_size, not rank=2, world_size=2"):
        VideoFrames(path, rank=2, world_size=2)
    with pytest.raises(ValueError, match="layout must be one of \\('TCHW', 'THWC'\\)"):
        VideoFrames(path, clip_len=4, layout="CHW")
    with pytest.raises(ValueError, match="clip_len must be a positive int or None"):
        VideoFrames(path, clip_len=0)
