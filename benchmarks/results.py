"""The report as types: what ``docs/benchmarks.json`` holds, section by section.

Field order is key order in the JSON (``model.to_json``); fields with ``OMIT``
metadata are written only when they have a value, as the old report wrote them.
A result read back with ``model.from_json`` is checked against these types, so a
misspelt key or a peer that does not exist is an error.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from benchmarks.model import OMIT, ModelError, _read_fields, from_json, json_key, to_json

# W11 (issue 19), in its own module; at run time: from_json reads the field types.
from benchmarks.results_ray import RayResult  # noqa: TC001


class Peer(StrEnum):
    """The readers compared."""

    HUBCLI = "hubcli"
    PYAV_SEEK = "pyav-seek"  # Hub's reader: seek to the keyframe, decode to the frame
    PYAV_SEQ = "pyav-seq"  # decode from the start of the file
    TC_EXACT = "torchcodec-exact"
    TC_APPROX = "torchcodec-approx"
    DECORD = "decord"


class Setting(StrEnum):
    """Decoder threads of a local cell: 1 each, 2 each (W6), each peer's automatic count."""

    T1 = "t1"
    T2 = "t2"
    AUTO = "auto"


class Workload(StrEnum):
    """The local read workloads (W6 is W1-W4 at Setting.T2, W7 W1/W3/W4 remotely)."""

    W0 = "W0"
    W1 = "W1"
    W2 = "W2"
    W3 = "W3"
    W4 = "W4"
    W5A = "W5a"
    W5B = "W5b"


RANDOM_ACCESS = (Workload.W1, Workload.W2, Workload.W3, Workload.W4)
WHOLE = (Workload.W5A, Workload.W5B)


# --- meta ---------------------------------------------------------------------------


@dataclass
class LoadAverage:
    start: list[float]
    end: list[float]


@dataclass
class Machine:
    cpu: str
    cores: int | None
    ram_gib: float
    os: str


@dataclass
class Versions:
    python: str
    hubcli: str
    av: str
    av_ffmpeg: str
    numpy: str
    # What the peers' venv reports, when it ran.
    peer_python: str | None = field(default=None, metadata=OMIT)
    torch: str | None = field(default=None, metadata=OMIT)
    torchcodec: str | None = field(default=None, metadata=OMIT)
    torchcodec_ffmpeg: str | None = field(default=None, metadata=OMIT)
    decord: str | None = field(default=None, metadata=OMIT)
    hubcli_commit: str = ""


@dataclass
class Costs:
    """Single-thread decode cost per packet and one RGB conversion, in ms."""

    decode_ms_per_packet: float
    decode_cpu_ms_per_packet: float
    rgb_ms_per_frame: float
    packets: int
    frames: int


@dataclass
class ThreadCheck:
    """The threads a decoder hubcli opened really got, and its conversion threads."""

    decoder: int
    convert: int | None


@dataclass
class VideoMeta:
    name: str
    container: str
    codec: str
    width: int
    height: int
    seconds: int
    gop: int
    bframes: int
    kbps: int
    describe: str
    bytes: int
    frames: int
    keyframes: int
    costs: Costs
    hubcli_threads_checked: dict[int, ThreadCheck]


@dataclass
class RunConfig:
    runs: int
    probes: int | None
    runs_whole_video: int
    max_seconds_per_cell: float
    w7_runs: int
    w9_reads: int
    w9_peer_reads: int


@dataclass
class Meta:
    date: str
    mode: str
    load_average: LoadAverage
    command: str
    seconds: int
    machine: Machine
    versions: Versions
    videos: dict[str, VideoMeta]
    config: RunConfig
    #: Sections replaced by later partial runs (``--merge``): which, by what, when.
    merged: list[str] | None = field(default=None, metadata=OMIT)


# --- W0-W6: local reads ---------------------------------------------------------------


@dataclass
class Failed:
    """A reader that failed on a cell: the first 300 characters of its error."""

    error: str
    load_average: float | None = field(default=None, metadata=OMIT)


@dataclass
class Timing:
    """One reader on one cell: per-run wall and CPU times, and its frames' accuracy."""

    times_ms: list[float]
    cpu_ms: list[float]
    median_ms: float | None
    median_cpu_ms: float | None
    info: list[int] | None = field(default=None, metadata=OMIT)  # W0: (frames, height, width)
    exact_frames: int | None = field(default=None, metadata=OMIT)  # frames equal to the oracle's
    checked_frames: int | None = field(default=None, metadata=OMIT)
    ratio_lower_bound: float | None = field(default=None, metadata=OMIT)
    load_average: float | None = field(default=None, metadata=OMIT)

    @property
    def exact(self) -> bool:
        """Every frame returned equals a full PyAV decode's."""
        return (self.exact_frames or 0) == (self.checked_frames or 0)


