"""W11 (issue 19): frames through Ray Data, and ingest in parallel, each against a peer of
the same run, on one local Ray (``ray.init(num_cpus=2)``, once for the workload).

- Every 30th frame of 20 videos of 60 s (``ray_videos.READ_VIDEO``):
  ``hubcli.ray.read_frames(url, "videos[:, ::30]")`` against Ray's own
  ``ray.data.read_videos`` over the same mp4 files followed by ``.filter`` to the same
  frames; the driver consumes both the same way (hashing every frame, which the
  accuracy check needs). hubcli's read tasks count the bytes they read and the packets
  they decode in each worker (``ray_counting``); both readers' frames are hashed
  against an independent PyAV decode (``testkit.frames``).
- The same from the S3 test server (moto behind the counting proxy): hubcli reads an
  ``s3://`` dataset, read_videos the mp4 objects (pyarrow's S3 filesystem). Requests
  and bytes as the proxy saw them; the Ray workers reach the proxy through
  ``AWS_ENDPOINT_URL`` (set before ``ray.init``: workers inherit it).
- 200 small videos appended to a fresh local dataset by ``hubcli append --jobs 1``,
  ``--jobs 2`` (each a fresh process, as a user runs it) and ``Datasink`` with 2 write
  tasks at a time, in rounds (one run of each, the order rotating). In the same rounds,
  what two processes get on this machine: ``extend(jobs=1)`` and ``extend(jobs=2)`` in
  a process whose imports are done (only the append timed), and a loop of pure Python
  whole in one process and split over two.
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np

import hubcli
from benchmarks.oracle import HASH_VERSION
from benchmarks.results_ray import (
    API_1,
    API_2,
    HUBCLI,
    JOBS_1,
    JOBS_2,
    LOCAL,
    LOOP_1,
    LOOP_2,
    PEER,
    S3,
    SINK,
    SINK_FREE,
    RayIngest,
    RayRead,
    RayResult,
    baseline,
)
from benchmarks.videos import ROOT
from benchmarks.workloads import ray_counting
from benchmarks.workloads.ray_videos import (
    FOLDER,
    INGEST_COUNT,
    INGEST_VIDEO,
    READ_COUNT,
    READ_VIDEO,
    ensure,
)
from hubcli.video.plan import plan_runs
from testkit.env import patched_env, s3_env
from testkit.frames import frame_hash
from testkit.proxy import Proxy
from testkit.s3 import MotoS3

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from benchmarks.prepare import Bench
    from testkit.proxy import Exchange

STRIDE = 30
CPUS = 2
BUCKET = "w11"
#: Rounds of the ingest (one run of each way per round), by mode.
INGEST_ROUNDS = {"quick": 1, "full": 3}
#: Frames of the warm-up reads (Ray's workers started, the libraries imported).
WARM_SELECTOR = f"videos[0, ::{STRIDE * 10}]"


@dataclass
class Files:
    """The read workload's files, and what each frame should be."""

    paths: list[Path]
    oracle: list[dict[int, str]]  # per file: frame number -> hash, the wanted frames

    def index(self, path: str) -> int:
        """The sample of a path or object key read_videos reports."""
        name = Path(path).name
        return next(k for k, p in enumerate(self.paths) if p.name == name)


