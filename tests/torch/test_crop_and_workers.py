"""hubcli.torch: crop, interpolation and size fused into the conversion, checked against
numpy cropping the planes of an independent PyAV decode; the same batches for 0 and 4
workers (fork and spawn); resuming through torchdata's StatefulDataLoader; fps= on
edit-list files; and one clear error for each bad argument."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torchdata.stateful_dataloader import StatefulDataLoader

import hubcli
from hubcli.errors import FrameIndexError, HubcliError
from hubcli.sampling import FrameTransform
from hubcli.torch import ClipDataset, FrameDataset, VideoFrames, collate
from support.media import decode_cropped

#: torch warns when workers outnumber the cores (2 on CI): 4 workers is the point here.
MORE_WORKERS_THAN_CORES = pytest.mark.filterwarnings(
    "ignore:This DataLoader will create 4 worker processes:UserWarning"
)
NAMES = ("h264_bframes", "h264_bframes_editlist", "vfr")  # all 96x64, H.264 (chroma "left")


@pytest.fixture(scope="module")
def path(tmp_path_factory, corpus):
    root = tmp_path_factory.mktemp("crop") / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    ds.create_tensor("labels", htype="class_label", class_names=["a", "b", "c"])
    ds.extend({"videos": [str(corpus[n]) for n in NAMES], "labels": ["a", "b", "c"]})
    return str(root)


def _check_clip(item, corpus, box, size, interpolation="BILINEAR"):
    frames = item["frame_indices"].tolist()
    expected = decode_cropped(corpus[NAMES[item["index"]]], set(frames), box, size, interpolation)
    got = item["frames"].permute(0, 2, 3, 1).numpy()
    assert got.shape == (len(frames), *size, 3)
    for frame, k in zip(got, frames, strict=True):
        assert np.array_equal(frame, expected[k]), (item["index"], k, box)


def _fingerprint(batches):
    return [
        (int(i), f.tolist(), hash(x.numpy().tobytes()))
        for batch in batches
        for i, f, x in zip(batch["index"], batch["frame_indices"], batch["frames"], strict=True)
    ]


def test_center_crop_is_the_largest_centred_box_of_the_target_aspect(path, corpus):
    clips = ClipDataset(path, clip_len=3, frame_step=5, size=(32, 32), crop="center", columns=())
    for item in clips.__getitems__([0, 2]):
        _check_clip(item, corpus, (0, 16, 64, 64), (32, 32))  # 96x64: a 64x64 box
    wide = FrameTransform((20, 60), crop="center").box((64, 96))
    assert wide == (16, 0, 32, 96)  # 3:1 in 96x64: full width, 32 rows


def test_random_crops_differ_per_clip_and_repeat_per_seed_and_epoch(path, corpus):
    clips = ClipDataset(
        path, clip_len=4, clips_per_video=3, size=(24, 40), crop="random", columns=(), seed=9
    )
    clips.set_epoch(2)
    items = clips.__getitems__(list(range(len(clips))))
    transform = FrameTransform((24, 40), crop="random")
    boxes = [transform.box((64, 96), 9, 2, slot) for slot in range(len(clips))]
    assert len(set(boxes)) > 1
    assert {b[2:] for b in boxes} == {(58, 96)}  # the largest 24:40 box of 96x64
    for slot in (0, 1, 5):  # clips of one sample, cropped differently, share its decode
        _check_clip(items[slot], corpus, boxes[slot], (24, 40))
    again = clips.__getitems__([1, 0])
    assert torch.equal(again[0]["frames"], items[1]["frames"])
    clips.set_epoch(3)
    assert not torch.equal(clips[1]["frames"], items[1]["frames"])


def test_a_box_and_an_interpolation(path, corpus):
    clips = ClipDataset(
        path, clip_len=2, crop=(4, 6, 40, 60), size=(30, 30), interpolation="area", columns=()
    )
    _check_clip(clips[1], corpus, (4, 6, 40, 60), (30, 30), "AREA")
    frames = FrameDataset(path, frame_step=20, crop=(4, 6, 40, 60), columns=())
    item = frames[2]
    expected = decode_cropped(corpus[NAMES[0]], {40}, (4, 6, 40, 60), (40, 60))
    assert np.array_equal(item["frames"].permute(1, 2, 0).numpy(), expected[40])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"crop": "middle", "size": (8, 8)}, FrameIndexError, "crop must be 'center', 'random'"),
        ({"crop": "center"}, FrameIndexError, "crop='center' cuts a box .* no size= was given"),
        ({"crop": (0, 0, 65, 8)}, FrameIndexError, r"does not lie inside the 96x64 .*videos\[0\]"),
        ({"crop": (0, 0, 8)}, FrameIndexError, "four ints"),
        ({"interpolation": "linear"}, FrameIndexError, "interpolation must be one of"),
        ({"size": (224,)}, FrameIndexError, "size must be"),
    ],
)
def test_bad_crop_size_and_interpolation_are_one_clear_error(path, kwargs, error, message):
    for kind in (ClipDataset, FrameDataset):
        with pytest.raises(error, match=message) as raised:
            kind(path, columns=(), **kwargs)
        assert isinstance(raised.value, HubcliError) and "\n" not in str(raised.value)
    with pytest.raises(FrameIndexError, match="crop='random' draws a box per training clip"):
        VideoFrames(path, crop="random", size=(8, 8))


def test_fps_on_an_edit_list_file_follows_its_stored_timestamps(path, oracle, corpus):
    truth = oracle(corpus["h264_bframes_editlist"])
    clips = ClipDataset(path, clip_len=5, sampler="all", policy="drop", fps=7.0, columns=())
    slots = [k for k in range(len(clips)) if clips.plan.clip(k).sample == 1]
    times = truth.timestamps
    # The edit list hides the 5 frames before 0: 55 shown, the first at 0 s.
    assert times[0] == 0.0 and len(times) == 55
    for n, slot in enumerate(slots):
        item = clips[slot]
        for j, (frame, pixels) in enumerate(
            zip(item["frame_indices"].tolist(), item["frames"], strict=True)
        ):
            target = times[0] + (5 * n + j) / 7.0
            assert times[frame] <= target + 1e-6
            assert frame == len(times) - 1 or times[frame + 1] > target + 1e-6
            assert np.array_equal(pixels.permute(1, 2, 0).numpy(), truth.frames[frame])
        assert item["timestamps"].tolist() == [truth.times[k] for k in item["frame_indices"]]


@MORE_WORKERS_THAN_CORES
def test_four_forked_workers_give_the_batches_of_none(path):
    clips = ClipDataset(
        path, clip_len=3, clips_per_video=4, size=(16, 24), crop="random", columns=("labels",)
    )
    clips.set_epoch(1)
    serial = _fingerprint(DataLoader(clips, batch_size=2, collate_fn=collate))
    forked = DataLoader(
        clips, batch_size=2, num_workers=4, collate_fn=collate, multiprocessing_context="fork"
    )
    assert _fingerprint(forked) == serial and len(serial) == 12


@pytest.mark.slow
@MORE_WORKERS_THAN_CORES
def test_four_spawned_workers_give_the_batches_of_none(path):
    clips = ClipDataset(path, clip_len=2, clips_per_video=2, size=(16, 16), crop="random")
    clips.set_epoch(4)
    serial = _fingerprint(DataLoader(clips, batch_size=2, collate_fn=collate))
    spawned = DataLoader(
        clips, batch_size=2, num_workers=4, collate_fn=collate, multiprocessing_context="spawn"
    )
    assert _fingerprint(spawned) == serial


# torchdata 0.11 still calls torch.set_vital, deprecated by torch 2.13: not ours to fix.
@pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")
@pytest.mark.parametrize("workers", [0, 2])
def test_stateful_dataloader_resumes_with_the_next_batch(path, workers):
    def loader(clips):
        return StatefulDataLoader(
            clips,
            batch_size=3,
            shuffle=True,
            generator=torch.Generator().manual_seed(5),
            num_workers=workers,
            collate_fn=collate,
        )

    def dataset():
        return ClipDataset(path, clip_len=3, clips_per_video=4, crop="random", size=(16, 16))

    clips = dataset()
    clips.set_epoch(2)
    whole = _fingerprint(loader(clips))
    interrupted = loader(clips)
    batches = iter(interrupted)
    next(batches), next(batches)
    state = interrupted.state_dict()
    del batches
    # A new process: a new dataset, left at epoch 0; the checkpoint brings epoch 2 back.
    resumed = loader(dataset())
    resumed.load_state_dict(state)
    assert _fingerprint(resumed) == whole[6:]