@dataclass
class LocalCell:
    lower_bound_ms: list[float]
    lower_bound_packets: list[int]
    peers: dict[Peer, Timing | Failed] = field(default_factory=dict)

    def timing(self, peer: Peer) -> Timing | None:
        entry = self.peers.get(peer)
        return entry if isinstance(entry, Timing) else None

    def median_ms(self, peer: Peer) -> float | None:
        timing = self.timing(peer)
        return None if timing is None else timing.median_ms


@dataclass(frozen=True)
class CellKey:
    """Where a local cell sits: its thread setting and its workload (``t1/W1``)."""

    setting: Setting
    workload: Workload

    def __str__(self) -> str:
        return f"{self.setting}/{self.workload}"

    @classmethod
    def parse(cls, text: str) -> CellKey:
        setting, _, workload = text.partition("/")
        return cls(Setting(setting), Workload(workload))


@dataclass
class LocalFile:
    """Every local cell of one video, in the order they ran."""

    cells: dict[CellKey, LocalCell] = field(default_factory=dict)

    def cell(self, setting: Setting, workload: Workload) -> LocalCell | None:
        return self.cells.get(CellKey(setting, workload))

    def to_json(self) -> dict[str, Any]:
        return {str(k): to_json(v) for k, v in self.cells.items()}

    @classmethod
    def from_json(cls, data: object, where: str) -> LocalFile:
        if not isinstance(data, dict):
            raise ModelError(f"{where}: expected a JSON dict")
        cells = {}
        for key, value in data.items():
            try:
                cell_key = CellKey.parse(key)
            except ValueError:
                raise ModelError(f"{where}: {key!r} is not a setting/workload") from None
            cells[cell_key] = from_json(LocalCell, value, f"{where}.{key}")
        return cls(cells)


# --- W8: accuracy ---------------------------------------------------------------------


@dataclass
class Probes:
    probes: int
    bit_exact: float  # share of probe frames equal to the oracle's, bit for bit
    right_frame: float  # share that are the right frame (close to k, farther from k+-1)
    wrong_frames: list[int]
    mad: list[float]  # mean absolute difference to oracle frame k, per probe


# --- W7: remote -----------------------------------------------------------------------


@dataclass
class Traffic:
    """Requests and bytes of one phase, as the counting proxy saw them."""

    requests: int
    gets: int
    bytes: int
    video_gets: int  # GETs of the video object (hubcli: its chunk; the others: the mp4)
    video_bytes: int
    whole_object: bool  # some GET asked for the whole video object
    ranges: list[str | None]


@dataclass
class RemoteRead(Traffic):
    ms: float
    exact: int
    frames: int


@dataclass
class RemoteReader:
    open_ms: float
    open: Traffic
    reads: list[RemoteRead]
    error: str | None = field(default=None, metadata=OMIT)  # a read failed after these


@dataclass
class RemoteCell:
    lower_bound_bytes: list[int]
    runs: list[int]  # keyframe runs of each read
    peers: dict[Peer, RemoteReader | Failed] = field(default_factory=dict)


@dataclass
class RemoteFile:
    object_bytes: int
    workloads: dict[Workload, RemoteCell] = field(default_factory=dict)


# --- W9: training loop ----------------------------------------------------------------


@dataclass
class LoopPeer:
    """One reader's DataLoader run. ``clips_per_s`` counts the clips after the warm-up
    (the first 10 % of the batches, and those the accuracy check hashed); RSS per
    worker: before its first read (``rss_start_mb``: torch and the library imported),
    after the warm-up, at the end, and the growth (largest after the warm-up / RSS
    then - 1)."""

    reads: int
    clips_per_s: float
    rss_warm_mb: list[float]
    rss_end_mb: list[float]
    rss_growth: list[float]
    rss_series: list[list[list[float]]]  # per worker: [reads, MB] samples
    wall_s: float
    rss_start_mb: list[float] | None = field(default=None, metadata=OMIT)
    exact_frames: int | None = field(default=None, metadata=OMIT)  # equal to a full decode
    checked_frames: int | None = field(default=None, metadata=OMIT)
    #: Per worker, CPU time (all its threads) per clip after the warm-up: the cost of a
    #: clip whatever else the machine runs.
    cpu_ms_per_clip: list[float] | None = field(default=None, metadata=OMIT)