def run(bench: Bench) -> RayResult:
    log = bench.log
    start_load = os.getloadavg()[0]
    paths = ensure(READ_VIDEO, READ_COUNT)
    clips = ensure(INGEST_VIDEO, INGEST_COUNT)
    files = Files(paths, [_oracle(p, log) for p in paths])
    work = Path(tempfile.mkdtemp(prefix="hubcli-w11-"))
    counts = str(work / "counts.jsonl")
    server = MotoS3()
    proxy = Proxy(server.url)
    try:
        local_url = str(work / "frames")
        _dataset(local_url, paths)
        result = _bounds(local_url, files)
        result.load_average.append(start_load)
        s3_url = _upload(server.url, paths)
        proxy.take()
        env = {
            **s3_env(proxy.url, "bench", "bench"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            ray_counting.COUNTS_ENV: counts,
        }
        with patched_env(env):
            _with_ray(bench, result, files, local_url, s3_url, proxy, clips, work)
        result.load_average.append(os.getloadavg()[0])
        _log(log, result)
        return result
    finally:
        proxy.stop()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def ingest_only(bench: Bench, rounds: int) -> RayIngest:
    """W11's ingest alone (``--ingest-only``), on a local Ray started for it."""
    import ray

    clips = ensure(INGEST_VIDEO, INGEST_COUNT)
    work = Path(tempfile.mkdtemp(prefix="hubcli-w11-"))
    ray.init(num_cpus=CPUS, include_dashboard=False, log_to_driver=False)
    try:
        bench.log(f"W11 ingest alone: {INGEST_COUNT} videos, {rounds} rounds of each way")
        warm = str(work / "warm-up")  # Ray workers start, libraries load
        _dataset(warm, [])
        _sink(warm, clips[:CPUS])
        ingest = _ingest(clips, work, rounds)
        _log_ingest(bench.log, ingest)
        return ingest
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)


def _with_ray(
    bench: Bench,
    result: RayResult,
    files: Files,
    local_url: str,
    s3_url: str,
    proxy: Proxy,
    clips: list[Path],
    work: Path,
) -> None:
    """Everything that runs on the one local Ray."""
    import ray

    ray.init(
        num_cpus=CPUS,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"worker_process_setup_hook": f"{ray_counting.__name__}.install"},
    )
    try:
        counts = os.environ[ray_counting.COUNTS_ENV]
        bench.log("W11: warm-up (Ray workers start, libraries load)")
        _consume(_frames(local_url, WARM_SELECTOR), files, lambda b: b["sample"])
        _consume(_peer([str(files.paths[0])], None).limit(2), files, _peer_samples(files))
        ray_counting.collect(counts)
        raw = [f"{BUCKET}/raw/{p.name}" for p in files.paths]
        for store, url, peer_paths, fs in (
            (LOCAL, local_url, [str(p) for p in files.paths], None),
            (S3, s3_url, raw, _arrow_s3(proxy.url)),
        ):
            bench.log(f"W11 {store}: {HUBCLI} and {PEER}, every {STRIDE}th frame")
            reads = result.reads.setdefault(store, {})
            reads[HUBCLI] = _hubcli_read(url, files, proxy, counts, store)
            reads[PEER] = _peer_read(peer_paths, fs, files, result, proxy, store)
            for name, read in reads.items():
                bench.log(f"W11 {store} {name}: {_said(read, result)}")
        rounds = INGEST_ROUNDS[bench.cfg.mode]
        bench.log(f"W11 ingest: {INGEST_COUNT} videos, {rounds} rounds of each way")
        result.ingest = _ingest(clips, work, rounds)
    finally:
        ray.shutdown()


# --- the videos, their oracle and lower bounds -----------------------------------------


def _oracle(path: Path, log: Callable[[str], None]) -> dict[int, str]:
    """Hashes of the wanted frames in a plain PyAV decode (cached by file and PyAV)."""
    cached = (
        FOLDER
        / "oracle"
        / f"{path.stem}_{path.stat().st_size}_av{av.__version__}_h{HASH_VERSION}_s{STRIDE}.json"
    )
    if cached.exists():
        return {int(k): v for k, v in json.loads(cached.read_text()).items()}
    log(f"W11: oracle decode of {path.name}")
    hashes = {}
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for k, frame in enumerate(c.decode(stream)):
            if k % STRIDE == 0:
                hashes[k] = frame_hash(frame.to_ndarray(format="rgb24"))
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(hashes))
    return hashes


def _dataset(url: str, paths: Iterable[Path]) -> None:
    """A fresh dataset at ``url`` whose tensor ``videos`` holds ``paths`` (none: empty)."""
    ds = hubcli.empty(url, overwrite=True)
    ds.create_tensor("videos", htype="video", sample_compression="mp4")
    ds.videos.extend([str(p) for p in paths])


