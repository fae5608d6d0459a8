"""W11's results as types (issue 19: Ray Data and parallel ingest), a section of
``docs/benchmarks.json`` (``Report.ray``). Kept apart from ``results`` so that both can
grow at once; it imports nothing of the report's other types."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from benchmarks.model import OMIT

#: The readers of W11's frames and the stores they read from (the report's keys).
HUBCLI = "hubcli.ray.read_frames"
PEER = "ray.data.read_videos + filter"
LOCAL = "local"
S3 = "s3"
#: The ingest's runs, by what ran them.
JOBS_1 = "hubcli append --jobs 1"
JOBS_2 = "hubcli append --jobs 2"
SINK = "Datasink, 2 workers"
#: The same with Ray Data's per-operator resource reservation off: on 2 CPUs it holds
#: the second write task back for about a second (README, "Scaling out with Ray").
SINK_FREE = "Datasink, 2 workers, reservation off"
#: What two processes get on this machine, measured in the same rounds (context, not
#: goals): the same append through the Python API in a warm process (imports done,
#: only the append timed), and a loop of pure Python, whole in one process and split
#: over two.
API_1 = "tensor.extend(jobs=1), warm process"
API_2 = "tensor.extend(jobs=2), warm process"
LOOP_1 = "pure Python loop, 1 process"
LOOP_2 = "pure Python loop, split over 2 processes"
#: The run each way's throughput is divided by (the others': --jobs 1's).
BASELINE = {API_2: API_1, LOOP_2: LOOP_1}


@dataclass
class RayRead:
    """One timed read of every wanted frame by one reader, consumed by the driver.

    ``video_bytes``: bytes of the video objects read (hubcli: its chunks; Ray: the
    mp4 files), counted by the store in each worker (local) or by the counting proxy
    (S3), unless ``bytes_counted`` is false (then the files' sizes: read_videos reads
    each file whole). ``decoded``: packets sent to a decoder, counted in each worker
    (hubcli), or the frames read_videos decodes (one row each before the filter: all
    of them). ``exact``: frames whose hash equals a PyAV decode's."""

    seconds: float
    rows: int
    video_bytes: int
    bytes_counted: bool
    decoded: int
    exact: int
    hash_seconds: float = 0.0  # of ``seconds``: the driver hashing the frames it got
    #: CPU seconds of the driver and every Ray process (/proc), over the read.
    cpu_seconds: float | None = field(default=None, metadata=OMIT)
    tasks: int | None = field(default=None, metadata=OMIT)  # hubcli's read tasks
    task_seconds: float | None = field(default=None, metadata=OMIT)  # their wall time, summed
    requests: int | None = field(default=None, metadata=OMIT)  # S3: every request
    bytes: int | None = field(default=None, metadata=OMIT)  # S3: every byte received
    load_average: float | None = field(default=None, metadata=OMIT)  # 1 min, at its end
    error: str | None = field(default=None, metadata=OMIT)  # it failed (then no figures)


def baseline(name: str) -> str:
    """The ingest way whose throughput ``name``'s is compared with."""
    return BASELINE.get(name, JOBS_1)


@dataclass
class RayIngest:
    """The same small videos appended to a fresh local dataset by each way, in rounds
    (one run of each per round, the order rotating): wall seconds of each run, process
    start-up included for the command line."""

    videos: int
    bytes: int
    describe: str
    seconds: dict[str, list[float]] = field(default_factory=dict)
    load_average: list[float] = field(default_factory=list)  # 1 min, after each round

    def compared(self) -> list[str]:
        """The ways measured that are compared with a baseline (not baselines)."""
        baselines = {JOBS_1, *BASELINE.values()}
        return [name for name in self.seconds if name not in baselines]

    def ratio(self, name: str) -> float | None:
        """Throughput of ``name`` over its baseline's (``--jobs 1`` unless BASELINE
        names another): the median of the rounds' ratios."""
        base = self.seconds.get(baseline(name), [])
        other = self.seconds.get(name, [])
        pairs = [b / o for b, o in zip(base, other, strict=False) if o > 0]
        return statistics.median(pairs) if pairs else None


@dataclass
class RayResult:
    """W11 (issue 19): every ``stride``-th frame of ``videos`` files read through Ray
    (local Ray, ``cpus`` CPUs, one ``ray.init``) by hubcli and by Ray's own reader,
    locally and from S3 (moto behind the counting proxy), and the ingest.

    Lower bounds: ``lower_bound_packets`` = the packets from each wanted frame's keyframe
    to it, merged per run (hubcli.video.plan), over every file; ``lower_bound_bytes``
    = those packets' bytes."""

    videos: int
    describe: str
    frames: int  # frames of all files
    stride: int
    wanted: int  # frames selected
    file_bytes: int  # all files' sizes
    lower_bound_packets: int
    lower_bound_bytes: int
    cpus: int
    reads: dict[str, dict[str, RayRead]] = field(default_factory=dict)  # store -> reader
    ingest: RayIngest | None = field(default=None, metadata=OMIT)
    load_average: list[float] = field(default_factory=list)  # 1 min, start and end
    notes: list[str] = field(default_factory=list)

    def read(self, store: str, reader: str) -> RayRead | None:
        found = self.reads.get(store, {}).get(reader)
        return None if found is None or found.error is not None else found

    def speedup(self, store: str) -> float | None:
        """The peer's wall time over hubcli's."""
        hub, peer = self.read(store, HUBCLI), self.read(store, PEER)
        if hub is None or peer is None or hub.seconds <= 0:
            return None
        return peer.seconds / hub.seconds

    def cpu_ratio(self, store: str) -> float | None:
        """The peer's CPU seconds over hubcli's (all of Ray's processes and the driver):
        what the wall time would be on a machine nothing else uses."""
        hub, peer = self.read(store, HUBCLI), self.read(store, PEER)
        if hub is None or peer is None or not hub.cpu_seconds or peer.cpu_seconds is None:
            return None
        return peer.cpu_seconds / hub.cpu_seconds
