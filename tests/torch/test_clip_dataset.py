"""hubcli.torch: clips and frames for PyTorch, checked against an independent PyAV
decode, the same for any worker count and start method, and never pickling a secret."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import hubcli
from hubcli.errors import FrameIndexError, TensorNotFoundError, UnsupportedHtypeError
from hubcli.torch import ClipDataset, FrameDataset, collate
from support.media import decode_some

NAMES = ("h264_bframes", "vfr", "hevc")
LABELS = ["cat", "dog", ["cat", "dog"]]
CAPTIONS = ["a cat", "a dog", "both"]
META = [{"n": 0}, {"n": 1, "tags": ["x"]}, None]
BOXES = [np.arange(4, dtype=np.float32) + k for k in range(3)]
SECRET = "s3cr3t-DO-NOT-PICKLE-0123456789"
COLUMNS = ("labels", "caption", "meta", "boxes")


@pytest.fixture(scope="module")
def path(tmp_path_factory, corpus):
    root = tmp_path_factory.mktemp("torch") / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    ds.create_tensor("labels", htype="class_label", class_names=["cat", "dog"])
    ds.create_tensor("caption", htype="text")
    ds.create_tensor("meta", htype="json")
    ds.create_tensor("boxes", htype="generic", dtype="float32")
    ds.extend(
        {
            "videos": [str(corpus[n]) for n in NAMES],
            "labels": LABELS,
            "caption": CAPTIONS,
            "meta": META,
            "boxes": BOXES,
        }
    )
    return str(root)


@pytest.fixture(scope="module")
def truth(corpus, oracle):
    return [oracle(corpus[n]) for n in NAMES]


def _check_against_oracle(item, truth, layout="TCHW"):
    decoded = truth[item["index"]]
    wanted = item["frame_indices"].tolist()
    frames = item["frames"].numpy()
    if layout == "TCHW":
        frames = frames.transpose(0, 2, 3, 1)
    assert item["frames"].dtype == torch.uint8
    memory = item["frames"].permute(0, 2, 3, 1) if layout == "TCHW" else item["frames"]
    assert memory.is_contiguous()  # channels-last whatever the layout
    assert np.array_equal(frames, np.stack([decoded.frames[k] for k in wanted]))
    assert item["timestamps"].dtype == torch.float64
    assert item["timestamps"].tolist() == [decoded.times[k] for k in wanted]


def _check_labels(item):
    i = item["index"]
    want = {"cat": [0], "dog": [1]}
    labels = item["labels"].tolist()
    assert (labels if isinstance(labels, list) else [labels]) == (
        [0, 1] if i == 2 else want[LABELS[i]]
    )
    assert item["caption"] == CAPTIONS[i]
    assert item["meta"] == META[i]
    assert torch.equal(item["boxes"], torch.from_numpy(BOXES[i]))


def _fingerprint(batches):
    """What a loader gave, comparable across processes: slots' samples, frame numbers
    and a digest of the pixels."""
    out = []
    for batch in batches:
        for b in range(len(batch["index"])):
            frames = batch["frames"][b].numpy()
            out.append(
                (
                    int(batch["index"][b]),
                    batch["frame_indices"][b].tolist(),
                    int(frames.astype(np.int64).sum()),
                    hash(frames.tobytes()),
                )
            )
    return out


def test_items_equal_the_oracle_with_their_labels(path, truth):
    clips = ClipDataset(path, clip_len=5, frame_step=2, clips_per_video=2, columns=COLUMNS, seed=1)
    assert len(clips) == 6
    items = clips.__getitems__(list(range(len(clips))))
    assert [it["index"] for it in items] == [0, 0, 1, 1, 2, 2]
    for n, item in enumerate(items):
        _check_against_oracle(item, truth)
        _check_labels(item)
        steps = np.diff(item["frame_indices"].numpy())
        assert (steps == 2).all()
        single = clips[n]
        assert torch.equal(single["frames"], item["frames"])
        assert single["frame_indices"].tolist() == item["frame_indices"].tolist()
    assert torch.equal(clips[-1]["frames"], items[-1]["frames"])
    with pytest.raises(IndexError):
        clips[len(clips)]


def test_thwc_layout_and_collate(path, truth):
    clips = ClipDataset(path, clip_len=3, layout="THWC", columns=("labels", "caption", "meta"))
    items = [clips[k] for k in range(3)]
    for item in items:
        _check_against_oracle(item, truth, layout="THWC")
    batch = collate(items)
    assert batch["frames"].shape == (3, 3, 64, 96, 3)
    assert batch["index"].tolist() == [0, 1, 2]
    assert batch["timestamps"].shape == (3, 3)
    assert batch["caption"] == CAPTIONS  # text stays a list of str
    assert batch["meta"] == META
    assert isinstance(batch["labels"], list)  # one label, one label, two labels: no stack


def test_policies_at_the_end_of_a_video(path, truth):
    frames = len(truth[0].frames)  # 60
    clip_len = 7  # 60 = 8 * 7 + 4: the last clip runs 3 frames past the end
    for policy, tail in [
        ("repeat_last", [56, 57, 58, 59, 59, 59, 59]),
        ("wrap", [56, 57, 58, 59, 56, 57, 58]),
    ]:
        clips = ClipDataset(path, clip_len=clip_len, sampler="all", policy=policy, columns=())
        last = clips[frames // clip_len]  # sample 0's ninth clip
        assert last["index"] == 0 and last["frame_indices"].tolist() == tail
        _check_against_oracle(last, truth)
    dropped = ClipDataset(path, clip_len=clip_len, sampler="all", policy="drop", columns=())
    assert dropped[frames // clip_len]["index"] == 1  # sample 0 has 8 whole clips
    with pytest.raises(FrameIndexError, match="sample 0 has 60 positions"):
        ClipDataset(path, clip_len=clip_len, sampler="all", policy="error", columns=())


def test_fps_resamples_the_vfr_video_by_its_stored_timestamps(path, truth):
    clips = ClipDataset(path, clip_len=4, sampler="all", policy="drop", fps=8.0, columns=())
    vfr = [k for k in range(len(clips)) if clips.plan.clip(k).sample == 1]
    times = truth[1].timestamps
    for n, slot in enumerate(vfr[:3]):
        item = clips[slot]
        _check_against_oracle(item, truth)
        for j, frame in enumerate(item["frame_indices"].tolist()):
            target = times[0] + (4 * n + j) / 8.0
            assert times[frame] <= target + 1e-6
            assert frame == len(times) - 1 or times[frame + 1] > target + 1e-6


def test_set_epoch_draws_new_random_clips_and_the_same_ones_again(path):
    clips = ClipDataset(path, clip_len=4, clips_per_video=4, columns=(), seed=5)
    first = [clips.plan.clip(k, 0).frames.tolist() for k in range(len(clips))]
    assert [it["frame_indices"].tolist() for it in clips.__getitems__(range(12))] == first
    clips.set_epoch(1)
    assert [clips[k]["frame_indices"].tolist() for k in range(12)] != first
    clips.set_epoch(0)
    assert [clips[k]["frame_indices"].tolist() for k in range(12)] == first


def test_the_same_batches_with_zero_and_two_forked_workers(path):
    clips = ClipDataset(path, clip_len=4, clips_per_video=3, columns=("labels",), seed=2)
    clips.set_epoch(3)
    clips[0]  # the parent has opened and read the dataset before the fork
    results = []
    for workers in (0, 2):
        loader = DataLoader(clips, batch_size=4, num_workers=workers, collate_fn=collate)
        results.append(_fingerprint(loader))
    assert results[0] == results[1]
    assert len(results[0]) == len(clips) == 9


@pytest.mark.slow
def test_spawned_workers_give_the_same_batches(path):
    clips = ClipDataset(path, clip_len=4, clips_per_video=2, columns=("labels", "caption"))
    clips.set_epoch(1)
    serial = _fingerprint(DataLoader(clips, batch_size=3, collate_fn=collate))
    loader = DataLoader(
        clips,
        batch_size=3,
        num_workers=2,
        collate_fn=collate,
        multiprocessing_context="spawn",
    )
    assert _fingerprint(loader) == serial


def test_pickling_holds_url_version_and_names_never_secrets(path):
    creds = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": SECRET}
    clips = ClipDataset(path, clip_len=4, columns=("labels",), creds=creds)
    data = pickle.dumps(clips)
    assert SECRET.encode() not in data and b"AKIDEXAMPLE" not in data
    assert b"aws_secret_access_key" not in data
    copy = pickle.loads(data)
    assert (copy.url, copy.version, len(copy)) == (clips.url, clips.version, len(clips))
    assert torch.equal(copy[1]["frames"], clips[1]["frames"])
    # Pickled while open: the copy opens its own dataset.
    assert copy.dataset() is not clips.dataset()


def test_a_forked_child_reopens_the_dataset(path):
    clips = ClipDataset(path, clip_len=2, columns=())
    parent = clips.dataset()
    assert clips.dataset() is parent
    clips._pid = -1  # what a forked child sees: a pid that is not its own
    assert clips.dataset() is not parent


def test_a_dataset_object_is_pinned_to_its_version(path, corpus):
    ds = hubcli.load(path)
    clips = ClipDataset(ds, clip_len=4, columns=())
    assert clips.version == ds.version and clips.url == ds.path
    old = ClipDataset(ds, clip_len=4, columns=(), version=ds.version)
    assert len(old) == len(clips)


def test_frame_dataset_gives_every_frame(path, truth):
    frames = FrameDataset(path, frame_step=7, columns=("caption",))
    counts = [len(t.frames) for t in truth]
    assert len(frames) == sum(len(range(0, n, 7)) for n in counts)
    items = frames.__getitems__([0, 1, len(frames) - 1])
    for item in items:
        k = int(item["frame_indices"])
        assert item["frames"].shape == (3, 64, 96)
        got = item["frames"].permute(1, 2, 0).numpy()
        assert np.array_equal(got, truth[item["index"]].frames[k])
        assert float(item["timestamps"]) == truth[item["index"]].times[k]
        assert item["caption"] == CAPTIONS[item["index"]]
    assert items[1]["frame_indices"] == 7
    assert items[2]["index"] == 2 and int(items[2]["frame_indices"]) == 56
    hwc = FrameDataset(path, layout="HWC", columns=())[3]
    assert np.array_equal(hwc["frames"].numpy(), truth[0].frames[3])


def test_clear_errors_for_tensors_and_arguments(path):
    with pytest.raises(TensorNotFoundError, match="no tensor 'nope'.*columns=\\(\\) for none"):
        ClipDataset(path, columns=("nope",))
    with pytest.raises(TensorNotFoundError, match="no tensor 'clips'"):
        ClipDataset(path, tensor="clips", columns=())
    with pytest.raises(UnsupportedHtypeError, match="holds class_label values, not videos"):
        ClipDataset(path, tensor="labels", columns=())
    with pytest.raises(UnsupportedHtypeError, match="column 'videos' cannot be a label column"):
        ClipDataset(path, columns=("videos",))
    with pytest.raises(ValueError, match="layout must be one of"):
        ClipDataset(path, layout="NCHW", columns=())
    with pytest.raises(ValueError, match="clip_len must be a positive int"):
        ClipDataset(path, clip_len=0, columns=())


def test_import_hubcli_and_the_planner_load_no_torch():
    code = "import sys, hubcli, hubcli.sampling; print(json.dumps('torch' in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", f"import json; {code}"], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) is False
    done = subprocess.run(
        [sys.executable, "-c", "import sys, hubcli.torch; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "True"  # the probe can fail


def test_distributed_sampler_gives_each_slot_once_per_epoch(path):
    from torch.utils.data import DistributedSampler

    clips = ClipDataset(path, clip_len=4, clips_per_video=4, columns=())
    seen = []
    for rank in (0, 1):
        sampler = DistributedSampler(clips, num_replicas=2, rank=rank, shuffle=True, seed=1)
        sampler.set_epoch(2)
        loader = DataLoader(clips, batch_size=3, sampler=sampler, collate_fn=collate)
        seen += [int(i) for batch in loader for i in batch["index"]]
        assert len(sampler) == 6
    both = [list(DistributedSampler(clips, num_replicas=2, rank=r, seed=1)) for r in (0, 1)]
    assert sorted(both[0] + both[1]) == list(range(len(clips)))  # 12 slots, each once
    assert sorted(seen) == [0] * 4 + [1] * 4 + [2] * 4


def test_a_damaged_sample_fails_in_the_worker_with_an_error_naming_it(tmp_path, corpus):
    root = tmp_path / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    ds.videos.extend([str(corpus["h264_bframes"])] * 2)  # one chunk: sample 1 is its end
    (chunk,) = (root / "tensors" / "videos" / "chunks").iterdir()
    data = bytearray(chunk.read_bytes())
    start = len(data) * 4 // 5
    data[start : start + 200] = bytes(b ^ 0xFF for b in data[start : start + 200])
    chunk.write_bytes(bytes(data))
    clips = ClipDataset(str(root), clip_len=60, sampler="all", columns=())
    assert clips[0]["frames"].shape[0] == 60  # sample 0 is intact
    loader = DataLoader(clips, batch_size=1, num_workers=1, collate_fn=collate, timeout=60)
    with pytest.raises(hubcli.HubcliError, match=r"sample 1 of 'videos'.*checksum"):
        list(loader)


class _ThreadsProbe(torch.utils.data.Dataset):
    """Reads a clip, then reports the decoder threads its process decodes with."""

    def __init__(self, clips):
        self.clips = clips

    def __len__(self):
        return 2

    def __getitem__(self, index):
        self.clips[index]
        return hubcli.config.decoder_threads


def test_workers_decode_with_one_thread_and_the_parent_keeps_its_setting(path):
    before = hubcli.config.decoder_threads
    clips = ClipDataset(path, clip_len=2, columns=())
    assert list(DataLoader(_ThreadsProbe(clips), num_workers=1)) == [torch.tensor([1])] * 2
    wide = ClipDataset(path, clip_len=2, columns=(), decoder_threads=3)
    assert list(DataLoader(_ThreadsProbe(wide), num_workers=1)) == [torch.tensor([3])] * 2
    clips[0]
    assert hubcli.config.decoder_threads == before


def test_size_scales_clips_in_the_decoding_pass(path, corpus):
    """``size=`` gives what PyAV's own ``reformat`` gives for the same frames of an
    independent full decode (one swscale pass; no resize after conversion)."""
    clips = ClipDataset(path, clip_len=4, frame_step=3, size=(32, 40), columns=(), seed=3)
    items = clips.__getitems__(list(range(len(clips))))
    assert len(items) == 3
    for item in items:
        assert item["frames"].shape == (4, 3, 32, 40)
        wanted = set(item["frame_indices"].tolist())
        expected = decode_some(corpus[NAMES[item["index"]]], wanted, size=(32, 40))
        got = item["frames"].permute(0, 2, 3, 1).numpy()
        for frame, k in zip(got, item["frame_indices"].tolist(), strict=True):
            assert np.array_equal(frame, expected[k]), (item["index"], k)
    frames = FrameDataset(path, frame_step=7, size=(16, 16), columns=())
    assert frames[0]["frames"].shape == (3, 16, 16)
    assert pickle.loads(pickle.dumps(clips))[0]["frames"].shape == (4, 3, 32, 40)
    with pytest.raises(FrameIndexError, match="size must be"):
        ClipDataset(path, size=(0, 4), columns=())
