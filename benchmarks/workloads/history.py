"""W10: a dataset grown by one-sample commits (issue #14), locally and on S3 (moto
behind the counting proxy).

For n in 10, 100, 1,000, 10,000, 100,000 commits it measures, against the same dataset
at n = 10 and against the same samples appended in one commit:

- commit time, median and p99, over the commits just before n; from n = 400 on, also
  paired: commits at n interleaved with commits to a 10-commit dataset (same moments,
  same load, so the ratio holds on a busy machine);
- the newest state's size (the hint: what a commit reads and writes);
- bytes and objects outside chunks, with every version kept, and after
  ``gc --keep-versions 1``;
- ``hubcli.load()`` + ``shape`` of the last sample;
- on S3: requests and bytes before the first frame's packets (load, shape, first frame).
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import hubcli
from benchmarks import hubcli_peer
from benchmarks.model import to_json
from benchmarks.results import (
    Bulk,
    FirstFrame,
    HistoryCell,
    HistoryRun,
    HistorySummary,
    Paired,
)
from benchmarks.videos import CACHE
from testkit.env import patched_env, s3_env
from testkit.proxy import Proxy
from testkit.s3 import MotoS3
from testkit.videos import VideoSpec, make_video

if TYPE_CHECKING:
    from collections.abc import Callable

    from testkit.proxy import Exchange

SIZES = (10, 100, 1_000, 10_000, 100_000)
CLIPS = 20
#: Commit times at size n are those of the WINDOW commits ending at the n-th; below
#: that size, of the last half of the commits of several datasets grown to n (a
#: dataset's first commits also create its folders: they are not "a commit at n").
WINDOW = 200
#: The size of the dataset that commits at n are paired with (``paired``).
REFERENCE = 10
#: Runs of load + shape, the median counts.
OPEN_RUNS = 15


def make_clips(folder: Path) -> list[str]:
    """Twenty distinct one-frame 64x48 H.264 clips (a few hundred bytes each), kept."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(CLIPS):
        spec = VideoSpec(
            f"clip{k:02d}", "mp4", "libx264", frames=1, width=64, height=48, content="noise", seed=k
        )
        path = folder / spec.filename
        if not path.exists():
            make_video(spec, path)
        paths.append(str(path))
    return paths


