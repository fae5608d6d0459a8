"""What hubcli is checked and priced against: a full PyAV decode of each video (the
oracle), the measured decode cost per packet, and the lower bound of a read."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from benchmarks.peers_venv import call_frames
from benchmarks.results import Costs
from benchmarks.videos import CACHE, SEED
from hubcli.video.plan import plan_runs
from testkit.frames import frame_hash

if TYPE_CHECKING:
    from pathlib import Path

    from benchmarks.log import Log
    from benchmarks.peers_venv import Call
    from benchmarks.videos import BenchVideo
    from hubcli.format.frames import FrameTable

#: Part of the oracle cache's name: bump when ``frame_hash`` changes, so that cached
#: hashes are never compared with hashes of another kind.
HASH_VERSION = 2


@dataclass
class Oracle:
    """A plain PyAV decode from the start: frame k = the k-th output frame."""

    frames: int
    hashes: list[str]
    keyframes: list[int]  # frame numbers
    probes: list[int]  # W8's probe frames, in the order they are read
    probe_index: list[int]  # the frames kept in the .npy beside the oracle

    @staticmethod
    def paths(video: BenchVideo) -> tuple[Path, Path]:
        """The cached oracle (JSON) and its kept frames (.npy), by video and PyAV."""
        name = f"{video.key}_av{av.__version__}_h{HASH_VERSION}"
        return CACHE / "oracle" / f"{name}.json", CACHE / "oracle" / f"{name}.npy"


def oracle(video: BenchVideo, log: Log) -> Oracle:
    """Hashes of every frame, keyframe frame numbers, the W8 probe frames and, saved
    beside it, the full frames around each probe (cached)."""
    meta_path, frames_path = Oracle.paths(video)
    if meta_path.exists() and frames_path.exists():
        return Oracle(**json.loads(meta_path.read_text()))
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    log(f"oracle decode of {video.name}")
    hashes: list[str] = []
    keyframes: list[int] = []
    for k, frame in enumerate(_decode(video.path)):
        hashes.append(frame_hash(frame.to_ndarray(format="rgb24")))
        if frame.key_frame:
            keyframes.append(k)
    order = _probes(len(hashes), keyframes)
    around = sorted({j for k in order for j in (k - 1, k, k + 1) if 0 <= j < len(hashes)})
    np.save(frames_path, _keep(video, around))
    result = Oracle(len(hashes), hashes, keyframes, order, around)
    meta_path.write_text(json.dumps(asdict(result)))
    return result


def _decode(path: Path) -> Any:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        yield from c.decode(stream)


def _probes(n: int, keyframes: list[int]) -> list[int]:
    """Random frames, the first and last two, and frames around the first keyframes
    (where leading B-frames are), in a random order."""
    rng = np.random.default_rng(SEED + 1)
    probes = {int(k) for k in rng.choice(n, 16, replace=False)} | {0, 1, n - 2, n - 1}
    for kf in [k for k in keyframes if k > 0][:3]:
        probes |= {kf - 2, kf - 1, kf, kf + 1}
    return [int(k) for k in rng.permutation(sorted(probes))]


def _keep(video: BenchVideo, around: list[int]) -> np.ndarray:
    keep = np.zeros((len(around), video.height, video.width, 3), dtype=np.uint8)
    slot = {k: i for i, k in enumerate(around)}
    for k, frame in enumerate(_decode(video.path)):
        if k in slot:
            keep[slot[k]] = frame.to_ndarray(format="rgb24")
        if k >= around[-1]:
            break
    return keep


def decode_costs(path: Path, passes: int = 2) -> Costs:
    """Single-thread decode cost per packet (all packets, decode only) and the cost of
    one RGB conversion (median over a sample of frames), in ms: the best of ``passes``
    passes, since other work on the machine only ever adds time."""
    best = [_one_pass(path) for _ in range(passes)]
    return Costs(
        decode_ms_per_packet=min(c.decode_ms_per_packet for c in best),
        decode_cpu_ms_per_packet=min(c.decode_cpu_ms_per_packet for c in best),
        rgb_ms_per_frame=min(c.rgb_ms_per_frame for c in best),
        packets=min(c.packets for c in best),
        frames=min(c.frames for c in best),
    )


def _one_pass(path: Path) -> Costs:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        packets = [p for p in c.demux(stream) if p.size]
        ctx = stream.codec_context
        ctx.thread_count = 1
        sample: list[av.VideoFrame] = []
        count = 0
        t0, c0 = time.perf_counter(), time.thread_time()
        for p in packets:
            for frame in ctx.decode(p):
                count += 1
                if count % 37 == 0 and len(sample) < 40:
                    sample.append(frame)
        count += len(ctx.decode(None))
        decode_ms = (time.perf_counter() - t0) * 1e3
        decode_cpu_ms = (time.thread_time() - c0) * 1e3
    reformatter = VideoReformatter()  # one per pass, as a reader keeps one per decoder
    rgb = statistics.median(_rgb_ms(reformatter, frame) for frame in sample)
    n = len(packets)
    return Costs(decode_ms / n, decode_cpu_ms / n, rgb, n, count)


def _rgb_ms(reformatter: VideoReformatter, frame: av.VideoFrame) -> float:
    """The cheapest conversion PyAV offers: one swscale context kept across pictures,
    one thread, into an array of the output's size (faulted in before the clock)."""
    out = np.empty((frame.height, frame.width, 3), np.uint8)
    out.fill(0)
    t0 = time.perf_counter()
    plane = reformatter.reformat(frame, format="rgb24", threads=1).planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
    np.copyto(out, rows[:, : frame.width * 3].reshape(out.shape))
    return (time.perf_counter() - t0) * 1e3


@dataclass(frozen=True)
class Bound:
    """What any decoder must do for a call: the packets from each needed keyframe to
    the last wanted frame (hubcli's run plan, overlaps merged)."""

    ms: float  # those packets x decode ms per packet + wanted frames x RGB ms per frame
    packets: int
    runs: int
    bytes: int


def lower_bound(table: FrameTable, costs: Costs, call: Call) -> Bound:
    frames = np.asarray(call_frames(call), dtype=np.int64)
    runs = plan_runs(table, frames)
    packets = sum(r.stop - r.start for r in runs)
    wanted = len(np.unique(frames))
    nbytes = sum(int(table.size[r.start : r.stop].astype(np.int64).sum()) for r in runs)
    ms = packets * costs.decode_ms_per_packet + wanted * costs.rgb_ms_per_frame
    return Bound(ms, packets, len(runs), nbytes)
