"""The read planner of hubcli.ray, without running Ray: units never split a keyframe
run, cover exactly the selection, and are packed into balanced contiguous tasks with
honest metadata."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

import hubcli
from hubcli.core.frame_index import normalize_positions
from hubcli.ray import ClipSource, FrameSource
from hubcli.ray.plan import clip_units, costs, frame_units, pack
from hubcli.sampling import ClipSpec, FrameTransform, plan_for
from hubcli.video.plan import start_packets

FRAME_SELECTIONS = [
    Ellipsis,
    slice(None, None, 30),
    slice(None, None, 7),
    slice(None, None, -5),
    [0, 0, 13, 12, 49, 1],
    slice(3, 40, 11),
    -1,
]


def _tables(path):
    ds = hubcli.load(path, read_only=True)
    for sample in range(len(ds.videos)):
        view = ds.videos[sample]
        yield sample, view, view.resolved.reader.frame_table(view.resolved.location)


@pytest.mark.parametrize("frames", FRAME_SELECTIONS, ids=repr)
def test_units_cover_exactly_the_selection_and_never_split_a_run(labelled, frames):
    path, _ = labelled
    for sample, view, table in _tables(path):
        wanted, _ = normalize_positions(frames, view.shape[0], "frame", view.where)
        units = frame_units(sample, table, wanted)
        # Exactly the selection: each unit yields the requested frames its run decodes,
        # in request order (repeats too), and together they are the whole request.
        got = np.concatenate([u.frames for u in units]) if units else np.zeros(0, np.int64)
        assert Counter(got.tolist()) == Counter(wanted.tolist())
        packets = table.frame_packet[wanted]
        for unit in units:
            start, stop = unit.runs[0]
            inside = wanted[(packets >= start) & (packets < stop)]
            assert unit.frames.tolist() == inside.tolist()
        # One run each; a frame's whole decode (from its keyframe) lies in its unit's run.
        runs = [u.runs[0] for u in units]
        assert all(len(u.runs) == 1 for u in units)
        for unit, (start, stop) in zip(units, runs, strict=True):
            first = start_packets(table, unit.frames)
            assert (first >= start).all()
            assert (table.frame_packet[unit.frames] < stop).all()
            assert unit.packets == stop - start
            assert unit.nbytes == int(table.size[start:stop].sum())
        # Runs are disjoint (not even touching: touching runs are one run), so no
        # packet is decoded by two units, in any packing.
        ordered = sorted(runs)
        assert all(a[1] < b[0] for a, b in itertools.pairwise(ordered))


def test_clips_that_share_a_run_are_one_unit(labelled):
    path, _ = labelled
    ds = hubcli.load(path, read_only=True)
    spec = ClipSpec(clip_len=4, frame_step=3, sampler="all", policy="drop")
    plan = plan_for(ds.videos, spec)
    clips = plan.clips(range(len(plan)))
    for sample, _, table in _tables(path):
        mine = [c for c in clips if c.sample == sample]
        units = clip_units(sample, table, mine)
        assert sorted(c.slot for u in units for c in u.clips) == [c.slot for c in mine]
        spans = [set(range(a, b)) for u in units for a, b in u.runs]
        assert sum(len(s) for s in spans) == len(set().union(*spans))  # no packet twice
        for unit in units:
            for clip in unit.clips:
                packets = table.frame_packet[clip.frames]
                assert all(any(a <= p < b for a, b in unit.runs) for p in packets)


@pytest.mark.parametrize("tasks", [1, 2, 3, 7, 1000])
def test_packing_is_contiguous_complete_and_balanced(tasks):
    rng = np.random.default_rng(tasks)
    cost = rng.exponential(size=40)
    groups = pack(cost, tasks)
    assert [n for g in groups for n in g] == list(range(40))
    assert 1 <= len(groups) <= min(tasks, 40)
    share = cost.sum() / min(tasks, 40)
    assert all(cost[g].sum() <= share + cost.max() + 1e-9 for g in groups)


def test_costs_weigh_packets_and_bytes_equally():
    from hubcli.ray.plan import Unit

    units = [Unit(0, ((0, 10),), 10, 100), Unit(0, ((20, 30),), 10, 300)]
    assert costs(units).tolist() == pytest.approx([0.5 + 0.25, 0.5 + 0.75])
    assert pack(np.zeros(0), 4) == []


def test_read_tasks_carry_honest_metadata(labelled):
    path, sources = labelled
    source = FrameSource(path, "videos[:, ::5]", columns=("labels",))
    ds = hubcli.load(path, read_only=True)
    expected = sum(len(range(0, ds.videos[i].shape[0], 5)) for i in range(len(sources)))
    for parallelism in (1, 4, 200):
        tasks = source.get_read_tasks(parallelism)
        assert 1 <= len(tasks) <= min(parallelism, len(source.units))
        assert sum(t.metadata.num_rows for t in tasks) == expected
        h, w = ds.videos[0].shape[1:3]
        row = h * w * 3 + 24 + 16
        assert sum(t.metadata.size_bytes for t in tasks) == expected * row
        assert source.estimate_inmemory_data_size() == expected * row
        assert all(t.metadata.input_files for t in tasks)
    scaled = FrameSource(path, "videos[1]", transform=FrameTransform((8, 12)), columns=())
    assert scaled.estimate_inmemory_data_size() == ds.videos[1].shape[0] * (8 * 12 * 3 + 24)


def test_plan_errors_are_one_line_hubcli_errors(labelled):
    path, _ = labelled
    with pytest.raises(hubcli.errors.SelectorError):
        FrameSource(path, "videos[0")
    with pytest.raises(hubcli.errors.FrameIndexError, match="indexes pixels"):
        FrameSource(path, "videos[0, 1, 2]")
    with pytest.raises(hubcli.errors.TensorNotFoundError, match="no tensor 'nope'"):
        FrameSource(path, "videos", columns=("nope",))
    with pytest.raises(hubcli.errors.UnsupportedHtypeError, match="holds class_label"):
        FrameSource(path, "labels[0]", columns=())
    with pytest.raises(hubcli.errors.FrameIndexError, match="sample 9 is out of range"):
        FrameSource(path, "videos[9]")
    with pytest.raises(hubcli.errors.StorageError, match="Ray workers cannot open it"):
        FrameSource("memory://x", "videos")
    with pytest.raises(ValueError, match="epoch"):
        ClipSource(path, epoch=-1)


def test_what_goes_to_the_workers_holds_no_secret(labelled, tmp_path):
    from ray import cloudpickle

    from hubcli.ray import Datasink

    path, _ = labelled
    secret = "hubcli-ray-secret-0123456789"
    creds = {"aws_access_key_id": "key", "aws_secret_access_key": secret}
    source = FrameSource(path, "videos[:, ::9]", creds=creds)
    shipped = cloudpickle.dumps((source, source.get_read_tasks(4)))
    sink = Datasink(path, creds=creds)
    assert sink._creds == creds  # the driver's, for its commit
    shipped += cloudpickle.dumps(sink)
    assert secret.encode() not in shipped
    assert cloudpickle.loads(cloudpickle.dumps(sink))._creds is None


def test_import_hubcli_never_loads_ray():
    import subprocess
    import sys

    code = "import sys, hubcli, hubcli.sampling; print('ray' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