def _bounds(url: str, files: Files) -> RayResult:
    """The wanted frames and the lower bounds, from hubcli's frame tables."""
    reader = hubcli.load(url, read_only=True).videos.reader()
    frames = wanted = packets = nbytes = 0
    for k, oracle in enumerate(files.oracle):
        table = reader.frame_table(k)
        chosen = np.arange(0, table.frame_count, STRIDE)
        if set(chosen.tolist()) != set(oracle):
            raise AssertionError(f"{files.paths[k].name}: hubcli and PyAV count other frames")
        runs = plan_runs(table, chosen)
        frames += table.frame_count
        wanted += len(chosen)
        packets += sum(r.stop - r.start for r in runs)
        nbytes += sum(int(table.size[r.start : r.stop].astype(np.int64).sum()) for r in runs)
    return RayResult(
        videos=len(files.paths),
        describe=READ_VIDEO.describe(),
        frames=frames,
        stride=STRIDE,
        wanted=wanted,
        file_bytes=sum(p.stat().st_size for p in files.paths),
        lower_bound_packets=packets,
        lower_bound_bytes=nbytes,
        cpus=CPUS,
    )


def _upload(server: str, paths: list[Path]) -> str:
    """The mp4 files as objects (for read_videos) and an s3:// dataset of them, written
    to the server directly (not counted)."""
    url = f"s3://{BUCKET}/frames"
    with patched_env(s3_env(server, "bench", "bench")):
        import s3fs

        fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
        fs.mkdir(BUCKET)
        for p in paths:
            fs.put_file(str(p), f"{BUCKET}/raw/{p.name}")
        _dataset(url, paths)
    return url


def _arrow_s3(endpoint: str) -> Any:
    from pyarrow import fs

    return fs.S3FileSystem(
        access_key="bench",
        secret_key="bench",
        region="us-east-1",
        endpoint_override=endpoint.removeprefix("http://"),
        scheme="http",
    )


# --- the reads ----------------------------------------------------------------------------


def _frames(url: str, selector: str) -> Any:
    import hubcli.ray

    return hubcli.ray.read_frames(url, selector, columns=())


def _peer(paths: list[str], filesystem: Any) -> Any:
    import ray.data

    videos = ray.data.read_videos(paths, filesystem=filesystem, include_paths=True)
    return videos.filter(lambda row: row["frame_index"] % STRIDE == 0)


def _peer_samples(files: Files) -> Callable[[dict[str, np.ndarray]], list[int]]:
    return lambda batch: [files.index(str(p)) for p in batch["path"]]


@dataclass
class Consumed:
    seconds: float
    hash_seconds: float
    rows: int
    exact: int
    cpu_seconds: float


def tree_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and all its descendants, living or
    reaped (/proc): the driver and every process of the local Ray it started."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after the command's name
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = sum(int(f) for f in fields[11:15]) / tick  # utime..cstime
    tree, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        pid = frontier.pop()
        children = [c for c, p in parents.items() if p == pid and c not in tree]
        tree.update(children)
        frontier += children
    return sum(times.get(pid, 0.0) for pid in tree)


def _consume(data: Any, files: Files, samples: Callable[[dict[str, np.ndarray]], Any]) -> Consumed:
    """Iterate the rows in the driver, hashing each frame (the same work for both
    readers): wall seconds from the call, and frames equal to the oracle's."""
    start, cpu = time.perf_counter(), tree_cpu_seconds()
    rows = exact = 0
    hashing = 0.0
    for batch in data.iter_batches(batch_size=None, batch_format="numpy"):
        for sample, k, frame in zip(
            samples(batch), batch["frame_index"], batch["frame"], strict=True
        ):
            t = time.perf_counter()
            digest = frame_hash(frame)
            hashing += time.perf_counter() - t
            rows += 1
            exact += files.oracle[int(sample)].get(int(k)) == digest
    seconds = time.perf_counter() - start
    return Consumed(seconds, hashing, rows, exact, tree_cpu_seconds() - cpu)


