"""hubcli's benchmark against its peers, on videos it encodes itself (and caches).

Run it with ``./scripts/bench.sh`` (it creates the peers' venv ``.bench-venv`` first);
``--quick`` for a short run. hubcli and the PyAV peers run in this process; TorchCodec
and decord run in ``.bench-venv`` (``scripts/bench_peers.py``, JSON over a pipe), on
the same files, with the same frame indices (fixed seeds). Results go to
``docs/benchmarks.md`` and ``docs/benchmarks.json``. Not part of CI.

Workloads (each the median of several runs, after one untimed warm-up):

W0 open + (frames, height, width); W1 one random frame; W2 10 random frames, unsorted,
one call; W3 ``[a:a+100:5]``; W4 32 evenly spaced frames of the whole video; W5 the
first 100 frames, and the whole video; W6 W1-W4 with 2 decoder threads; W7 W1/W3/W4 on
an S3 server (moto) behind a counting proxy: bytes and GETs; W8 accuracy against a
full PyAV decode; W9 a training loop (2 worker processes, 16-frame clips) with RSS;
append and export throughput.

The lower bound of a read is what any decoder must do: the packets from each needed
keyframe to the last wanted frame (the runs hubcli plans, which merge overlaps),
times the measured single-thread decode cost per packet, plus one RGB conversion per
wanted frame, also measured.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import http.client
import http.server
import json
import logging
import os
import platform
import re
import shutil
import socketserver
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
import numpy as np
from av.video.reformatter import VideoReformatter

import hubcli
from hubcli.core.export import export_sample
from hubcli.video import decode as hub_decode
from hubcli.video.plan import plan_runs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bench_peers  # noqa: E402
from bench_peers import call_frames, frame_hash, handle_request  # noqa: E402

CACHE = ROOT / "bench-cache"
PEER_PYTHON = ROOT / ".bench-venv" / "bin" / "python"
GEN_VERSION = 1  # bump when the synthetic content changes
FPS = 30
SEED = 20240611

LOCAL_PEERS = ("hubcli", "pyav-seek", "pyav-seq")
VENV_PEERS = ("torchcodec-exact", "torchcodec-approx", "decord")
ALL_PEERS = LOCAL_PEERS + VENV_PEERS
RANDOM_ACCESS = ("W1", "W2", "W3", "W4")
WORKLOADS = ("W0", *RANDOM_ACCESS, "W5a", "W5b")
LABELS = {
    "W0": "W0 open + shape",
    "W1": "W1 1 random frame",
    "W2": "W2 10 random frames",
    "W3": "W3 [a:a+100:5]",
    "W4": "W4 32 spaced frames",
    "W5a": "W5 first 100 frames",
    "W5b": "W5 whole video",
}
# Thread settings: equal (1 decoder thread each), W6 (2 each), each peer's best (0 =
# FFmpeg's automatic count; TorchCodec num_ffmpeg_threads=0, decord num_threads=0).
SETTINGS = {"t1": 1, "t2": 2, "auto": 0}


# --- videos --------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoSpec:
    name: str
    container: str
    codec: str
    width: int
    height: int
    seconds: int
    gop: int
    bframes: int
    kbps: int

    @property
    def frames(self) -> int:
        return self.seconds * FPS

    @property
    def key(self) -> str:
        return (
            f"{self.name}_{self.codec}_{self.width}x{self.height}_{self.seconds}s_{FPS}fps"
            f"_g{self.gop}_b{self.bframes}_{self.kbps}k_v{GEN_VERSION}"
        )

    @property
    def path(self) -> Path:
        return CACHE / "videos" / f"{self.key}.{self.container}"

    def describe(self) -> str:
        codec = {"libx264": "H.264", "libx265": "HEVC", "libvpx-vp9": "VP9"}[self.codec]
        b = f", {self.bframes} B-frames" if self.bframes else ""
        return (
            f"{codec} {self.width}x{self.height} {self.seconds} s {FPS} fps, GOP {self.gop}{b}, "
            f"{self.kbps} kb/s, .{self.container}"
        )


VIDEOS = [
    VideoSpec("h264_720p", "mp4", "libx264", 1280, 720, 60, 250, 3, 4000),
    VideoSpec("h264_360p", "mp4", "libx264", 640, 360, 60, 30, 3, 1000),
    VideoSpec("h264_1080p", "mp4", "libx264", 1920, 1080, 30, 300, 3, 8000),
    VideoSpec("hevc_720p", "mp4", "libx265", 1280, 720, 20, 120, 4, 2500),
    VideoSpec("vp9_720p", "webm", "libvpx-vp9", 1280, 720, 20, 120, 0, 2500),
]


def synth_frames(width: int, height: int, count: int, seed: int) -> Any:
    """Frames that are not trivially compressible: moving gradients, a scrolling noise
    texture, grain that changes every frame, and a few moving boxes."""
    rng = np.random.default_rng(seed)
    x = np.arange(width, dtype=np.float32)
    y = np.arange(height, dtype=np.float32)
    margin = 256
    tex = rng.integers(0, 48, (height + margin, width + margin), dtype=np.int16)
    tex = (tex + np.roll(tex, 1, 0) + np.roll(tex, 1, 1) + np.roll(tex, (1, 1), (0, 1))) // 4
    grain = [rng.integers(-5, 6, (height, width), dtype=np.int16) for _ in range(7)]
    boxes = [
        (rng.uniform(0, width), rng.uniform(0, height), rng.uniform(-9, 9), rng.uniform(-6, 6))
        for _ in range(4)
    ]
    colors = rng.integers(0, 256, (len(boxes), 3))
    size = max(16, height // 8)
    for t in range(count):
        a = 2 * np.pi * t / FPS
        rx = (70 * np.sin(2 * np.pi * x / width * 1.5 + a * 0.20)).astype(np.int16)
        gx = (50 * np.sin(2 * np.pi * x / width * 0.7 - a * 0.11)).astype(np.int16)
        ry = (60 * np.sin(2 * np.pi * y / height * 1.1 - a * 0.13)).astype(np.int16)
        by = (80 * np.sin(2 * np.pi * y / height * 0.5 + a * 0.07)).astype(np.int16)
        dy, dx = (2 * t) % margin, (3 * t) % margin
        common = tex[dy : dy + height, dx : dx + width] + grain[t % len(grain)] + 90
        img = np.empty((height, width, 3), dtype=np.uint8)
        for c, plane in enumerate(
            (rx[None, :] + ry[:, None] // 2, gx[None, :] + ry[:, None], by[:, None] + gx[None, :])
        ):
            np.clip(common + plane, 0, 255, out=plane)
            img[..., c] = plane
        for n, (bx, bya, vx, vy) in enumerate(boxes):
            px = int(abs((bx + vx * t) % (2 * width) - width)) % max(1, width - size)
            py = int(abs((bya + vy * t) % (2 * height) - height)) % max(1, height - size)
            img[py : py + size, px : px + size] = colors[n]
        yield img


def make_video(spec: VideoSpec) -> Path:
    """Encode ``spec`` (once: the file is kept under bench-cache/ by its parameters)."""
    path = spec.path
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial" + path.suffix)
    t0 = time.perf_counter()
    log(f"encoding {spec.describe()} -> {path.name}")
    k, g, b = spec.kbps, spec.gop, spec.bframes
    if spec.codec == "libx264":
        params = f"keyint={g}:min-keyint={g}:scenecut=0:bframes={b}"
        options = {
            "preset": "veryfast",
            "x264-params": f"{params}:bitrate={k}:vbv-maxrate={k}:vbv-bufsize={k}",
        }
    elif spec.codec == "libx265":
        params = f"log-level=error:keyint={g}:min-keyint={g}:scenecut=0:bframes={b}"
        options = {"preset": "ultrafast", "x265-params": f"{params}:bitrate={k}"}
    else:
        options = {"deadline": "realtime", "cpu-used": "8", "row-mt": "1"}
    with av.open(str(partial), "w") as out:
        stream = out.add_stream(spec.codec, rate=FPS, options=options)
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
        if spec.codec == "libvpx-vp9":
            stream.codec_context.gop_size = g
            stream.codec_context.bit_rate = k * 1000
        for t, rgb in enumerate(synth_frames(spec.width, spec.height, spec.frames, SEED)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = t
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    partial.rename(path)
    mb = path.stat().st_size / 1e6
    log(f"  {mb:.1f} MB in {time.perf_counter() - t0:.0f} s")
    return path


# --- the oracle, and the decode cost ----------------------------------------------------


def oracle(spec: VideoSpec) -> dict[str, Any]:
    """A plain PyAV decode from the start: frame k = the k-th output frame. Hashes of
    every frame, keyframe frame numbers, the W8 probe frames and, saved beside it, the
    full frames around each probe (cached with the PyAV version in the key)."""
    meta_path = CACHE / "oracle" / f"{spec.key}_av{av.__version__}.json"
    frames_path = meta_path.with_suffix(".npy")
    if meta_path.exists() and frames_path.exists():
        return json.loads(meta_path.read_text())
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    log(f"oracle decode of {spec.name}")
    hashes: list[str] = []
    keyframes: list[int] = []
    with av.open(str(spec.path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for k, frame in enumerate(c.decode(stream)):
            hashes.append(frame_hash(frame.to_ndarray(format="rgb24")))
            if frame.key_frame:
                keyframes.append(k)
    n = len(hashes)
    rng = np.random.default_rng(SEED + 1)
    probes = {int(k) for k in rng.choice(n, 16, replace=False)} | {0, 1, n - 2, n - 1}
    for kf in [k for k in keyframes if k > 0][:3]:  # around keyframes: leading B-frames
        probes |= {kf - 2, kf - 1, kf, kf + 1}
    order = [int(k) for k in rng.permutation(sorted(probes))]
    around = sorted({j for k in order for j in (k - 1, k, k + 1) if 0 <= j < n})
    keep = np.zeros((len(around), spec.height, spec.width, 3), dtype=np.uint8)
    slot = {k: i for i, k in enumerate(around)}
    with av.open(str(spec.path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for k, frame in enumerate(c.decode(stream)):
            if k in slot:
                keep[slot[k]] = frame.to_ndarray(format="rgb24")
            if k >= around[-1]:
                break
    np.save(frames_path, keep)
    meta = {"frames": n, "hashes": hashes, "keyframes": keyframes, "probes": order}
    meta["probe_index"] = around
    meta_path.write_text(json.dumps(meta))
    return meta


def decode_costs(path: Path, passes: int = 2) -> dict[str, float]:
    """Single-thread decode cost per packet (all packets, decode only) and the cost of
    one RGB conversion (median over a sample of frames), in ms: the best of ``passes``
    passes, since other work on the machine only ever adds time."""
    best: dict[str, float] = {}
    for _ in range(passes):
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            packets = [p for p in c.demux(stream) if p.size]
            ctx = stream.codec_context
            ctx.thread_count = 1
            sample: list[Any] = []
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
        # The cheapest conversion PyAV offers: one swscale context kept across
        # pictures, one thread, into an array of the output's size.
        rgb: list[float] = []
        reformatter = VideoReformatter()
        for frame in sample:
            out = np.empty((frame.height, frame.width, 3), np.uint8)
            out.fill(0)
            t0 = time.perf_counter()
            plane = reformatter.reformat(frame, format="rgb24", threads=1).planes[0]
            rows = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
            np.copyto(out, rows[:, : frame.width * 3].reshape(out.shape))
            rgb.append((time.perf_counter() - t0) * 1e3)
        costs = {
            "decode_ms_per_packet": decode_ms / len(packets),
            "decode_cpu_ms_per_packet": decode_cpu_ms / len(packets),
            "rgb_ms_per_frame": statistics.median(rgb),
            "packets": len(packets),
            "frames": count,
        }
        best = {k: min(v, best.get(k, v)) for k, v in costs.items()}
    return best


def lower_bound(table: Any, costs: dict[str, float], call: dict[str, Any]) -> dict[str, float]:
    frames = np.asarray(call_frames(call), dtype=np.int64)
    runs = plan_runs(table, frames)
    packets = sum(r.stop - r.start for r in runs)
    wanted = len(np.unique(frames))
    nbytes = sum(int(table.size[r.start : r.stop].astype(np.int64).sum()) for r in runs)
    ms = packets * costs["decode_ms_per_packet"] + wanted * costs["rgb_ms_per_frame"]
    return {"ms": ms, "packets": packets, "runs": len(runs), "bytes": nbytes}


# --- hubcli as a peer ------------------------------------------------------------------


_CONVERT_DEFAULT = getattr(hub_decode, "CONVERT_THREADS", None)


def set_hubcli_threads(threads: int) -> None:
    """hubcli's thread count. Uses a public knob if hubcli has one; otherwise the module
    constants: ``DECODER_THREADS`` (and the default of ``open_decoder``, bound when it
    was defined) and, where it exists, ``CONVERT_THREADS`` (swscale threads of the RGB
    conversion): at a fixed count both get it, so hubcli uses no more threads than its
    peers; at 0 (automatic) the conversion keeps hubcli's default."""
    for owner in (hubcli, hub_decode):
        knob = getattr(owner, "set_decoder_threads", None)
        if callable(knob):
            knob(threads)
            return
    hub_decode.DECODER_THREADS = threads
    fn = hub_decode.open_decoder
    defaults = fn.__defaults__ or ()
    if len(defaults) == 1 and isinstance(defaults[0], int):
        fn.__defaults__ = (threads,)
    if _CONVERT_DEFAULT is not None:
        hub_decode.CONVERT_THREADS = threads or _CONVERT_DEFAULT


