"""``tensor.extend(..., jobs=N)`` and ``export_views(..., jobs=N)``: the work of several
processes, the result of one. Frames are checked against an independent PyAV decode
(tests/media.py); a failed parallel append leaves the dataset byte-for-byte as it was.

Each worker pool takes about a second to start on two cores, so the pools are few: one
per module-scoped fixture, and the error cases share one more."""

from __future__ import annotations

import os

import numpy as np
import pytest

import hubcli
from hubcli.core.export import export_views
from hubcli.core.ingest import SegmentWriter
from hubcli.core.parallel import check_jobs, plan_batches
from hubcli.core.tensor import append_change
from hubcli.errors import HubcliError, InvalidSampleError, StorageError
from support.helpers import snapshot
from support.media import frame_hash

#: Corpus videos for tensor 'videos' (mp4), some twice: 9 samples, so that 2 workers
#: get several batches each and finish out of order.
ORDER = [
    *("h264_bframes", "hevc", "h264_bframes_editlist", "vfr", "audio"),
    *("hevc", "h264_bframes", "vfr", "h264_bframes_editlist"),
]


@pytest.fixture(scope="module")
def appended(tmp_path_factory, corpus):
    """The same videos appended with jobs=1 and with jobs=2 (and its progress calls)."""
    sources = [str(corpus[n]) for n in ORDER]
    roots = {}
    calls: list[int] = []
    for jobs in (1, 2):
        root = tmp_path_factory.mktemp(f"jobs{jobs}") / "ds"
        ds = hubcli.empty(root)
        ds.create_tensor("videos", sample_compression="mp4")
        progress = calls.append if jobs == 2 else None
        added = ds.videos.extend(sources, jobs=jobs, progress=progress)
        assert added.count == len(sources)
        roots[jobs] = root
    return roots, calls, sources


def test_jobs_append_equals_one_process_and_the_oracle(appended, oracle, corpus):
    roots, _, sources = appended
    one, two = hubcli.load(roots[1]), hubcli.load(roots[2])
    assert len(two.videos) == len(sources)
    for i, source in enumerate(sources):
        assert two.videos[i].sample_info["filename"] == source
        assert two.videos[i].sample_info == one.videos[i].sample_info
        expected = oracle(corpus[ORDER[i]])
        view = two.videos[i]
        assert [frame_hash(f) for f in view.numpy()] == expected.hashes()
        np.testing.assert_allclose(view.timestamp, expected.timestamps, atol=1e-9)


def test_jobs_append_is_one_commit(appended):
    roots, _, sources = appended
    log = hubcli.load(roots[2]).log()
    appends = [entry for entry in log if entry["version"] > 1]
    assert len(appends) == 1, log
    added = [{"op": "append", "tensor": "videos", "samples_added": len(sources)}]
    assert appends[0]["changes"] == hubcli.load(roots[1]).log()[0]["changes"] == added
    assert hubcli.load(roots[2]).version == hubcli.load(roots[1]).version == 2


def test_jobs_progress_counts_every_file_twice(appended):
    """As in one process: each file's bytes as indexed, then as copied."""
    _, calls, sources = appended
    assert calls[::2] == calls[1::2]  # each file's size, twice in a row
    assert sorted(calls[::2]) == sorted(os.path.getsize(s) for s in sources)


def test_bad_file_among_good_ones_changes_nothing(tmp_path, corpus, make_dataset):
    root = tmp_path / "ds"
    make_dataset(root, {"videos": ("mp4", ["hevc"])})
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video\n" * 100)
    good = [str(corpus[n]) for n in ("h264_bframes", "vfr", "audio", "hevc")]
    before = snapshot(root)
    ds = hubcli.load(root)
    with pytest.raises(InvalidSampleError, match="notes.mp4") as caught:
        ds.videos.extend([*good, str(bad), *good], jobs=2)
    assert caught.value.source_index == 4
    assert snapshot(root) == before  # no commit, no chunk left behind
    assert len(hubcli.load(root).videos) == 1


@pytest.mark.parametrize("jobs", [0, -3, True, 1.5])
def test_jobs_must_be_a_positive_int(tmp_path, corpus, make_dataset, jobs):
    root = tmp_path / "ds"
    ds = make_dataset(root, {"videos": ("mp4", [])})
    before = snapshot(root)
    with pytest.raises(HubcliError, match="jobs must be"):
        ds.videos.extend([str(corpus["hevc"])], jobs=jobs)
    with pytest.raises(HubcliError, match="jobs must be"):
        export_views([], tmp_path / "out/", several=True, jobs=jobs)
    assert check_jobs(3) == 3
    assert snapshot(root) == before


def test_jobs_refuses_what_a_worker_cannot_be_sent(tmp_path, corpus):
    """Secrets stay in this process; an in-memory dataset is in no other process. Both
    are refused before any worker starts."""
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    secret = hubcli.read("s3://bucket/a.mp4", creds={"aws_access_key_id": "AKIA-SECRET"})
    with pytest.raises(InvalidSampleError, match="never sent") as caught:
        ds.videos.extend([str(corpus["hevc"]), secret], jobs=2)
    assert caught.value.source_index == 1 and "AKIA-SECRET" not in str(caught.value)
    memory = hubcli.empty("memory://jobs-test")
    memory.create_tensor("videos")
    with pytest.raises(StorageError, match="memory"):
        memory.videos.extend([str(corpus["hevc"])], jobs=2)
    assert len(memory.videos) == 0 and len(ds.videos) == 0