@dataclass
class ResizeCost:
    """ms per picture, 1 thread, best of several passes over the same decoded pictures:
    hubcli's one swscale pass to RGB at ``size`` (what ``size=`` runs), the conversion
    at full size alone, and it followed by ``torch.nn.functional.interpolate``
    (bilinear, antialias) to ``size``."""

    frames: int
    fused_ms: float
    full_ms: float
    full_then_resize_ms: float

    @property
    def ratio(self) -> float:
        return self.fused_ms / self.full_then_resize_ms


@dataclass
class Agreement:
    """hubcli's ``size=`` frames against TorchCodec's ``Resize`` of the same frames."""

    frames: int
    values: int
    within_1: float  # share of values that differ by at most 1
    mean_abs: float
    max_abs: int


@dataclass
class S3Loop:
    """The loop on the moto S3 server through the counting proxy: hubcli reads its
    dataset (s3://), TorchCodec the mp4 over HTTP. ``video_bytes``: bytes of the video
    objects (hubcli: its chunks); ``lower_bound_bytes``: the packets each batch needs
    (per sample of a batch, from each needed keyframe to the last wanted frame)."""

    reads: int
    clips_per_s: float
    requests: int
    bytes: int
    video_bytes: int
    lower_bound_bytes: int
    whole_object: bool


@dataclass
class Consecutive:
    """Consecutive frames read by hubcli and by TorchCodec exact at each thread count
    (0: FFmpeg's automatic count), in rounds of one read each, ``load`` "quiet" or
    "loader" (the 2-worker loader running meanwhile): ms of each read."""

    file: str
    read: str
    frames: int
    load: str
    hubcli_ms: list[float]
    tc_ms: dict[int, list[float]]
    #: CPU ms of each read (the reading process, all its threads): what a read costs
    #: whatever else the machine runs.
    hubcli_cpu_ms: list[float] = field(default_factory=list)
    tc_cpu_ms: dict[int, list[float]] = field(default_factory=dict)

    def tc_best(self) -> tuple[int, float] | None:
        """TorchCodec's best thread count and its median ms."""
        medians = {t: statistics.median(v) for t, v in self.tc_ms.items() if v}
        if not medians:
            return None
        threads = min(medians, key=lambda t: medians[t])
        return threads, medians[threads]

    @property
    def ratio(self) -> float | None:
        best = self.tc_best()
        if best is None or not self.hubcli_ms:
            return None
        return statistics.median(self.hubcli_ms) / best[1]

    @property
    def cpu_ratio(self) -> float | None:
        """hubcli's median CPU time over TorchCodec's at its best (wall) thread count."""
        best = self.tc_best()
        cpu = self.tc_cpu_ms.get(best[0]) if best else None
        if not cpu or not self.hubcli_cpu_ms:
            return None
        return statistics.median(self.hubcli_cpu_ms) / statistics.median(cpu)


@dataclass
class LoopResult:
    """W9: ``peers`` at full size (JSON key "full"), ``resized`` at ``size``, the fused
    resize's cost, hubcli's resized frames against TorchCodec's, the loop on S3, and
    consecutive reads quiet and under the loader."""

    video: str
    videos: int
    clip: int
    peers: dict[Peer, LoopPeer | Failed] = field(default_factory=dict, metadata=json_key("full"))
    batch: int = 8
    workers: int = 2
    size: list[int] | None = field(default=None, metadata=OMIT)
    resized: dict[Peer, LoopPeer | Failed] = field(default_factory=dict)
    resize_cost: ResizeCost | None = field(default=None, metadata=OMIT)
    agreement: Agreement | None = field(default=None, metadata=OMIT)
    s3: dict[Peer, S3Loop | Failed] = field(default_factory=dict)
    consecutive: list[Consecutive] = field(default_factory=list)
    #: 1-minute load averages at W9's start and end (other work on the machine).
    load_average: list[float] | None = field(default=None, metadata=OMIT)

    @classmethod
    def from_json(cls, data: object, where: str) -> LoopResult:
        if isinstance(data, dict) and "full" not in data:  # the hand-written loop's report
            rest = {k: v for k, v in data.items() if k not in ("video", "videos", "clip")}
            peers = from_json(dict[Peer, LoopPeer | Failed], rest, where)
            head = from_json(_LoopHead, {k: data.get(k) for k in _LoopHead.KEYS}, where)
            return cls(head.video, head.videos, head.clip, peers)
        loop: LoopResult = _read_fields(cls, data, where)  # the fields, without this hook
        return loop

    def goals(self) -> list[TargetRow]:
        """Issue 18's goals for W9, each a ratio to a peer of the same run (or a limit)."""
        return loop_goals(self)