def hubcli_threads_in_effect(ds: Any) -> dict[str, Any]:
    """The thread_count a decoder hubcli opens now gets (to check the knob works), and
    the conversion threads."""
    rec = ds.videos.reader().locate(0).record
    return {
        "decoder": int(hub_decode.open_decoder(rec.codec).thread_count),
        "convert": getattr(hub_decode, "CONVERT_THREADS", None),
    }


class HubcliPeer:
    """hubcli: ``source`` is a dataset path, ``#i`` selects sample i (default 0).
    ``reuse`` keeps one Dataset per path (W9's workers; a DataLoader's dataset)."""

    name = "hubcli"

    def __init__(self, threads: int, reuse: bool = False) -> None:
        self.threads = threads
        self.reuse = reuse
        self.datasets: dict[str, Any] = {}

    def open(self, source: str) -> Any:
        set_hubcli_threads(self.threads)
        path, _, index = source.partition("#")
        ds = self.datasets.get(path) if self.reuse else None
        if ds is None:
            ds = hubcli.load(path, read_only=True)
            if self.reuse:
                self.datasets[path] = ds
        return ds.videos, int(index or 0)

    def info(self, handle: Any) -> list[int]:
        tensor, i = handle
        return list(tensor[i].shape[:3])

    def frames(self, handle: Any, call: dict[str, Any]) -> np.ndarray:
        tensor, i = handle
        if "slice" in call:
            return tensor[i, slice(*call["slice"])].numpy()
        return tensor[i, call["frames"]].numpy()

    def close(self, handle: Any) -> None:
        pass


def local_peer(name: str, threads: int) -> Any:
    return HubcliPeer(threads) if name == "hubcli" else bench_peers.make_peer(name, threads)