def test_batches_joined_out_of_order_commit_in_input_order(tmp_path, corpus, oracle):
    """What a worker runs (Tensor.stage_batch) and how the caller joins the batches
    (SegmentWriter), in one process: batches arriving in any order are named in input
    order, in one commit."""
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    names = ["hevc", "h264_bframes", "vfr", "audio", "h264_bframes_editlist"]
    batches = plan_batches([str(corpus[n]) for n in names], jobs=1)
    assert [b.first for b in batches] == [0, 2, 4]  # ceil(5 / 4) = 2 files a batch
    staged = [ds.videos.stage_batch(list(b.samples), first=b.first) for b in batches]
    writer = SegmentWriter(ds.store, ds.videos.meta.dir, [])
    for batch in reversed(staged):
        writer.add(batch)
    entries = [s.entry for s in writer.finish()]
    ds._commit(append_change("videos", ds.videos.meta.dir, entries))
    assert ds.version == 2 and len(ds.videos) == len(names)
    for i, name in enumerate(names):
        frames = ds.videos[i, 0:3].numpy()
        assert [frame_hash(f) for f in frames] == oracle(corpus[name]).hashes()[:3]


def test_plan_batches_keeps_order_and_spreads_the_work(corpus):
    samples = [str(corpus["hevc"])] * 17
    batches = plan_batches(samples, jobs=2)
    assert [s for b in batches for s in b.samples] == samples
    assert [b.first for b in batches] == [0, 3, 6, 9, 12, 15]  # ceil(17 / 8) = 3 a batch
    urls = plan_batches(["https://example.com/a.mp4"] * 3, jobs=1)
    assert [len(b.samples) for b in urls] == [1, 1, 1]  # size unknown: a chunk's worth each


def test_export_jobs_writes_the_same_files(appended, tmp_path):
    roots, _, _ = appended
    ds = hubcli.load(roots[2])
    outputs = {}
    for jobs in (1, 2):
        out = tmp_path / f"out{jobs}"
        views = list(ds.videos[0:4, ::7])
        results = export_views(views, f"{out}/", several=True, jobs=jobs)
        outputs[jobs] = ({p.name: p.read_bytes() for p in out.iterdir()}, results)
    files, results = outputs[2]
    assert sorted(files) == [f"videos_{i}.npy" for i in range(4)]
    assert files == outputs[1][0]
    assert [r.shape for r in results] == [r.shape for r in outputs[1][1]]
    assert not list(tmp_path.rglob("*.partial"))


def _task(n):
    """A worker's task for run_tasks (importable by the spawned worker)."""
    if n in (2, 5):
        raise InvalidSampleError(f"task {n} failed")
    return n, os.getpid()


def test_run_tasks_uses_workers_and_raises_the_earliest_error():
    from hubcli.core.parallel import run_tasks

    seen = []
    good = [0, 1, 3, 4, 6, 7, 8, 9]
    run_tasks(_task, good, 2, lambda r, ok: seen.append((r, ok)), local=lambda n: _task(good[n]))
    pids = {pid for (_, pid), _ in seen}
    assert sorted(n for (n, _), _ in seen) == good
    assert os.getpid() in pids and len(pids) == 2  # this process and one worker
    seen.clear()
    with pytest.raises(InvalidSampleError, match="task 2 failed"):
        run_tasks(_task, list(range(8)), 2, lambda r, ok: seen.append((r, ok)), local=_task)
    assert all(n not in (2, 5) for (n, _), _ in seen)


_START_METHODS = """
import threading
from hubcli.core.parallel import _start_method, start_method
alone = start_method()
imported = _start_method()  # imports PyAV and numpy first
stop = threading.Event()
thread = threading.Thread(target=stop.wait)
thread.start()
busy = start_method()
stop.set()
print(alone, imported, busy)
"""


def test_workers_are_forked_only_from_a_process_with_one_thread():
    """Forking a process that runs other threads (s3fs's event loop, decoder threads)
    can copy a lock held by a thread the child lacks: then spawn. (A subprocess: this
    test process may run servers' threads.)"""
    import subprocess
    import sys

    # As the command line runs it: OpenBLAS (imported with numpy) starts no thread pool.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", _START_METHODS], capture_output=True, text=True, check=True,
        env=env,
    )  # fmt: skip
    assert out.stdout.split() == ["fork", "fork", "spawn"]


def test_forked_workers_append_what_one_process_does(tmp_path, corpus, oracle, make_dataset):
    """The command line in a fresh process (one thread: its workers are forked)."""
    import subprocess
    import sys

    sources = [str(corpus[n]) for n in ORDER]
    root = tmp_path / "ds"
    make_dataset(root, {"videos": ("mp4", [])})
    command = [sys.executable, "-m", "hubcli", "append", str(root), "videos", *sources]
    subprocess.run([*command, "--jobs", "3", "--quiet"], check=True, capture_output=True)
    videos = hubcli.load(root).videos
    assert [videos[i].sample_info["filename"] for i in range(len(videos))] == sources
    for i, name in enumerate(ORDER):
        assert [frame_hash(f) for f in videos[i].numpy()] == oracle(corpus[name]).hashes()