@dataclass
class _LoopHead:
    KEYS = ("video", "videos", "clip")

    video: str
    videos: int
    clip: int


def _ratio(a: LoopPeer | Failed | None, b: LoopPeer | Failed | None) -> float | None:
    if isinstance(a, LoopPeer) and isinstance(b, LoopPeer) and b.clips_per_s:
        return a.clips_per_s / b.clips_per_s
    return None


def _goal(
    name: str, where: str, value: float | None, limit: float, higher: bool, unit: str = "x"
) -> TargetRow:
    passed = None if value is None else (value >= limit if higher else value <= limit)
    return TargetRow(
        name, "w9", where, value, f"{'>=' if higher else '<='} {limit:g}{unit}", passed
    )


def loop_goals(loop: LoopResult) -> list[TargetRow]:
    hub = loop.peers.get(Peer.HUBCLI)
    hub = hub if isinstance(hub, LoopPeer) else None
    tc = loop.peers.get(Peer.TC_EXACT)
    size = "x".join(map(str, loop.size or []))
    rows = [
        _goal("W9: clips/s, hubcli / TC exact", "full size", _ratio(hub, tc), 1.3, True),
        _goal(
            "W9: RSS per worker, MB (largest)",
            "full size",
            None if hub is None else max(hub.rss_end_mb + hub.rss_warm_mb),
            100,
            False,
            " MB",
        ),
        _goal(
            "W9: RSS per worker above its imports, MB (largest)",
            "full size",
            None
            if hub is None or hub.rss_start_mb is None
            else max(e - s for e, s in zip(hub.rss_end_mb, hub.rss_start_mb, strict=True)),
            100,
            False,
            " MB",
        ),
        _goal(
            "W9: RSS growth after warm-up",
            "full size",
            None if hub is None else max(hub.rss_growth),
            0.05,
            False,
            "",
        ),
        _goal(
            "W9: frames bit-exact to a full decode (share)",
            "full size",
            None
            if hub is None or not hub.checked_frames
            else (hub.exact_frames or 0) / hub.checked_frames,
            1.0,
            True,
            "",
        ),
    ]
    if loop.size is not None:
        rows.append(
            _goal(
                "W9: clips/s, hubcli size= / TC exact + Resize",
                size,
                _ratio(loop.resized.get(Peer.HUBCLI), loop.resized.get(Peer.TC_EXACT)),
                1.5,
                True,
            )
        )
        small = loop.resized.get(Peer.HUBCLI)
        rows.append(
            _goal(
                "W9: RSS growth after warm-up",
                size,
                max(small.rss_growth) if isinstance(small, LoopPeer) else None,
                0.05,
                False,
                "",
            )
        )
        cost = loop.resize_cost
        rows.append(
            _goal(
                "W9: fused resize / convert, then resize",
                size,
                None if cost is None else cost.ratio,
                0.3,
                False,
            )
        )
        agree = loop.agreement
        rows.append(
            _goal(
                "W9: values within +-1 of TC Resize (share)",
                size,
                None if agree is None else agree.within_1,
                0.99,
                True,
                "",
            )
        )
    s3 = loop.s3.get(Peer.HUBCLI)
    if isinstance(s3, S3Loop):
        value = s3.video_bytes / s3.lower_bound_bytes if s3.lower_bound_bytes else None
        rows.append(_goal("W9: S3 video bytes / packet lower bound", "s3", value, 1.05, False))
    rows += [
        _goal(
            "W9: consecutive read, hubcli / TC exact at its best threads",
            f"{c.file} {c.read}, {c.load}",
            c.ratio,
            0.8,
            False,
        )
        for c in loop.consecutive
    ]
    return rows


# --- append and export ----------------------------------------------------------------


@dataclass
class AppendResult:
    bytes: int
    hubcli_s: float
    baseline_s: float  # copying the file plus one PyAV demux pass
    hubcli_mb_s: float
    baseline_mb_s: float
    ratio: float


@dataclass
class ExportResult:
    frames: int
    hubcli_fps: float
    pyav_decode_fps: float
    ratio: float
    hubcli_mb_s: float


# --- W10: commit history --------------------------------------------------------------


@dataclass
class FirstFrame:
    """On S3: requests and bytes before the first frame's packets."""

    requests: int
    bytes: int


@dataclass
class HistoryCell:
    commit_median_ms: float
    commit_p99_ms: float
    state_bytes: int
    metadata: list[int]  # bytes, objects outside chunks
    open_shape_ms: float
    first_frame: FirstFrame | None = field(default=None, metadata=OMIT)
    paired: Paired | None = field(default=None, metadata=OMIT)


