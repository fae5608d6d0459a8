"""hubcli.sampling: clip slots planned from frame counts and stored timestamps, and the
batch reader checked against an independent PyAV decode."""

from __future__ import annotations

import numpy as np
import pytest

import hubcli
from hubcli.errors import FrameIndexError
from hubcli.sampling import ClipPlan, ClipSpec, apply_policy, plan_for, read_clips, timeline


def _frames(plan, epoch=0):
    return [plan.clip(s, epoch).frames.tolist() for s in range(len(plan))]


# --- the planner, pure ----------------------------------------------------------------
def test_all_sampler_cuts_side_by_side_clips_and_covers_the_tail_by_policy():
    spec = ClipSpec(clip_len=4, sampler="all", policy="repeat_last")
    assert _frames(ClipPlan(spec, [10])) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 9, 9]]
    wrap = ClipSpec(clip_len=4, sampler="all", policy="wrap")
    assert _frames(ClipPlan(wrap, [10]))[-1] == [8, 9, 8, 9]
    drop = ClipSpec(clip_len=4, sampler="all", policy="drop")
    assert _frames(ClipPlan(drop, [10])) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(FrameIndexError, match="sample 0 has 10 positions"):
        ClipPlan(ClipSpec(clip_len=4, sampler="all", policy="error"), [10])
    # A video whose clips fit exactly needs no policy, even "error".
    assert len(ClipPlan(ClipSpec(clip_len=4, sampler="all", policy="error"), [8])) == 2


def test_frame_step_and_clip_stride():
    spec = ClipSpec(clip_len=3, frame_step=2, clip_stride=3, sampler="all", policy="drop")
    assert _frames(ClipPlan(spec, [9])) == [[0, 2, 4], [3, 5, 7]]
    assert spec.span == 5
    # repeat_last repeats the clip's last frame inside the video, on its own step grid.
    tail = ClipSpec(clip_len=4, frame_step=3, sampler="all", policy="repeat_last")
    assert _frames(ClipPlan(tail, [14])) == [[0, 3, 6, 9], [12, 12, 12, 12]]


def test_short_videos_under_each_policy_for_random_and_uniform():
    for sampler in ("random", "uniform"):
        short = [3, 20]
        repeat = ClipPlan(ClipSpec(clip_len=5, sampler=sampler, clips_per_video=2), short)
        assert len(repeat) == 4
        assert repeat.clip(0).frames.tolist() == [0, 1, 2, 2, 2]
        wrap = ClipPlan(ClipSpec(clip_len=5, sampler=sampler, policy="wrap"), short)
        assert wrap.clip(0).frames.tolist() == [0, 1, 2, 0, 1]
        drop = ClipPlan(ClipSpec(clip_len=5, sampler=sampler, policy="drop"), short)
        assert len(drop) == 1 and drop.clip(0).sample == 1
        with pytest.raises(FrameIndexError, match="sample 0 has 3 positions"):
            ClipPlan(ClipSpec(clip_len=5, sampler=sampler, policy="error"), short)


def test_empty_videos_have_no_slots():
    plan = ClipPlan(ClipSpec(clip_len=2), [0, 5, 0])
    assert len(plan) == 1 and plan.clip(0).sample == 1


def test_uniform_spreads_starts_over_the_video():
    plan = ClipPlan(ClipSpec(clip_len=4, sampler="uniform", clips_per_video=3), [20])
    assert [c[0] for c in _frames(plan)] == [0, 8, 16]
    assert _frames(plan, epoch=0) == _frames(plan, epoch=5)


def test_random_clips_depend_only_on_seed_epoch_and_slot():
    spec = ClipSpec(clip_len=4, clips_per_video=3, seed=7)
    plan = ClipPlan(spec, [100, 50, 200])
    again = ClipPlan(spec, [100, 50, 200])
    assert _frames(plan, 1) == _frames(again, 1)
    # Slot order does not matter: a worker asking for slot 5 alone gets the same clip.
    assert plan.clip(5, 1).frames.tolist() == _frames(plan, 1)[5]
    assert _frames(plan, 1) != _frames(plan, 2)
    other_seed = ClipPlan(ClipSpec(clip_len=4, clips_per_video=3, seed=8), [100, 50, 200])
    assert _frames(plan, 1) != _frames(other_seed, 1)
    for clip in plan.clips(range(len(plan)), 3):
        assert clip.frames.tolist() == list(range(clip.frames[0], clip.frames[0] + 4))
        assert clip.frames[-1] < [100, 50, 200][clip.sample]
    starts = {plan.clip(0, e).frames[0] for e in range(40)}
    assert len(starts) > 20  # spread over the 97 possible starts