def hubcli_loop_worker(name: str, threads: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    return bench_peers.loop(HubcliPeer(threads, reuse=True), **kwargs)


# --- running requests here or in the peers' venv --------------------------------------


class Runner:
    """Sends each request to the right process: hubcli and PyAV here, TorchCodec and
    decord to ``bench_peers.py`` under ``.bench-venv`` (restarted if it dies)."""

    def __init__(self, use_venv: bool) -> None:
        self.use_venv = use_venv
        self.proc: subprocess.Popen[str] | None = None
        self.handles = bench_peers.Handles()
        self.handles_local: dict[str, Any] = {}

    def _start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [str(PEER_PYTHON), str(HERE / "bench_peers.py")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
        return self.proc

    def remote(self, req: dict[str, Any]) -> dict[str, Any]:
        proc = self._start()
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            proc.stdin.write(json.dumps([req]) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            proc.wait()
            self.proc = None
            return {"error": f"peer process died (exit {proc.returncode})"}
        result: dict[str, Any] = json.loads(line)[0]
        return result

    def __call__(self, req: dict[str, Any]) -> dict[str, Any]:
        handle = str(req.get("handle", ""))
        if handle.startswith("venv:"):  # a source opened in the peers' process
            return self.remote({**req, "handle": int(handle[5:])})
        if req.get("peer") in VENV_PEERS or req.get("venv"):
            if not self.use_venv:
                return {"error": "skipped (no .bench-venv)"}
            result = self.remote(req)
            if req["op"] == "open" and "handle" in result:
                result["handle"] = f"venv:{result['handle']}"
            return result
        if req["op"] == "loop":
            kw = {k: req[k] for k in ("sources", "reads", "seed", "clip", "every")}
            worker = hubcli_loop_worker if req["peer"] == "hubcli" else bench_peers.loop_worker
            workers = bench_peers.parallel_loops(
                worker, req["peer"], req["threads"], req["workers"], **kw
            )
            return {"workers": workers}
        if req["op"] == "open" and req["peer"] == "hubcli":
            peer = HubcliPeer(req["threads"])
            t0 = time.perf_counter()
            handle = peer.open(req["source"])
            info = peer.info(handle)
            ms = (time.perf_counter() - t0) * 1e3
            self.handles.next += 1
            self.handles.items[self.handles.next] = (peer, handle)
            return {"handle": self.handles.next, "ms": ms, "info": info}
        return handle_request(req, self.handles, local_peer)

    def trim(self, peer: str) -> None:
        """Give the free memory of the process that ran ``peer`` back to the system."""
        if peer in VENV_PEERS:
            if self.proc is not None and self.proc.poll() is None:
                self.remote({"op": "trim"})
        else:
            bench_peers.trim_memory()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


# --- statistics ------------------------------------------------------------------------


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def check_hashes(result: dict[str, Any], runs: list[Any], hashes: list[str]) -> tuple[int, int]:
    """(frames equal to the oracle, frames checked) over a timed result."""
    good = total = 0
    for run, run_hashes in zip(runs, result.get("hashes", []), strict=False):
        for call, got in zip(run, run_hashes, strict=True):
            want = [hashes[k] for k in call_frames(call)]
            total += len(want)
            good += sum(a == b for a, b in zip(got, want, strict=False))
            if len(got) != len(want):
                total += abs(len(got) - len(want))
    return good, total


# --- the local workloads ----------------------------------------------------------------


@dataclass
class Config:
    quick: bool
    runs: int
    runs_whole: int
    max_seconds: float
    w7_runs: int
    w9_reads: int
    w9_peer_reads: int
    probes: int | None
    cost_passes: int
    files: list[str]
    workloads: set[str]
    out: Path
    results: dict[str, Any] = field(default_factory=dict)


def plans(n: int, runs: int, runs_whole: int, seed: int) -> dict[str, dict[str, Any]]:
    """The calls of each workload for a video of ``n`` frames: the same for every peer."""
    rng = np.random.default_rng(seed)

    def one() -> list[dict[str, Any]]:
        return [{"frames": [int(rng.integers(n))]}]

    def ten() -> list[dict[str, Any]]:
        return [{"frames": [int(k) for k in rng.choice(n, 10, replace=False)]}]

    def strided() -> list[dict[str, Any]]:
        a = int(rng.integers(0, n - 100))
        return [{"slice": [a, a + 100, 5]}]

    # The warm-up (untimed) is one random frame: it opens what a first read opens
    # (decoder, index) without costing a whole run.
    spaced = [{"frames": [int(k) for k in np.linspace(0, n - 1, 32).round()]}]
    out: dict[str, dict[str, Any]] = {"W0": {"runs": [[]] * runs}}
    for name, make in (("W1", one), ("W2", ten), ("W3", strided)):
        warmup = one()[0]
        out[name] = {"runs": [make() for _ in range(runs)], "warmup": warmup}
    out["W4"] = {"runs": [spaced] * runs, "warmup": one()[0]}
    first = [{"slice": [0, 100, 1]}]
    out["W5a"] = {"runs": [first] * runs, "warmup": one()[0]}
    whole = [{"slice": [0, n, 1]}]
    out["W5b"] = {"runs": [whole] * runs_whole, "warmup": one()[0]}
    return out


def peers_for(workload: str, setting: str, quick: bool, file: str) -> tuple[str, ...]:
    """Who runs what. At equal threads (t1) everyone; PyAV's seek reader (Hub's) is a
    random-access baseline, PyAV's sequential decode the baseline of W5. W6 (t2) is
    W1-W4; "auto" (each peer's best) is W5, plus W1-W4 in a full run. A quick run
    leaves out the slowest baselines, and the whole video but for the 360p clip."""
    random_access = workload in RANDOM_ACCESS
    sequential = ("hubcli", "pyav-seq", *VENV_PEERS)
    if workload == "W5b" and quick and (setting == "t1" or file != "h264_360p"):
        return ()
    if setting == "t1":
        if workload in ("W5a", "W5b"):
            return sequential
        if quick and workload in ("W2", "W3", "W4"):
            return (
                ("hubcli", "pyav-seek", *VENV_PEERS)
                if workload == "W3"
                else (
                    "hubcli",
                    *VENV_PEERS,
                )
            )
        return ALL_PEERS
    if setting == "t2":
        if not random_access:
            return ()
        return ("hubcli", *VENV_PEERS) if quick else ("hubcli", "pyav-seek", *VENV_PEERS)
    if workload in ("W5a", "W5b"):
        return sequential
    return ("hubcli", *VENV_PEERS) if random_access and not quick else ()


def runs_policy(cfg: Config, peer: str, workload: str) -> tuple[int, float]:
    """(least runs, seconds after which a cell stops once it has them). hubcli and
    TorchCodec exact, which the targets compare, always do the same runs; PyAV's
    sequential decode of a random frame costs seconds and needs one."""
    if workload == "W5b":
        if peer in ("hubcli", "pyav-seq"):  # the W5 target
            return cfg.runs_whole, 1e9
        return 1, cfg.max_seconds
    if peer in ("hubcli", "torchcodec-exact"):
        return cfg.runs, 1e9
    if peer == "pyav-seq" and workload in RANDOM_ACCESS:
        return 1, cfg.max_seconds
    return (1 if cfg.quick else 3), cfg.max_seconds


def run_local(cfg: Config, runner: Runner, specs: list[VideoSpec], info: dict[str, Any]) -> None:
    """W0-W6 on every file; all peers of a cell run back to back (same conditions)."""
    results: dict[str, Any] = cfg.results.setdefault("local", {})
    for spec in specs:
        fi = info[spec.name]
        table, costs, n = fi["table"], fi["costs"], fi["oracle"]["frames"]
        plan = plans(n, cfg.runs, cfg.runs_whole, SEED + VIDEOS.index(spec))
        file_out = results.setdefault(spec.name, {})
        for setting, threads in SETTINGS.items():
            for workload in WORKLOADS:
                wl_name = "W6" if setting == "t2" else workload
                if wl_name not in cfg.workloads and workload not in cfg.workloads:
                    continue
                if setting == "t2" and "W6" not in cfg.workloads:
                    continue
                peers = peers_for(workload, setting, cfg.quick, spec.name)
                if not peers:
                    continue
                p = plan[workload]
                bounds = [lower_bound(table, costs, call) for run in p["runs"] for call in run[:1]]
                cell: dict[str, Any] = {
                    "lower_bound_ms": [b["ms"] for b in bounds],
                    "lower_bound_packets": [b["packets"] for b in bounds],
                    "peers": {},
                }
                for peer in peers:
                    min_runs, max_seconds = runs_policy(cfg, peer, workload)
                    req = {
                        "op": "open_info" if workload == "W0" else "frames",
                        "peer": peer,
                        "threads": threads,
                        "source": fi["dataset"] if peer == "hubcli" else str(spec.path),
                        "runs": p["runs"],
                        "warmup": p.get("warmup"),
                        "min_runs": min_runs,
                        "max_seconds": max_seconds,
                        "hash_first_only": workload in ("W5a", "W5b"),
                    }
                    if workload != "W0":  # fault in the memory of the largest output first
                        most = max(sum(len(call_frames(c)) for c in run) for run in p["runs"])
                        req["prefault_bytes"] = int(most * spec.width * spec.height * 3 * 1.1)
                    t0 = time.perf_counter()
                    res = runner(req)
                    gc.collect()
                    if req.get("prefault_bytes", 0) > 256 << 20:
                        runner.trim(peer)
                    entry = summarize(res, p["runs"], fi["oracle"]["hashes"], bounds)
                    entry["load_average"] = round(os.getloadavg()[0], 2)
                    cell["peers"][peer] = entry
                    log(
                        f"{spec.name:11} {setting:4} {workload:3} {peer:17} "
                        + (
                            f"median {entry['median_ms']:9.1f} ms ({len(entry['times_ms'])} runs)"
                            if entry.get("median_ms") is not None
                            else f"ERROR {entry.get('error')}"
                        )
                        + f"  [{time.perf_counter() - t0:.0f} s]"
                    )
                file_out[f"{setting}/{workload}"] = cell


def summarize(
    res: dict[str, Any], runs: list[Any], hashes: list[str], bounds: list[dict[str, float]]
) -> dict[str, Any]:
    if "error" in res:
        return {"error": res["error"]}
    times = res["times_ms"]
    entry: dict[str, Any] = {
        "times_ms": [round(t, 3) for t in times],
        "cpu_ms": [round(t, 3) for t in res.get("cpu_ms", [])],
        "median_ms": median(times),
        "median_cpu_ms": median(res.get("cpu_ms", [])),
    }
    if "info" in res:
        entry["info"] = res["info"]
    if res.get("hashes"):
        good, total = check_hashes(res, runs, hashes)
        entry["exact_frames"], entry["checked_frames"] = good, total
    if bounds and times:
        ratios = [t / b["ms"] for t, b in zip(times, bounds, strict=False) if b["ms"] > 0]
        entry["ratio_lower_bound"] = median(ratios)
    return entry


# --- W8 ---------------------------------------------------------------------------------


def run_accuracy(cfg: Config, runner: Runner, specs: list[VideoSpec], info: dict[str, Any]) -> None:
    out = cfg.results.setdefault("accuracy", {})
    for spec in specs:
        fi = info[spec.name]
        orc = fi["oracle"]
        file_out = out.setdefault(spec.name, {})
        for peer in ALL_PEERS:
            req = {
                "op": "probe",
                "peer": peer,
                "threads": 1,
                "source": fi["dataset"] if peer == "hubcli" else str(spec.path),
                "probes": orc["probes"][: cfg.probes],
                "oracle": str(fi["oracle_frames"]),
                "oracle_index": orc["probe_index"],
                "one_call": peer == "pyav-seq",
            }
            res = runner(req)
            if "error" in res:
                file_out[peer] = {"error": res["error"]}
                log(f"{spec.name:11} W8 {peer:17} ERROR {res['error']}")
                continue
            exact = right = 0
            wrong: list[int] = []
            for p in res["probes"]:
                k, (prev, here, nxt) = p["frame"], p["mad"]
                exact += p["hash"] == orc["hashes"][k]
                ok = here < 2.0 and here < prev and here < nxt
                right += ok
                if not ok:
                    wrong.append(k)
            total = len(res["probes"])
            file_out[peer] = {
                "probes": total,
                "bit_exact": exact / total,
                "right_frame": right / total,
                "wrong_frames": wrong,
                "mad": [round(p["mad"][1], 3) for p in res["probes"]],
            }
            log(
                f"{spec.name:11} W8 {peer:17} bit-exact {exact}/{total} right-frame {right}/{total}"
            )


# --- W7: remote ------------------------------------------------------------------------


@dataclass
class Exchange:
    method: str
    path: str
    range: str | None
    sent: int = 0


class CountingProxy:
    """A reverse proxy on loopback that streams each answer and counts, as they leave,
    the body bytes it sends (a client that hangs up early, as FFmpeg does after a seek,
    is charged for what left, including what the socket buffers took). ``take()``
    returns the requests started and the bytes sent since the last ``take()``."""

    def __init__(self, target: str) -> None:
        self.lock = threading.Lock()
        self.started: list[Exchange] = []
        self.sent: dict[str, int] = {}
        host, port = urlsplit(target).hostname, urlsplit(target).port
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def forward(self) -> None:
                exchange = Exchange(self.command, self.path, self.headers.get("Range"))
                with outer.lock:
                    outer.started.append(exchange)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                conn = http.client.HTTPConnection(host, port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                clen = response.getheader("Content-Length")
                if clen is not None:
                    self.send_header("Content-Length", clen)
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                try:
                    while self.command != "HEAD" and (chunk := response.read(1 << 16)):
                        self.wfile.write(chunk)
                        with outer.lock:
                            exchange.sent += len(chunk)
                            outer.sent[self.path] = outer.sent.get(self.path, 0) + len(chunk)
                except OSError:
                    self.close_connection = True
                finally:
                    conn.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = forward

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def take(self) -> tuple[list[Exchange], dict[str, int]]:
        time.sleep(0.05)  # let the last chunks of a hung-up answer be counted
        with self.lock:
            started, self.started = self.started, []
            sent, self.sent = self.sent, {}
        return started, sent

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _asks_whole(header: str | None, size: int) -> bool:
    """Whether a GET's Range header (None: no Range) asks for the whole object."""
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", header or "")
    if m is None:
        return True
    first, last = m.groups()
    if not first:
        return int(last or 0) >= size
    end = int(last) + 1 if last else size
    return end - int(first) >= size


def traffic(taken: tuple[list[Exchange], dict[str, int]], part: str, size: int) -> dict[str, Any]:
    """Requests and bytes of one phase; "video" = those of the object named by ``part``."""
    started, sent = taken
    gets = [e for e in started if e.method == "GET"]
    video = [e for e in gets if part in e.path]
    return {
        "requests": len(started),
        "gets": len(gets),
        "bytes": sum(sent.values()),
        "video_gets": len(video),
        "video_bytes": sum(n for path, n in sent.items() if part in path),
        "whole_object": any(_asks_whole(e.range, size) for e in video),
        "ranges": [e.range for e in video][:50],
    }


def run_remote(cfg: Config, runner: Runner, specs: list[VideoSpec], info: dict[str, Any]) -> None:
    """W7: W1, W3, W4 from moto S3 through the counting proxy. hubcli reads its dataset
    (s3://); TorchCodec and PyAV (Hub's seek reader) read the same mp4 over HTTP."""
    from moto.server import ThreadedMotoServer

    out = cfg.results.setdefault("remote", {})
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    proxy = CountingProxy(f"http://{host}:{port}")
    saved = {k: os.environ.get(k) for k in ENV_S3}
    os.environ.update(ENV_S3, AWS_ENDPOINT_URL=proxy.url)
    try:
        import s3fs

        fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
        fs.mkdir("bench")
        for spec in specs:
            if spec.container != "mp4" or spec.codec != "libx264":
                continue
            out[spec.name] = remote_file(cfg, runner, spec, info[spec.name], fs, proxy)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        proxy.stop()
        server.stop()


ENV_S3 = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ENDPOINT_URL": "",
}


def remote_file(
    cfg: Config, runner: Runner, spec: VideoSpec, fi: dict[str, Any], fs: Any, proxy: CountingProxy
) -> dict[str, Any]:
    data = spec.path.read_bytes()
    url = f"s3://bench/ds-{spec.name}"
    ds = hubcli.empty(url, overwrite=True)
    ds.create_tensor("videos", htype="video", sample_compression=spec.container)
    ds.videos.append(str(spec.path))
    chunk_key = ds.videos.reader().locate(0).chunk_key
    assert chunk_key is not None
    raw_key = f"raw/{spec.name}.{spec.container}"
    fs.pipe_file(f"bench/{raw_key}", data, ACL="public-read")
    http_url = f"{proxy.url}/bench/{raw_key}"
    proxy.take()
    n = fi["oracle"]["frames"]
    plan = plans(n, cfg.w7_runs, 1, SEED + 100 + VIDEOS.index(spec))
    table, hashes = fi["table"], fi["oracle"]["hashes"]
    result: dict[str, Any] = {"object_bytes": len(data), "workloads": {}}
    readers = [
        ("hubcli", url, chunk_key, len(data)),
        ("torchcodec-approx", http_url, raw_key, len(data)),
        ("torchcodec-exact", http_url, raw_key, len(data)),
        ("pyav-seek", http_url, raw_key, len(data)),
    ]
    for workload in ("W1", "W3", "W4"):
        p = plan[workload]
        bounds = [lower_bound(table, fi["costs"], run[0]) for run in p["runs"]]
        cell: dict[str, Any] = {
            "lower_bound_bytes": [b["bytes"] for b in bounds],
            "runs": [b["runs"] for b in bounds],
            "peers": {},
        }
        for peer, source, part, size in readers:
            opened = runner({"op": "open", "peer": peer, "threads": 1, "source": source})
            if "error" in opened:
                cell["peers"][peer] = {"error": opened["error"]}
                log(f"{spec.name:11} W7 {workload} {peer:17} ERROR {opened['error']}")
                proxy.take()
                continue
            entry: dict[str, Any] = {
                "open_ms": opened["ms"],
                "open": traffic(proxy.take(), part, size),
                "reads": [],
            }
            for run in p["runs"]:
                res = runner({"op": "read", "handle": opened["handle"], "call": run[0]})
                t = traffic(proxy.take(), part, size)
                if "error" in res:
                    entry["error"] = res["error"]
                    break
                want = [hashes[k] for k in call_frames(run[0])]
                t["ms"] = res["ms"]
                t["exact"] = sum(a == b for a, b in zip(res["hashes"], want, strict=False))
                t["frames"] = len(want)
                entry["reads"].append(t)
            runner({"op": "close", "handle": opened["handle"]})
            proxy.take()
            cell["peers"][peer] = entry
            reads = entry["reads"]
            if reads:
                log(
                    f"{spec.name:11} W7 {workload} {peer:17} open {entry['open']['gets']} GETs "
                    f"{entry['open']['bytes'] / 1e6:.2f} MB; first read "
                    f"{reads[0]['gets']} GETs {reads[0]['bytes'] / 1e6:.2f} MB "
                    f"{reads[0]['ms']:.0f} ms (LB {bounds[0]['bytes'] / 1e6:.2f} MB, "
                    f"{bounds[0]['runs']} runs)"
                )
        result["workloads"][workload] = cell
    return result


# --- W9 ---------------------------------------------------------------------------------


def run_loop(cfg: Config, runner: Runner, spec: VideoSpec) -> None:
    """W9: 2 worker processes, each reading random 16-frame clips of random videos of a
    dataset (the 360p clip appended 8 times), 1 decoder thread per worker."""
    ds_path = CACHE / "datasets" / "w9"
    ds = hubcli.empty(ds_path, overwrite=True)
    ds.create_tensor("videos", htype="video", sample_compression=spec.container)
    ds.videos.extend([str(spec.path)] * 8)
    out = cfg.results.setdefault("loop", {"video": spec.name, "videos": 8, "clip": 16})
    jobs = [("hubcli", [f"{ds_path}#{i}" for i in range(8)], cfg.w9_reads)]
    jobs += [(p, [str(spec.path)] * 8, cfg.w9_peer_reads) for p in VENV_PEERS]
    for peer, sources, reads in jobs:
        req = {
            "op": "loop",
            "peer": peer,
            "threads": 1,
            "workers": 2,
            "sources": sources,
            "reads": reads,
            "seed": SEED + 9,
            "clip": 16,
            "every": max(10, reads // 200),
        }
        t0 = time.perf_counter()
        res = runner(req)
        if "error" in res:
            out[peer] = {"error": res["error"]}
            log(f"W9 {peer:17} ERROR {res['error']}")
            continue
        workers = res["workers"]
        total = sum(w["reads"] for w in workers)
        seconds = max(w["seconds"] for w in workers)
        growth, warm_mb = [], []
        for w in workers:
            rss = w["rss"]
            # Warm-up: the first 10 % of a worker's reads.
            warm = next(x for x in rss if x[0] >= max(1, w["reads"] // 10))
            growth.append(max(x[2] for x in rss if x[0] >= warm[0]) / warm[2] - 1)
            warm_mb.append(warm[2] / 2**20)
        out[peer] = {
            "reads": total,
            "clips_per_s": total / seconds,
            "rss_warm_mb": warm_mb,
            "rss_end_mb": [w["rss"][-1][2] / 2**20 for w in workers],
            "rss_growth": growth,
            "rss_series": [[[x[0], round(x[2] / 2**20, 1)] for x in w["rss"]] for w in workers],
            "wall_s": time.perf_counter() - t0,
        }
        log(
            f"W9 {peer:17} {total} reads {total / seconds:.1f} clips/s, RSS growth "
            + ", ".join(f"{g * 100:+.1f} %" for g in growth)
        )


# --- append and export ------------------------------------------------------------------


def run_append(cfg: Config, specs: list[VideoSpec]) -> None:
    out = cfg.results.setdefault("append", {})
    tmp = CACHE / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    reps = 2 if cfg.quick else 3
    for spec in specs:
        hub, base = [], []
        for _ in range(reps):
            ds = hubcli.empty(tmp / "append", overwrite=True)
            ds.create_tensor("videos", htype="video", sample_compression=spec.container)
            t0 = time.perf_counter()
            ds.videos.append(str(spec.path))
            hub.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            shutil.copyfile(spec.path, tmp / "copy")
            with av.open(str(spec.path)) as c:
                stream = c.streams.video[0]
                for packet in c.demux(stream):
                    _ = packet.pts, packet.dts, packet.size, packet.is_keyframe
            base.append(time.perf_counter() - t0)
        size = spec.path.stat().st_size
        h, b = statistics.median(hub), statistics.median(base)
        out[spec.name] = {
            "bytes": size,
            "hubcli_s": h,
            "baseline_s": b,
            "hubcli_mb_s": size / h / 1e6,
            "baseline_mb_s": size / b / 1e6,
            "ratio": h / b,
        }
        log(
            f"append {spec.name:11} hubcli {size / h / 1e6:.0f} MB/s, "
            f"copy+demux {size / b / 1e6:.0f}"
        )
    shutil.rmtree(tmp / "append", ignore_errors=True)
    (tmp / "copy").unlink(missing_ok=True)


def run_export(cfg: Config, specs: list[VideoSpec], info: dict[str, Any]) -> None:
    """``export_sample`` of the whole 360p clip and the first 600 frames of the 720p
    one, against a full PyAV decode of the same frames (both at FFmpeg's automatic
    thread count)."""
    out = cfg.results.setdefault("export", {})
    tmp = CACHE / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        if spec.name not in ("h264_360p", "h264_720p"):
            continue
        count = min(info[spec.name]["oracle"]["frames"], 600 if spec.height >= 720 else 10**9)
        set_hubcli_threads(0)
        ds = hubcli.load(info[spec.name]["dataset"], read_only=True)
        target = tmp / "export.npy"
        t0 = time.perf_counter()
        export_sample(ds.videos[0, 0:count], target)
        hub = time.perf_counter() - t0
        target.unlink()
        t0 = time.perf_counter()
        with av.open(str(spec.path)) as c:
            stream = c.streams.video[0]
            stream.thread_type = "AUTO"
            for k, frame in enumerate(c.decode(stream)):
                frame.to_ndarray(format="rgb24")
                if k + 1 >= count:
                    break
        base = time.perf_counter() - t0
        out[spec.name] = {
            "frames": count,
            "hubcli_fps": count / hub,
            "pyav_decode_fps": count / base,
            "ratio": base / hub,
            "hubcli_mb_s": count * spec.width * spec.height * 3 / hub / 1e6,
        }
        log(
            f"export {spec.name:11} {count} frames: hubcli {count / hub:.0f} fps, "
            f"PyAV {count / base:.0f}"
        )


# --- the report -------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(ram / 2**30, 1),
        "os": platform.platform(),
    }


def versions(runner: Runner) -> dict[str, Any]:
    out = {
        "python": platform.python_version(),
        "hubcli": hubcli.__version__,
        "av": av.__version__,
        "av_ffmpeg": getattr(av, "ffmpeg_version_info", "?"),
        "numpy": np.__version__,
    }
    if runner.use_venv:
        peer = runner({"op": "versions", "venv": True})
        out.update({f"peer_{k}" if k == "python" else k: v for k, v in peer.items()})
    git = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "hubcli"], capture_output=True, text=True, cwd=ROOT
    )
    out["hubcli_commit"] = git.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    return out


LOG_FILE: list[Any] = []


def log(message: str) -> None:
    """Progress to stderr, and to bench-cache/last-run.log."""
    print(message, file=sys.stderr, flush=True)
    if LOG_FILE:
        LOG_FILE[0].write(f"{time.strftime('%H:%M:%S')} {message}\n")
        LOG_FILE[0].flush()


# --- targets and the report ------------------------------------------------------------

PEER_LABELS = {
    "hubcli": "hubcli",
    "pyav-seek": "PyAV seek",
    "pyav-seq": "PyAV seq",
    "torchcodec-exact": "TC exact",
    "torchcodec-approx": "TC approx",
    "decord": "decord",
}


def _ms(cell: dict[str, Any], peer: str) -> float | None:
    value = cell.get("peers", {}).get(peer, {}).get("median_ms")
    return float(value) if value is not None else None


def _target(
    rows: list[dict[str, Any]],
    name: str,
    file: str,
    workload: str,
    value: float | None,
    limit: float,
    higher_is_better: bool = False,
    unit: str = "x",
) -> None:
    passed = None
    if value is not None:
        passed = value >= limit if higher_is_better else value <= limit
    rows.append(
        {
            "target": name,
            "file": file,
            "workload": workload,
            "value": value,
            "limit": f"{'>=' if higher_is_better else '<='} {limit:g}{unit}",
            "pass": passed,
        }
    )


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each of the issue's targets, per file and workload: value, limit, pass/fail
    (``None``: not measured, e.g. a peer failed)."""
    rows: list[dict[str, Any]] = []
    for file, cells in report.get("local", {}).items():
        for w in RANDOM_ACCESS:
            cell = cells.get(f"t1/{w}")
            if cell is None:
                continue
            hub, tc = _ms(cell, "hubcli"), _ms(cell, "torchcodec-exact")
            ratio = hub / tc if hub is not None and tc else None
            _target(rows, "W1-W4: time / TorchCodec exact, 1 thread", file, w, ratio, 1.0)
            lb = cell["peers"].get("hubcli", {}).get("ratio_lower_bound")
            _target(rows, "W1-W4: time / lower bound, 1 thread", file, w, lb, 1.3)
        for w in ("W5a", "W5b"):
            cell = cells.get(f"auto/{w}")
            if cell is None:
                continue
            hub, seq = _ms(cell, "hubcli"), _ms(cell, "pyav-seq")
            ratio = seq / hub if hub and seq else None
            _target(rows, "W5: throughput / PyAV threaded sequential", file, w, ratio, 0.95, True)
        for w in RANDOM_ACCESS:
            cell = cells.get(f"t2/{w}")
            if cell is None:
                continue
            hub, tc = _ms(cell, "hubcli"), _ms(cell, "torchcodec-exact")
            ratio = tc / hub if hub and tc else None
            _target(
                rows,
                "W6: throughput / TorchCodec exact, 2 threads",
                file,
                "W6-" + w,
                ratio,
                0.9,
                True,
            )
    for file, remote in report.get("remote", {}).items():
        for w, cell in remote["workloads"].items():
            hub = cell["peers"].get("hubcli", {})
            reads = hub.get("reads", [])
            if not reads:
                continue
            ratios = [
                r["video_bytes"] / lb
                for r, lb in zip(reads, cell["lower_bound_bytes"], strict=False)
            ]
            _target(rows, "W7: video bytes / packet lower bound", file, w, max(ratios), 1.05)
            extra = [r["video_gets"] - runs for r, runs in zip(reads, cell["runs"], strict=False)]
            _target(
                rows, "W7: video GETs beyond one per keyframe run", file, w, max(extra), 0, unit=""
            )
            whole = any(r["whole_object"] for r in reads) or hub["open"]["whole_object"]
            _target(rows, "W7: whole object never fetched", file, w, float(whole), 0, unit="")
    for file, peers in report.get("accuracy", {}).items():
        hub = peers.get("hubcli", {})
        _target(
            rows,
            "W8: share of probe frames bit-exact",
            file,
            "W8",
            hub.get("bit_exact"),
            1.0,
            True,
            "",
        )
    for file, cells in report.get("local", {}).items():
        good = total = 0
        for cell in cells.values():
            entry = cell["peers"].get("hubcli", {})
            good += entry.get("exact_frames", 0)
            total += entry.get("checked_frames", 0)
        if total:
            _target(
                rows,
                "W8: share of timed frames bit-exact",
                file,
                "W0-W6",
                good / total,
                1.0,
                True,
                "",
            )
    loop = report.get("loop", {}).get("hubcli")
    if loop and "rss_growth" in loop:
        _target(
            rows, "W9: RSS growth after warm-up", "w9", "W9", max(loop["rss_growth"]), 0.10, unit=""
        )
    return rows


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _exact(cell: dict[str, Any], peer: str) -> bool:
    """Whether every frame ``peer`` returned in this cell equals a full PyAV decode."""
    entry = cell.get("peers", {}).get(peer, {})
    return bool(entry) and entry.get("exact_frames", 0) == entry.get("checked_frames", 0)


def _cell_table(cells: dict[str, Any], setting: str, workloads: tuple[str, ...]) -> list[str]:
    peers = [
        p
        for p in ALL_PEERS
        if any(p in cells.get(f"{setting}/{w}", {}).get("peers", {}) for w in workloads)
    ]
    if not peers:
        return []
    head = ["workload", *[PEER_LABELS[p] for p in peers], "lower bound"]
    head += ["hubcli / best exact peer", "hubcli / TC exact", "hubcli / LB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for w in workloads:
        cell = cells.get(f"{setting}/{w}")
        if cell is None:
            continue
        row = [LABELS[w]]
        for p in peers:
            entry = cell["peers"].get(p)
            if entry is None:
                row.append("")
            elif "error" in entry:
                row.append("error")
            else:
                mark = (
                    ""
                    if len(entry["times_ms"]) >= 3 or w == "W5b"
                    else f" ({len(entry['times_ms'])})"
                )
                inexact = entry.get("exact_frames", 0) < entry.get("checked_frames", 0)
                row.append(_fmt(entry["median_ms"]) + mark + (" *" if inexact else ""))
        lb = median(cell.get("lower_bound_ms", [])) if w != "W0" else None
        row.append(_fmt(lb))
        hub = _ms(cell, "hubcli")
        others = [
            m
            for p in peers
            if p != "hubcli" and _exact(cell, p) and (m := _ms(cell, p)) is not None
        ]
        best = min(others) if others else None
        tc = _ms(cell, "torchcodec-exact")
        row.append(f"{hub / best:.2f}x" if hub and best else "-")
        row.append(f"{hub / tc:.2f}x" if hub and tc else "-")
        ratio = cell["peers"].get("hubcli", {}).get("ratio_lower_bound")
        row.append(f"{ratio:.2f}x" if ratio and w != "W0" else "-")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def write_report(report: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(_finite(report), indent=1) + "\n")
    meta = report["meta"]
    m, v = meta["machine"], meta["versions"]
    md = [
        "# hubcli benchmarks",
        "",
        f"Written by `{meta['command'].strip()}` ({meta['mode']} mode, "
        f"{meta['seconds'] / 60:.0f} min) "
        f"on {meta['date']}. Every number is in [benchmarks.json](benchmarks.json); the "
        "method is in `scripts/bench.py`'s docstring and at the end of this page.",
        "",
        "## Machine and versions",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['cpu']}, {m['cores']} cores |",
        f"| RAM | {m['ram_gib']} GiB |",
        f"| OS | {m['os']} |",
        f"| Python | {v['python']} (peers: {v.get('peer_python', '-')}) |",
        f"| hubcli | {v['hubcli']} ({v['hubcli_commit']}) |",
        f"| PyAV / its FFmpeg | {v['av']} / {v['av_ffmpeg']} |",
        f"| torch | {v.get('torch', '-')} |",
        f"| TorchCodec / its FFmpeg | {v.get('torchcodec', '-')} / "
        f"{v.get('torchcodec_ffmpeg', '-')} |",
        f"| decord (decord2) | {v.get('decord', '-')} |",
        f"| numpy | {v['numpy']} |",
        "",
        "## Videos",
        "",
        "| name | video | MB | frames | keyframes | decode ms/packet (1 thread) | RGB ms/frame |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, vid in meta["videos"].items():
        c = vid["costs"]
        md.append(
            f"| {name} | {vid['describe']} | {vid['bytes'] / 1e6:.1f} | {vid['frames']} | "
            f"{vid['keyframes']} | {c['decode_ms_per_packet']:.2f} | {c['rgb_ms_per_frame']:.2f} |"
        )
    rows = report.get("targets", [])
    passed = sum(r["pass"] is True for r in rows)
    failed = sum(r["pass"] is False for r in rows)
    md += [
        "",
        "## Targets",
        "",
        f"{passed} pass, {failed} fail, {len(rows) - passed - failed} not measured.",
        "",
        "| target | file | workload | value | limit | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        value = r["value"]
        text = (
            "-" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))
        )
        result = {True: "pass", False: "**FAIL**", None: "n/a"}[r["pass"]]
        md.append(
            f"| {r['target']} | {r['file']} | {r['workload']} | {text} | {r['limit']} | {result} |"
        )
    local = report.get("local", {})
    sections = [
        ("t1", WORKLOADS, "Local reads, 1 decoder thread each (equal settings)"),
        ("t2", RANDOM_ACCESS, "W6: 2 decoder threads each"),
        ("auto", WORKLOADS, "Each peer at its best: FFmpeg's automatic thread count (0)"),
    ]
    for setting, workloads, title in sections:
        if not any(f"{setting}/{w}" in cells for cells in local.values() for w in workloads):
            continue
        md += [
            "",
            f"## {title}",
            "",
            "Median ms per call (fewer runs in parentheses). `*`: some frames differ from a",
            "full PyAV decode (a wrong frame, or another colour conversion: decord's frames",
            "never match bit for bit; W8 tells which). The best peer is the fastest whose",
            "frames all match.",
        ]
        for file, cells in local.items():
            table = _cell_table(cells, setting, workloads)
            if table:
                md += ["", f"### {file}", "", *table]
    md += _remote_md(report.get("remote", {}))
    md += _accuracy_md(report.get("accuracy", {}), local)
    md += _loop_md(report.get("loop", {}))
    md += _throughput_md(report.get("append", {}), report.get("export", {}))
    md += ["", "## Method", "", *METHOD]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")


METHOD = [
    "- Videos are synthetic (moving gradients, a scrolling noise texture, per-frame grain,",
    "  moving boxes), encoded once with PyAV and cached in `bench-cache/` under their",
    "  parameters. The 720p and 360p clips are 60 s; 1080p is 30 s and HEVC/VP9 20 s to",
    "  keep a full run short.",
    "- Every reader gets the same calls (fixed seeds), on the same files, in the same run;",
    "  the peers of one cell run back to back. One untimed warm-up call, then each run",
    "  timed with `time.perf_counter`; the source stays open across runs (W0 times the",
    "  opening). A cell stops after its time budget once 3 runs are done (1 for PyAV",
    "  sequential in W1-W4 and for the whole video).",
    "- hubcli reads a local dataset holding the file; the others read the file itself.",
    "  hubcli's thread count is set through `hubcli.video.decode` (checked on a decoder it",
    "  opens).",
    "- PyAV seek = Hub's reader: `container.seek(pts, backward=True, stream=s)`, pts from",
    "  the frame number and the average rate, then decode to the frame; a slice seeks once.",
    "  PyAV seq decodes from the start of the file to the last wanted frame.",
    "- Lower bound = packets from each needed keyframe to the last wanted frame (hubcli's",
    "  run plan, overlaps merged) x single-thread decode ms per packet (all packets of the",
    "  file, decode only) + wanted frames x RGB ms per frame (both measured with PyAV;",
    "  the RGB cost with one swscale context kept across pictures, 1 thread).",
    "- W7: moto S3 behind a streaming proxy that counts response body bytes and requests.",
    "  hubcli reads `s3://` datasets; TorchCodec and PyAV read the mp4 over HTTP (FFmpeg's",
    "  http protocol; a client that hangs up is charged for what was sent). Open = opening",
    "  the source (hubcli: load + shape); each read is timed and counted alone.",
    "- W8: each probe frame (random frames, first/last, and frames around keyframes) is",
    "  read in its own call (PyAV seq: one call) and compared with a full PyAV decode:",
    "  bit-exact = same RGB bytes; right frame = mean absolute difference < 2.0 and",
    "  smaller than to the oracle's frames k-1 and k+1 (TorchCodec and decord use other",
    "  FFmpeg builds and colour conversion code, so they are rarely bit-exact).",
    "- W9: 2 spawned worker processes, each with its own reader, 1 decoder thread,",
    "  random 16-frame clips of random samples; RSS sampled during the loop; growth =",
    "  largest RSS after the first 10 % of reads / RSS then - 1.",
]


def _remote_md(remote: dict[str, Any]) -> list[str]:
    if not remote:
        return []
    md = [
        "",
        "## W7: remote reads (moto S3 through a counting proxy)",
        "",
        "Open: requests and MB to open the source. Per read: medians over the runs; video",
        "GETs/MB are those of the video object (hubcli: its chunk; the others: the mp4).",
        "LB = packet lower bound (bytes of the packets of the runs); runs = keyframe runs.",
        "",
        "| file | workload | reader | open req | open MB | read req | video GETs | runs | "
        "read MB | video MB | LB MB | video / LB | ms (first) | ms (median) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for file, res in remote.items():
        for w, cell in res["workloads"].items():
            lb = median(cell["lower_bound_bytes"]) or 0
            runs = median(cell["runs"])
            for peer, entry in cell["peers"].items():
                if "error" in entry or not entry.get("reads"):
                    md.append(
                        f"| {file} | {w} | {PEER_LABELS[peer]} | "
                        f"error: {entry.get('error', '')[:80]} |"
                    )
                    continue
                reads = entry["reads"]
                vb = median([r["video_bytes"] for r in reads]) or 0
                md.append(
                    f"| {file} | {w} | {PEER_LABELS[peer]} | {entry['open']['requests']} | "
                    f"{entry['open']['bytes'] / 1e6:.2f} | "
                    f"{median([r['requests'] for r in reads]):g} | "
                    f"{median([r['video_gets'] for r in reads]):g} | {runs:g} | "
                    f"{(median([r['bytes'] for r in reads]) or 0) / 1e6:.2f} | {vb / 1e6:.2f} | "
                    f"{lb / 1e6:.2f} | {vb / lb if lb else 0:.2f}x | {reads[0]['ms']:.0f} | "
                    f"{median([r['ms'] for r in reads]):.0f} |"
                )
    return md


def _accuracy_md(acc: dict[str, Any], local: dict[str, Any]) -> list[str]:
    if not acc and not local:
        return []
    md = [
        "",
        "## W8: accuracy against a full PyAV decode",
        "",
        "Probes: bit-exact share / right-frame share. Timed: bit-exact share of every frame",
        "returned in W1-W6 (hashes).",
        "",
        "| file | " + " | ".join(PEER_LABELS[p] for p in ALL_PEERS) + " |",
        "|---|" + "---|" * len(ALL_PEERS),
    ]
    for file in sorted(set(acc) | set(local), key=[v.name for v in VIDEOS].index):
        probes, timed = [], []
        for p in ALL_PEERS:
            e = acc.get(file, {}).get(p)
            if e is None:
                probes.append("")
            elif "error" in e:
                probes.append("error")
            else:
                probes.append(f"{e['bit_exact'] * 100:.0f} % / {e['right_frame'] * 100:.0f} %")
            good = total = 0
            for cell in local.get(file, {}).values():
                entry = cell["peers"].get(p, {})
                good += entry.get("exact_frames", 0)
                total += entry.get("checked_frames", 0)
            timed.append(f"{good / total * 100:.1f} % of {total}" if total else "")
        md.append(f"| {file} (probes) | " + " | ".join(probes) + " |")
        md.append(f"| {file} (timed) | " + " | ".join(timed) + " |")
    return md


def _loop_md(loop: dict[str, Any]) -> list[str]:
    if not loop:
        return []
    md = [
        "",
        f"## W9: training loop ({loop['videos']} samples of {loop['video']}, "
        f"{loop['clip']}-frame clips, 2 worker processes, 1 decoder thread each)",
        "",
        "| reader | reads | clips/s | RSS after warm-up (MB) | RSS at end (MB) | growth |",
        "|---|---|---|---|---|---|",
    ]
    for peer in ALL_PEERS:
        e = loop.get(peer)
        if not isinstance(e, dict):
            continue
        if "error" in e:
            md.append(f"| {PEER_LABELS[peer]} | error: {e['error'][:80]} | | | | |")
            continue
        md.append(
            f"| {PEER_LABELS[peer]} | {e['reads']} | {e['clips_per_s']:.1f} | "
            + ", ".join(f"{x:.0f}" for x in e["rss_warm_mb"])
            + " | "
            + ", ".join(f"{x:.0f}" for x in e["rss_end_mb"])
            + " | "
            + ", ".join(f"{g * 100:+.1f} %" for g in e["rss_growth"])
            + " |"
        )
    return md


def _throughput_md(append: dict[str, Any], export: dict[str, Any]) -> list[str]:
    md: list[str] = []
    if append:
        md += [
            "",
            "## Append (local dataset) vs copying the file plus one PyAV demux pass",
            "",
            "| file | MB | hubcli MB/s | copy + demux MB/s | time ratio |",
            "|---|---|---|---|---|",
        ]
        md += [
            f"| {f} | {a['bytes'] / 1e6:.1f} | {a['hubcli_mb_s']:.0f} | {a['baseline_mb_s']:.0f} "
            f"| {a['ratio']:.2f}x |"
            for f, a in append.items()
        ]
    if export:
        md += [
            "",
            "## Export (`export_sample` to .npy) vs a PyAV decode of the same frames",
            "",
            "| file | frames | hubcli frames/s | hubcli MB/s written | PyAV decode frames/s | "
            "throughput ratio |",
            "|---|---|---|---|---|---|",
        ]
        md += [
            f"| {f} | {e['frames']} | {e['hubcli_fps']:.0f} | {e['hubcli_mb_s']:.0f} | "
            f"{e['pyav_decode_fps']:.0f} | {e['ratio']:.2f}x |"
            for f, e in export.items()
        ]
    return md


def _finite(obj: Any) -> Any:
    """JSON without NaN/Infinity (they become null)."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.integer | np.floating):
        return _finite(obj.item())
    return obj


def main() -> None:
    # In this kind of VM, memory the process frees goes back to the host within seconds
    # and its next first touch costs ~10x a page fault, at random: a whole video (5 GB)
    # then takes 5-12 s longer for one reader than for the next. So the timed processes
    # keep what they free (glibc tunables, set before Python starts: re-exec), and each
    # reader faults in the memory of its largest output before its timed runs (and
    # gives it back after a large one).
    if bench_peers.MALLOC_TUNABLES not in os.environ.get("GLIBC_TUNABLES", ""):
        env = {**os.environ, "GLIBC_TUNABLES": bench_peers.MALLOC_TUNABLES}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few runs, 500 W9 reads")
    parser.add_argument("--files", default="", help="comma-separated video names (default all)")
    parser.add_argument(
        "--workloads",
        default="",
        help="comma-separated subset of W0..W9,append,export (default all)",
    )
    parser.add_argument("--no-peers", action="store_true", help="skip TorchCodec and decord")
    parser.add_argument("--output", default="docs/benchmarks", help="writes OUTPUT.md/.json")
    args = parser.parse_args()
    every = {*WORKLOADS, "W6", "W7", "W8", "W9", "append", "export"}
    chosen = set(args.workloads.split(",")) if args.workloads else every
    if "W5" in chosen:  # both halves
        chosen = (chosen - {"W5"}) | {"W5a", "W5b"}
    if chosen - every:
        parser.error(f"unknown workloads {sorted(chosen - every)}")
    cfg = Config(
        quick=args.quick,
        runs=2 if args.quick else 5,
        runs_whole=1 if args.quick else 2,
        max_seconds=3 if args.quick else 12,
        probes=8 if args.quick else None,
        cost_passes=1 if args.quick else 2,
        w7_runs=2 if args.quick else 3,
        w9_reads=500 if args.quick else 10_000,
        w9_peer_reads=200 if args.quick else 1_000,
        files=args.files.split(",") if args.files else [v.name for v in VIDEOS],
        workloads=chosen,
        out=ROOT / args.output,
    )
    specs = [v for v in VIDEOS if v.name in cfg.files]
    use_venv = not args.no_peers and PEER_PYTHON.exists()
    if not use_venv and not args.no_peers:
        log(f"{PEER_PYTHON} is missing: TorchCodec and decord are skipped (run scripts/bench.sh)")
    started = time.perf_counter()
    CACHE.mkdir(parents=True, exist_ok=True)
    LOG_FILE.append(open(CACHE / "last-run.log", "w"))  # noqa: SIM115 - closed at exit
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    load_start = os.getloadavg()
    runner = Runner(use_venv)
    try:
        info = prepare(cfg, specs)
        if cfg.workloads & {*WORKLOADS, "W6"}:
            run_local(cfg, runner, specs, info)
        if "W8" in cfg.workloads:
            run_accuracy(cfg, runner, specs, info)
        if "W7" in cfg.workloads:
            run_remote(cfg, runner, specs, info)
        if "W9" in cfg.workloads:
            run_loop(cfg, runner, next(v for v in VIDEOS if v.name == "h264_360p"))
        if "append" in cfg.workloads:
            run_append(cfg, specs)
        if "export" in cfg.workloads:
            run_export(cfg, specs, info)
        meta = {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "mode": "quick" if cfg.quick else "full",
            "load_average": {"start": load_start, "end": os.getloadavg()},
            "command": "./scripts/bench.sh " + " ".join(sys.argv[1:]),
            "seconds": round(time.perf_counter() - started),
            "machine": machine(),
            "versions": versions(runner),
            "videos": {
                s.name: {
                    **asdict(s),
                    "describe": s.describe(),
                    "bytes": s.path.stat().st_size,
                    "frames": info[s.name]["oracle"]["frames"],
                    "keyframes": len(info[s.name]["oracle"]["keyframes"]),
                    "costs": info[s.name]["costs"],
                    "hubcli_threads_checked": info[s.name]["threads_checked"],
                }
                for s in specs
            },
            "config": {
                "runs": cfg.runs,
                "probes": cfg.probes,
                "runs_whole_video": cfg.runs_whole,
                "max_seconds_per_cell": cfg.max_seconds,
                "w7_runs": cfg.w7_runs,
                "w9_reads": cfg.w9_reads,
                "w9_peer_reads": cfg.w9_peer_reads,
            },
        }
    finally:
        runner.close()
    report = {"meta": meta, **cfg.results}
    report["targets"] = targets(report)
    write_report(report, cfg.out)
    log(f"wrote {cfg.out}.md and {cfg.out}.json in {time.perf_counter() - started:.0f} s")


def prepare(cfg: Config, specs: list[VideoSpec]) -> dict[str, Any]:
    """Encode (or find) the videos, decode them with the oracle, measure the decode cost,
    and store each in its own local hubcli dataset."""
    info: dict[str, Any] = {}
    for spec in specs:
        make_video(spec)
        orc = oracle(spec)
        costs = decode_costs(spec.path, cfg.cost_passes)
        ds_path = CACHE / "datasets" / spec.name
        ds = hubcli.empty(ds_path, overwrite=True)
        ds.create_tensor("videos", htype="video", sample_compression=spec.container)
        ds.videos.append(str(spec.path))
        table = ds.videos.reader().frame_table(0)
        if table.frame_count != orc["frames"]:
            log(f"{spec.name}: hubcli has {table.frame_count} frames, the oracle {orc['frames']}")
        checked = {}
        for threads in (1, 2, 0):
            set_hubcli_threads(threads)
            checked[threads] = hubcli_threads_in_effect(ds)
        set_hubcli_threads(0)
        info[spec.name] = {
            "oracle": orc,
            "oracle_frames": CACHE / "oracle" / f"{spec.key}_av{av.__version__}.npy",
            "costs": costs,
            "dataset": str(ds_path),
            "table": table,
            "threads_checked": checked,
        }
        log(
            f"{spec.name}: {orc['frames']} frames, {len(orc['keyframes'])} keyframes, "
            f"decode {costs['decode_ms_per_packet']:.2f} ms/packet, "
            f"RGB {costs['rgb_ms_per_frame']:.2f} ms/frame"
        )
    return info


if __name__ == "__main__":
    main()