@dataclass
class Paired:
    """Commits at n interleaved with commits to a 10-commit dataset: the same moments
    and load for both (workloads/history.py ``paired``)."""

    commits: int
    median_ms: float
    p99_ms: float
    reference_median_ms: float
    reference_p99_ms: float

    @property
    def median_ratio(self) -> float:
        return self.median_ms / self.reference_median_ms

    @property
    def p99_ratio(self) -> float:
        return self.p99_ms / self.reference_p99_ms


@dataclass
class Bulk:
    """The same samples appended in one commit: (bytes, objects) before and after gc."""

    history: list[int]
    gc: list[int]


@dataclass
class HistorySummary:
    commit_median_ratio: float
    commit_p99_ratio: float
    state_bytes: int
    bytes_ratio_history: float
    objects_ratio_history: float
    bytes_ratio_gc: float
    objects_ratio_gc: float
    open_ratio: float
    first_frame: FirstFrame | None = field(default=None, metadata=OMIT)
    paired_median_ratio: float | None = field(default=None, metadata=OMIT)
    paired_p99_ratio: float | None = field(default=None, metadata=OMIT)


@dataclass
class HistoryRun:
    sizes: dict[int, HistoryCell]
    baseline: dict[int, Bulk]
    after_gc: list[int]
    summary: HistorySummary
    #: When the paired commits grew the dataset past the largest size: a bulk append of
    #: as many samples, which ``after_gc`` is set against.
    gc_baseline: Bulk | None = field(default=None, metadata=OMIT)
    gc_samples: int | None = field(default=None, metadata=OMIT)


# --- start-up -------------------------------------------------------------------------


@dataclass
class StartupRow:
    median_ms: float
    ratio_to_minimal_app: float


# --- labels (issue #17) ---------------------------------------------------------------


@dataclass
class Versus:
    """hubcli against a peer doing the same work in the same run, in rounds of one run
    of each back to back: median ms of each, and the median over the rounds of hubcli's
    time over the peer's (wall, and CPU time of the process)."""

    hubcli_ms: float
    peer_ms: float
    ratio: float
    cpu_ratio: float
    runs: int


@dataclass
class S3Read:
    """All labels of a tensor read from S3 after ``hubcli.load``: requests and bytes as
    the counting proxy saw them."""

    segments: int
    open_requests: int
    requests: int
    bytes: int
    ms: float


@dataclass
class LabelsResult:
    """Label tensors (issue #17): whole-tensor reads against ``np.load`` and a JSON Lines
    file, one warm label, a row append against its videos alone, reads from S3."""

    count: int  # labels and texts read
    load_ms: float  # hubcli.load() before each cold read (not in the reads' times)
    labels: Versus  # ds.labels.numpy(), cold cache, vs np.load of the .npy
    text_list: Versus  # ds.caps.numpy(aslist=True) vs [json.loads(l) for l in open(f)]
    text_array: Versus  # ds.caps.numpy() (an array of str) vs the same
    one_label_us: float  # ds.labels[i].numpy(), random i, warm: median
    one_label_p90_us: float
    one_label_reads: int
    rows: int  # rows appended (video + label)
    rows_append: Versus  # ds.extend({"videos", "labels"}) vs ds.videos.extend(paths)
    s3: dict[str, S3Read] = field(default_factory=dict)  # by how the tensor was written


# --- targets and the whole report -----------------------------------------------------


@dataclass
class TargetRow:
    """One target measured: ``passed`` is None when it could not be measured."""

    target: str
    file: str
    workload: str
    value: int | float | None
    limit: str
    passed: bool | None = field(metadata=json_key("pass"))


@dataclass
class Report:
    meta: Meta
    local: dict[str, LocalFile] | None = field(default=None, metadata=OMIT)
    accuracy: dict[str, dict[Peer, Probes | Failed]] | None = field(default=None, metadata=OMIT)
    remote: dict[str, RemoteFile] | None = field(default=None, metadata=OMIT)
    loop: LoopResult | None = field(default=None, metadata=OMIT)
    append: dict[str, AppendResult] | None = field(default=None, metadata=OMIT)
    export: dict[str, ExportResult] | None = field(default=None, metadata=OMIT)
    history: dict[str, HistoryRun] | None = field(default=None, metadata=OMIT)
    startup: dict[str, StartupRow] | None = field(default=None, metadata=OMIT)
    labels: LabelsResult | None = field(default=None, metadata=OMIT)
    ray: RayResult | None = field(default=None, metadata=OMIT)  # W11
    targets: list[TargetRow] = field(default_factory=list)