def _hubcli_read(url: str, files: Files, proxy: Proxy, counts: str, store: str) -> RayRead:
    ray_counting.collect(counts)
    proxy.take()
    try:
        done = _consume(_frames(url, f"videos[:, ::{STRIDE}]"), files, lambda b: b["sample"])
    except Exception as exc:  # a reader that fails is reported, not fatal
        return _failed(exc)
    counted = ray_counting.collect(counts)
    taken = proxy.take()
    read = RayRead(
        seconds=done.seconds,
        rows=done.rows,
        video_bytes=counted["chunk_bytes"],
        bytes_counted=True,
        decoded=counted["packets"],
        exact=done.exact,
        hash_seconds=done.hash_seconds,
        cpu_seconds=done.cpu_seconds,
        tasks=counted["tasks"],
        task_seconds=counted["task_us"] / 1e6,
        load_average=os.getloadavg()[0],
    )
    if store == S3:
        read.video_bytes = _bytes(taken, ray_counting.CHUNK_PART)
        read.requests, read.bytes = len(taken), _bytes(taken, "")
    return read


def _peer_read(
    paths: list[str], filesystem: Any, files: Files, result: RayResult, proxy: Proxy, store: str
) -> RayRead:
    proxy.take()
    try:
        done = _consume(_peer(paths, filesystem), files, _peer_samples(files))
    except Exception as exc:
        return _failed(exc)
    taken = proxy.take()
    read = RayRead(
        seconds=done.seconds,
        rows=done.rows,
        video_bytes=result.file_bytes,
        bytes_counted=False,
        decoded=result.frames,
        exact=done.exact,
        hash_seconds=done.hash_seconds,
        cpu_seconds=done.cpu_seconds,
        load_average=os.getloadavg()[0],
    )
    if store == S3:
        read.video_bytes, read.bytes_counted = _bytes(taken, "/raw/"), True
        read.requests, read.bytes = len(taken), _bytes(taken, "")
    return read


def _bytes(taken: list[Exchange], part: str) -> int:
    return sum(e.sent for e in taken if part in e.path)


def _failed(exc: Exception) -> RayRead:
    return RayRead(0.0, 0, 0, False, 0, 0, error=f"{type(exc).__name__}: {exc}"[:300])


# --- the ingest ---------------------------------------------------------------------------


def _ingest(clips: list[Path], work: Path, rounds: int) -> RayIngest:
    # hubcli's modules compiled as an installed package's are (pip compiles them; a
    # first run writes them): where PYTHONDONTWRITEBYTECODE is set, as on the machine
    # these figures come from, every command and worker would compile them again.
    compileall.compile_dir(ROOT / "hubcli", quiet=1)
    listing = work / "clips.txt"
    listing.write_text("".join(f"{p}\n" for p in clips))
    # Each way appends to ``url``; one that times itself returns its seconds (the
    # others are timed around the call).
    ways: dict[str, Callable[[str], float | None]] = {
        JOBS_1: lambda url: _append(url, listing, 1),
        JOBS_2: lambda url: _append(url, listing, 2),
        SINK: lambda url: _sink(url, clips),
        SINK_FREE: lambda url: _sink(url, clips, reserve=False),
        API_1: lambda url: _extend(url, listing, 1),
        API_2: lambda url: _extend(url, listing, 2),
        LOOP_1: lambda url: _loop(1),
        LOOP_2: lambda url: _loop(2),
    }
    result = RayIngest(
        videos=len(clips),
        bytes=sum(p.stat().st_size for p in clips),
        describe=INGEST_VIDEO.describe(),
        seconds={name: [] for name in ways},
    )
    names = list(ways)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            url = str(work / f"ingest-{r}-{names.index(name)}")
            _dataset(url, [])
            start = time.perf_counter()
            timed = ways[name](url)
            result.seconds[name].append(time.perf_counter() - start if timed is None else timed)
            appended = len(hubcli.load(url, read_only=True).videos)
            if appended != (0 if name in (LOOP_1, LOOP_2) else len(clips)):
                raise AssertionError(f"{name} appended {appended} videos of {len(clips)}")
            shutil.rmtree(url, ignore_errors=True)
        result.load_average.append(os.getloadavg()[0])
    return result