def time_open(url: str, runs: int = OPEN_RUNS) -> float:
    """Median ms of ``hubcli.load()`` + the last sample's shape."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        ds = hubcli.load(url)
        ds.videos[-1].shape  # noqa: B018 - the measured call
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bulk(url: str, clips: list[str], n: int) -> Bulk:
    """The same n samples appended in one commit, before and after gc keep 1."""
    ds = hubcli.empty(url, overwrite=True)
    ds.create_tensor("videos")
    ds.videos.extend([clips[i % CLIPS] for i in range(n)])
    kept = hubcli_peer.metadata_footprint(ds)
    ds.gc(keep_versions=1, safety_window=0)
    return Bulk(list(kept), list(hubcli_peer.metadata_footprint(ds)))


def commit_times(url: str, clips: list[str], n: int) -> list[float]:
    """Times of the last half of the commits of fresh datasets grown to n, enough of
    them for WINDOW times."""
    times: list[float] = []
    rep = 0
    while len(times) < WINDOW:
        ds = hubcli.empty(f"{url}-rep{rep}", overwrite=True)
        ds.create_tensor("videos")
        for i in range(n):
            start = time.perf_counter()
            ds.videos.append(clips[i % CLIPS])
            if i >= n // 2:
                times.append(time.perf_counter() - start)
        rep += 1
    return times


def grow(
    url: str, clips: list[str], sizes: list[int], proxy: Proxy | None, say: Callable[[str], None]
) -> dict[int, HistoryCell]:
    """One dataset grown commit by commit, measured as it passes each size."""
    ds = hubcli.empty(url, overwrite=True)
    ds.create_tensor("videos")
    results: dict[int, HistoryCell] = {}
    times: list[float] = []
    n = 0
    while n < max(sizes):
        start = time.perf_counter()
        ds.videos.append(clips[n % CLIPS])
        times.append(time.perf_counter() - start)
        n += 1
        if n in sizes:
            size = n
            window = times[-WINDOW:] if n >= 2 * WINDOW else commit_times(url, clips, n)
            results[size] = _measure(ds, url, window, proxy)
            if size >= 2 * WINDOW:  # measured after the cell's other figures, at n exactly
                results[size].paired = paired(ds, f"{url}-reference", clips)
                n = len(ds.videos)  # the paired commits grew it too
            say(f"{url} n={size}: {json.dumps(to_json(results[size]))}")
    return results


def paired(ds: hubcli.Dataset, reference_url: str, clips: list[str]) -> Paired:
    """WINDOW commits to ``ds`` interleaved with WINDOW commits to a dataset of
    REFERENCE commits (rebuilt every REFERENCE of them, so it stays between REFERENCE
    and twice that): both measured at the same moments, under the same load, so their
    ratio holds on a busy machine where times taken minutes apart do not."""
    grown: list[float] = []
    reference: list[float] = []
    ref = ds
    for i in range(WINDOW):
        if i % REFERENCE == 0:
            ref = hubcli.empty(reference_url, overwrite=True)
            ref.create_tensor("videos")
            for k in range(REFERENCE):
                ref.videos.append(clips[k % CLIPS])
        order = ((ds, grown), (ref, reference)) if i % 2 else ((ref, reference), (ds, grown))
        for target, times in order:
            start = time.perf_counter()
            target.videos.append(clips[i % CLIPS])
            times.append(time.perf_counter() - start)
    return Paired(
        commits=WINDOW,
        median_ms=statistics.median(grown) * 1000,
        p99_ms=float(np.percentile(grown, 99)) * 1000,
        reference_median_ms=statistics.median(reference) * 1000,
        reference_p99_ms=float(np.percentile(reference, 99)) * 1000,
    )


def _measure(ds: hubcli.Dataset, url: str, window: list[float], proxy: Proxy | None) -> HistoryCell:
    return HistoryCell(
        commit_median_ms=statistics.median(window) * 1000,
        commit_p99_ms=float(np.percentile(window, 99)) * 1000,
        state_bytes=hubcli_peer.state_size(ds),
        metadata=list(hubcli_peer.metadata_footprint(ds)),
        open_shape_ms=time_open(url),
        first_frame=None if proxy is None else first_frame_traffic(url, proxy),
    )


def first_frame_traffic(url: str, proxy: Proxy) -> FirstFrame:
    """Requests and bytes before the first frame's packets: open, shape of the last
    sample, and reading its first frame (everything but the chunk read), counted by a
    proxy that this one load goes through (the commits go to the server directly)."""
    with patched_env({"AWS_ENDPOINT_URL": proxy.url}):
        proxy.reset()
        ds = hubcli.load(url)
        ds.videos[-1].shape  # noqa: B018
        ds.videos[-1, 0].numpy()
    before: list[Exchange] = [e for e in proxy.log if "/chunks/" not in e.path]
    return FirstFrame(requests=len(before), bytes=sum(e.sent for e in before))


def run(
    url_of: Callable[[str], str],
    clips: list[str],
    sizes: list[int],
    proxy: Proxy | None,
    say: Callable[[str], None],
) -> HistoryRun:
    """W10 on one store: the grown dataset against bulk appends of the same samples."""
    grown = grow(url_of("grown"), clips, sizes, proxy, say)
    ds = hubcli.load(url_of("grown"))
    ds.gc(keep_versions=1, safety_window=0)
    after_gc = list(hubcli_peer.metadata_footprint(ds))
    baseline = {n: bulk(url_of(f"bulk{n}"), clips, n) for n in sizes}
    top, first = grown[max(sizes)], grown[min(sizes)]
    # After the paired commits the grown dataset holds a few more samples than the
    # largest size: its gc figures are set against a bulk append of as many.
    final = len(ds.videos)
    after = baseline[max(sizes)] if final == max(sizes) else bulk(url_of("bulk"), clips, final)
    summary = HistorySummary(
        commit_median_ratio=top.commit_median_ms / first.commit_median_ms,
        commit_p99_ratio=top.commit_p99_ms / first.commit_p99_ms,
        state_bytes=top.state_bytes,
        bytes_ratio_history=top.metadata[0] / baseline[max(sizes)].history[0],
        objects_ratio_history=top.metadata[1] / baseline[max(sizes)].history[1],
        bytes_ratio_gc=after_gc[0] / after.gc[0],
        objects_ratio_gc=after_gc[1] / after.gc[1],
        open_ratio=top.open_shape_ms / first.open_shape_ms,
        first_frame=top.first_frame,
        paired_median_ratio=None if top.paired is None else top.paired.median_ratio,
        paired_p99_ratio=None if top.paired is None else top.paired.p99_ratio,
    )
    if final == max(sizes):
        return HistoryRun(grown, baseline, after_gc, summary)
    return HistoryRun(grown, baseline, after_gc, summary, gc_baseline=after, gc_samples=final)


def run_s3(clips: list[str], sizes: list[int], say: Callable[[str], None]) -> HistoryRun:
    """W10 on moto S3; the commits go to the server directly, the measured first-frame
    reads through the counting proxy."""
    server = MotoS3()
    proxy = Proxy(server.url)
    try:
        with patched_env(s3_env(server.url, "bench", "bench")):
            import s3fs

            s3fs.S3FileSystem(skip_instance_cache=True).mkdir("w10")
            return run(lambda name: f"s3://w10/{name}", clips, sizes, proxy, say)
    finally:
        proxy.stop()
        server.stop()


def measure(max_local: int, max_s3: int, say: Callable[[str], None]) -> dict[str, HistoryRun]:
    """W10 up to ``max_local`` commits locally and ``max_s3`` on S3 (0: not on S3)."""
    clips = make_clips(CACHE / "w10-clips")
    work = Path(tempfile.mkdtemp(prefix="hubcli-w10-"))
    report: dict[str, HistoryRun] = {}
    try:
        sizes = [n for n in SIZES if n <= max_local]
        report["local"] = run(lambda name: str(work / name), clips, sizes, None, say)
        if max_s3:
            report["s3"] = run_s3(clips, [n for n in SIZES if n <= max_s3], say)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report