def test_slot_out_of_range():
    with pytest.raises(FrameIndexError, match="slot 2 is out of range"):
        ClipPlan(ClipSpec(clip_len=2), [5, 5]).clip(2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"clip_len": 0}, "clip_len must be a positive int"),
        ({"frame_step": 1.5}, "frame_step must be a positive int"),
        ({"sampler": "every"}, "sampler must be one of"),
        ({"policy": "pad"}, "policy must be one of"),
        ({"fps": 0}, "fps must be a positive number"),
        ({"seed": -1}, "seed must be a non-negative int"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ClipSpec(**kwargs)


def test_apply_policy():
    positions = np.array([6, 8, 10, 12])
    assert apply_policy(positions, 20, "error").tolist() == [6, 8, 10, 12]
    assert apply_policy(positions, 10, "repeat_last").tolist() == [6, 8, 8, 8]
    assert apply_policy(positions, 10, "wrap").tolist() == [6, 8, 6, 8]


def test_timeline_resamples_a_variable_rate_to_the_frame_shown_at_each_time():
    # Frames at 0, 0.1, 0.15, 0.5 (a long gap), 0.55: at 10 fps the grid is
    # 0, 0.1, ..., 0.5; each time takes the last frame shown at or before it.
    ts = np.array([0.0, 0.1, 0.15, 0.5, 0.55])
    assert timeline(ts, 10).tolist() == [0, 1, 2, 2, 2, 3]
    assert timeline(ts, 20).tolist() == [0, 0, 1, 2, 2, 2, 2, 2, 2, 2, 3, 4]
    assert timeline(ts, None).tolist() == [0, 1, 2, 3, 4]
    # A grid time a rounding error before a frame still names that frame.
    # 29.97 fps in a 1/90000 time base, as hubcli computes seconds (pts * num / den):
    # without the tolerance 26 of these 300 grid times fall just short of their frame.
    ntsc = (np.arange(300) * 3003 + 1001).astype(np.float64) * 1 / 90000
    assert timeline(ntsc, 30000 / 1001).tolist() == list(range(300))
    assert timeline(ntsc, 15000 / 1001).tolist() == list(range(0, 300, 2))


def test_fps_plans_clips_on_the_resampled_timeline():
    ts = np.array([0.0, 0.1, 0.15, 0.5, 0.55])
    line = timeline(ts, 10)
    plan = ClipPlan(ClipSpec(clip_len=3, sampler="all", policy="drop"), [len(line)], [line])
    assert _frames(plan) == [[0, 1, 2], [2, 2, 3]]


# --- against real videos ---------------------------------------------------------------
@pytest.fixture(scope="module")
def ds(tmp_path_factory, corpus):
    root = tmp_path_factory.mktemp("sampling") / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    ds.videos.extend([str(corpus["h264_bframes"]), str(corpus["vfr"]), str(corpus["hevc"])])
    return ds


def test_plan_for_a_tensor_counts_frames_from_the_index(ds, corpus, oracle):
    plan = plan_for(ds.videos, ClipSpec(clip_len=8, sampler="all", policy="drop"))
    counts = [len(oracle(corpus[n]).frames) for n in ("h264_bframes", "vfr", "hevc")]
    assert len(plan) == sum(n // 8 for n in counts)


def test_read_clips_equals_the_oracle_and_reads_each_sample_once(ds, corpus, oracle):
    spec = ClipSpec(clip_len=6, frame_step=2, clips_per_video=3, seed=3)
    plan = plan_for(ds.videos, spec)
    clips = plan.clips([7, 0, 4, 1, 8], epoch=2)
    calls = []

    class Counting:
        def __len__(self):
            return len(ds.videos)

        def __getitem__(self, index):
            calls.append(index[0])
            return ds.videos[index]

    read = read_clips(Counting(), clips)
    assert sorted(calls) == sorted({c.sample for c in clips})  # one call per sample
    names = ("h264_bframes", "vfr", "hevc")
    for got in read:
        truth = oracle(corpus[names[got.clip.sample]])
        want = got.clip.frames.tolist()
        assert np.array_equal(got.frames, np.stack([truth.frames[k] for k in want]))
        assert got.timestamps.tolist() == [truth.times[k] for k in want]
    assert [r.clip.slot for r in read] == [7, 0, 4, 1, 8]


def test_fps_on_a_vfr_file_picks_the_frame_shown_at_each_time(ds, corpus, oracle):
    truth = oracle(corpus["vfr"])
    times = truth.timestamps
    assert len(set(np.round(np.diff(times), 6))) > 1  # the file is variable-rate
    fps = 10.0
    plan = plan_for(ds.videos, ClipSpec(clip_len=4, sampler="all", policy="drop", fps=fps))
    vfr = [c for c in plan.clips(range(len(plan))) if c.sample == 1]
    assert vfr
    for n, clip in enumerate(vfr):
        for j, frame in enumerate(clip.frames.tolist()):
            t = times[0] + (n * 4 + j) / fps
            shown = max(k for k in range(len(times)) if times[k] <= t + 1e-6)
            assert frame == shown
    got = read_clips(ds.videos, vfr[:2])
    for clip in got:
        want = np.stack([truth.frames[k] for k in clip.clip.frames.tolist()])
        assert np.array_equal(clip.frames, want)


# --- crop boxes, pure -------------------------------------------------------------------
def test_crop_boxes_center_random_and_fixed():
    from hubcli.sampling import FrameTransform

    center = FrameTransform((224, 224), crop="center")
    assert center.box((720, 1280)) == (0, 280, 720, 720)
    assert center.box((1280, 720)) == (280, 0, 720, 720)  # portrait: full width
    rand = FrameTransform((224, 224), crop="random")
    boxes = {rand.box((720, 1280), seed=1, epoch=0, slot=s) for s in range(20)}
    assert len(boxes) > 10 and all(b[0] == 0 and 0 <= b[1] <= 560 for b in boxes)
    assert rand.box((720, 1280), 1, 0, 3) == rand.box((720, 1280), 1, 0, 3)
    assert rand.box((720, 1280), 1, 1, 3) != rand.box((720, 1280), 1, 0, 3)
    assert FrameTransform(crop=[1, 2, 3, 4]).box((9, 9)) == (1, 2, 3, 4)
    assert FrameTransform((8, 8)).box((9, 9)) is None
    with pytest.raises(hubcli.HubcliError, match="crop='random' cuts a box"):
        FrameTransform(crop="random")