def _user_env() -> dict[str, str]:
    """The environment as a user's: without the malloc settings the timed readers of
    the other workloads run with (benchmarks.cli.keep_freed_memory), which slow a fork."""
    return {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}


def _append(url: str, listing: Path, jobs: int) -> None:
    command = [sys.executable, "-m", "hubcli", "append", url, "videos", "--from-file"]
    command += [str(listing), "--jobs", str(jobs), "--quiet"]
    subprocess.run(command, check=True, env=_user_env())


#: The append of _extend: a process with hubcli and its video stack imported, timing
#: only ``extend`` (OPENBLAS_NUM_THREADS=1, as the command line sets it, lets it fork).
EXTEND = """
import sys, time
import hubcli, hubcli.video.decode, hubcli.video.index
url, listing, jobs = sys.argv[1:]
paths = open(listing).read().split()
videos = hubcli.load(url).videos
start = time.perf_counter()
videos.extend(paths, jobs=int(jobs))
print(time.perf_counter() - start)
"""


def _extend(url: str, listing: Path, jobs: int) -> float:
    env = {**_user_env(), "OPENBLAS_NUM_THREADS": "1"}
    command = [sys.executable, "-c", EXTEND, url, str(listing), str(jobs)]
    done = subprocess.run(command, check=True, env=env, capture_output=True, text=True)
    return float(done.stdout.split()[-1])


#: A loop of pure Python, ``LOOP_STEPS`` steps in all, whatever the processes.
LOOP = """
import sys, time
steps = int(sys.argv[1])
start = time.perf_counter()
total = 0
for i in range(steps):
    total += i * i
print(time.perf_counter() - start)
"""
LOOP_STEPS = 24_000_000


def _loop(processes: int) -> float:
    """Seconds until the last of ``processes`` processes has run its share of the loop
    (each timed from the start of its loop: interpreter start-ups are not counted)."""
    command = [sys.executable, "-c", LOOP, str(LOOP_STEPS // processes)]
    running = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(processes)
    ]
    outputs = [p.communicate()[0] for p in running]
    if any(p.returncode for p in running):
        raise AssertionError("the pure Python loop failed")
    return max(float(out.split()[-1]) for out in outputs)


def _sink(url: str, clips: list[Path], reserve: bool = True) -> None:
    import ray.data

    import hubcli.ray

    context = ray.data.DataContext.get_current()
    context.op_resource_reservation_enabled = reserve
    try:
        rows = ray.data.from_items([{"videos": str(p)} for p in clips], override_num_blocks=4)
        rows.write_datasink(hubcli.ray.Datasink(url, columns=()), concurrency=CPUS)
    finally:
        context.op_resource_reservation_enabled = True


# --- the log ------------------------------------------------------------------------------


def _said(read: RayRead, result: RayResult) -> str:
    if read.error is not None:
        return f"ERROR {read.error}"
    s3 = "" if read.requests is None else f", {read.requests} requests, {read.bytes or 0:,} B"
    return (
        f"{read.seconds:.1f} s, {read.rows} rows ({read.exact} exact), video bytes "
        f"{read.video_bytes / result.lower_bound_bytes:.2f}x LB, decoded "
        f"{read.decoded / result.lower_bound_packets:.2f}x LB{s3}, "
        f"CPU {read.cpu_seconds or 0:.1f} s, tasks {read.tasks} "
        f"({read.task_seconds or 0:.1f} s), load {read.load_average}"
    )


def _log(say: Callable[[str], None], result: RayResult) -> None:
    for store in (LOCAL, S3):
        speedup = result.speedup(store)
        if speedup is not None:
            say(
                f"W11 {store}: read_videos + filter / read_frames wall time {speedup:.2f}x, "
                f"CPU {result.cpu_ratio(store) or 0:.2f}x"
            )
    if result.ingest is not None:
        _log_ingest(say, result.ingest)


def _log_ingest(say: Callable[[str], None], ingest: RayIngest) -> None:
    for name in ingest.compared():
        ratio = ingest.ratio(name) or 0
        say(f"W11 ingest {name} / {baseline(name)} throughput: {ratio:.2f}x")
