"""W9: training on it (issue 18). A torch DataLoader, 2 spawned workers, batch 8, shuffled
16-frame clips of random samples of a dataset (the 360p clip appended 8 times):

* at full size: hubcli's ``ClipDataset`` against TorchCodec exact mode and decord2, each
  in a map-style dataset calling its sampler (1 FFmpeg thread per worker); clips/s,
  RSS per worker, and hubcli's frames hashed against a full decode;
* at ``SIZE``: hubcli's ``size=`` against TorchCodec's ``Resize`` decoder transform
  (and decord resizing while decoding); the fused resize's cost against converting at
  full size then resizing, on the same pictures; hubcli's frames against TorchCodec's;
* on the moto S3 server through the counting proxy: bytes against the packet lower
  bound of the clips read (TorchCodec reads the mp4 over HTTP);
* consecutive reads (first 100 frames, a 16-frame clip, the whole video) by hubcli and
  TorchCodec exact at each thread count, on H.264, HEVC and VP9, quiet and with the
  2-worker loader running in the background.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks import hubcli_peer
from benchmarks.oracle import lower_bound
from benchmarks.prepare import prepare
from benchmarks.results import (
    Agreement,
    Consecutive,
    Failed,
    LoopPeer,
    LoopResult,
    Peer,
    ResizeCost,
    S3Loop,
)
from benchmarks.videos import CACHE, SEED, VIDEOS, video_named
from benchmarks.workloads.remote import BUCKET, Source, traffic
from testkit.env import patched_env, s3_env
from testkit.frames import frame_hash
from testkit.proxy import Proxy
from testkit.s3 import MotoS3

if TYPE_CHECKING:
    from benchmarks.peers_venv import Call, Request
    from benchmarks.prepare import Bench, Prepared

SAMPLES = 8
CLIP = 16
WORKERS = 2
BATCH = 8
SIZE = (224, 224)
#: Warm-up: the first 10 % of the batches (and those the accuracy check hashed).
WARM_SHARE = 10
#: Batches the workers may have ready while the main process hashes (2 per worker).
PREFETCHED = 2 * WORKERS
#: Clips whose resized frames are compared with TorchCodec's.
AGREEMENT_CLIPS = 4
#: Consecutive reads: these videos; the whole video (not in a quick run) on all but the
#: 60 s 720p one (5 GB of RGB per read); TorchCodec at 1 thread and at FFmpeg's
#: automatic count.
CONSECUTIVE_FILES = ("h264_720p", "h264_360p", "hevc_720p", "vp9_720p")
NO_WHOLE = frozenset({"h264_720p"})
TC_THREADS = (1, 0)


def run(bench: Bench, video_name: str) -> LoopResult:
    load_start = os.getloadavg()[0]
    prepared = _prepared(bench, video_name)
    video = prepared.video
    ds_path = CACHE / "datasets" / "w9"
    hubcli_peer.dataset_of(ds_path, video.path, video.container, copies=SAMPLES)
    result = LoopResult(video.name, SAMPLES, CLIP, batch=BATCH, workers=WORKERS, size=list(SIZE))
    sources = [str(video.path)] * SAMPLES
    result.peers = _loops(bench, prepared, str(ds_path), sources, None)
    check = _Keep(AGREEMENT_CLIPS)
    result.resized = _loops(bench, prepared, str(ds_path), sources, SIZE, check)
    result.agreement = _agreement(bench, prepared, check)
    frames = 32 if bench.cfg.quick else 96
    costs = hubcli_peer.resize_costs(video.path, frames, SIZE, 3)
    result.resize_cost = ResizeCost(frames, *costs)
    bench.log(
        f"W9 resize {SIZE}: fused {costs[0]:.2f} ms/frame, full {costs[1]:.2f}, "
        f"full then interpolate {costs[2]:.2f} ({result.resize_cost.ratio:.2f}x)"
    )
    result.s3 = _s3(bench, prepared)
    result.consecutive = _consecutive(bench, str(ds_path))
    result.load_average = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    return result


def _prepared(bench: Bench, name: str) -> Prepared:
    found = [p for p in bench.videos if p.video.name == name]
    if found:
        return found[0]
    return prepare(video_named(name), bench.cfg.settings.cost_passes, bench.log)


def _request(bench: Bench, peer: Peer, sources: list[str], size: Any, clips: int) -> Request:
    return {
        "op": "loader",
        "peer": peer.value,
        "threads": 1,
        "workers": WORKERS,
        "batch": BATCH,
        "sources": sources,
        "clips": clips,
        "seed": SEED + 9,
        "clip": CLIP,
        "size": None if size is None else list(size),
    }


def _loops(
    bench: Bench,
    prepared: Prepared,
    ds_path: str,
    sources: list[str],
    size: tuple[int, int] | None,
    keep: _Keep | None = None,
) -> dict[Peer, LoopPeer | Failed]:
    """hubcli, TorchCodec exact and decord (a 25th of the clips: it is slow) in the same
    loop, at full size (hubcli's frames hashed) or at ``size``."""
    clips = bench.cfg.w9_clips
    out: dict[Peer, LoopPeer | Failed] = {}
    check = _Exact(prepared.oracle.hashes, _check_batches(bench)) if size is None else None
    req = _request(bench, Peer.HUBCLI, [], size, clips)
    reply = _guarded(lambda: hubcli_peer.hubcli_loader(ds_path, req, check or keep))
    out[Peer.HUBCLI] = _entry(bench, Peer.HUBCLI, size, reply, check)
    # decord (~1 s and ~3 GB per clip per worker at full size) reads a few batches only.
    decord = max(10 * BATCH, clips // 25)
    for peer, count in ((Peer.TC_EXACT, clips), (Peer.DECORD, decord)):
        out[peer] = _entry(bench, peer, size, _venv_loader(bench, peer, sources, size, count), None)
    return out


def _venv_loader(
    bench: Bench, peer: Peer, sources: list[str], size: Any, clips: int
) -> dict[str, Any]:
    """A peer's loader run in the peers' process: its rows, or an error."""
    reply = bench.runner(_request(bench, peer, sources, size, clips))
    if "error" in reply:
        return {"error": reply["error"]}
    return reply["loader"]


def _check_batches(bench: Bench) -> int:
    return max(1, bench.cfg.w9_check_clips // BATCH)


def _entry(
    bench: Bench, peer: Peer, size: Any, reply: dict[str, Any], check: _Exact | None
) -> LoopPeer | Failed:
    label = f"W9 {'full' if size is None else 'x'.join(map(str, size)):9} {peer:17}"
    if "error" in reply:
        bench.log(f"{label} ERROR {reply['error']}")
        return Failed(str(reply["error"]))
    hashed = 0 if check is None else check.batches
    entry = summarize(reply["rows"], reply["batch"], reply["seconds"], hashed)
    if check is not None:
        entry.exact_frames, entry.checked_frames = check.exact, check.checked
    growth = ", ".join(f"{g * 100:+.1f} %" for g in entry.rss_growth)
    rss = ", ".join(f"{x:.0f}" for x in entry.rss_end_mb)
    bench.log(
        f"{label} {entry.reads} clips {entry.clips_per_s:.1f} clips/s, RSS {rss} MB ({growth})"
    )
    return entry


def summarize(rows: list[list[float]], batch: int, wall_s: float, hashed: int) -> LoopPeer:
    """A loader's batches ([n, seconds, worker, its reads, RSS, RSS before its first
    read, its CPU seconds]) as throughput after the warm-up, RSS and CPU per worker."""
    warm = min(max(len(rows) // WARM_SHARE, hashed + PREFETCHED), len(rows) - 2)
    warm = max(warm, 0)
    seconds = rows[-1][1] - rows[warm][1]
    per_worker: dict[int, list[list[float]]] = defaultdict(list)
    for row in rows:
        per_worker[int(row[2])].append(row)
    start, warm_mb, end_mb, growth, series, cpu = [], [], [], [], [], []
    for worker in sorted(per_worker):
        own = per_worker[worker]
        after = [r for r in own if r[0] > warm + 1] or own[-1:]
        start.append(own[0][5] / 2**20)
        warm_mb.append(after[0][4] / 2**20)
        end_mb.append(own[-1][4] / 2**20)
        growth.append(max(r[4] for r in after) / after[0][4] - 1)
        clips = own[-1][3] - after[0][3]
        cpu.append((own[-1][6] - after[0][6]) * 1e3 / clips if clips else 0.0)
        step = max(1, len(own) // 100)
        series.append([[r[3], round(r[4] / 2**20, 1)] for r in own[::step]])
    return LoopPeer(
        reads=len(rows) * batch,
        clips_per_s=(len(rows) - 1 - warm) * batch / seconds if seconds > 0 else 0.0,
        rss_warm_mb=warm_mb,
        rss_end_mb=end_mb,
        rss_growth=growth,
        rss_series=series,
        wall_s=wall_s,
        rss_start_mb=start,
        cpu_ms_per_clip=cpu,
    )


class _Exact:
    """Hashes every frame of the first ``batches`` batches against the oracle's (a full
    PyAV decode); the timed throughput starts after them."""

    def __init__(self, hashes: list[str], batches: int) -> None:
        self.hashes, self.batches = hashes, batches
        self.exact = self.checked = 0

    def __call__(self, n: int, batch: dict[str, Any]) -> None:
        if n >= self.batches:
            return
        frames, indices = batch["frames"], batch["frame_indices"].tolist()
        for b, clip in enumerate(indices):
            for t, k in enumerate(clip):
                got = frame_hash(frames[b, t].permute(1, 2, 0).numpy())
                self.exact += got == self.hashes[k]
                self.checked += 1


class _Keep:
    """Keeps the first ``clips`` clips' frames (HWC) and frame numbers."""

    def __init__(self, clips: int) -> None:
        self.clips = clips
        self.kept: list[tuple[list[int], np.ndarray]] = []

    def __call__(self, n: int, batch: dict[str, Any]) -> None:
        for b in range(len(batch["frames"])):
            if len(self.kept) >= self.clips:
                return
            frames = batch["frames"][b].permute(0, 2, 3, 1).contiguous().numpy()
            self.kept.append((batch["frame_indices"][b].tolist(), frames))


def _agreement(bench: Bench, prepared: Prepared, keep: _Keep) -> Agreement | None:
    """hubcli's resized frames against TorchCodec's ``Resize`` of the same frames."""
    diffs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, (frames, ours) in enumerate(keep.kept):
            out = Path(tmp) / f"{n}.npy"
            reply = bench.runner(
                {
                    "op": "tc_frames",
                    "venv": True,
                    "source": str(prepared.video.path),
                    "frames": frames,
                    "size": list(SIZE),
                    "out": str(out),
                }
            )
            if "error" in reply:
                bench.log(f"W9 agreement ERROR {reply['error']}")
                return None
            theirs = np.load(out)
            diffs.append(np.abs(ours.astype(np.int16) - theirs.astype(np.int16)).ravel())
    if not diffs:
        return None
    d = np.concatenate(diffs)
    agreement = Agreement(
        frames=sum(len(f) for f, _ in keep.kept),
        values=int(d.size),
        within_1=float(np.count_nonzero(d <= 1) / d.size),
        mean_abs=float(d.mean()),
        max_abs=int(d.max()),
    )
    bench.log(
        f"W9 agreement {SIZE}: {agreement.within_1 * 100:.2f} % within +-1, "
        f"mean {agreement.mean_abs:.3f}, max {agreement.max_abs}"
    )
    return agreement


# --- S3 -----------------------------------------------------------------------------------


class _Clips:
    """Each batch's frames per sample (the batch's packet lower bound)."""

    def __init__(self) -> None:
        self.batches: list[dict[int, set[int]]] = []

    def __call__(self, n: int, batch: dict[str, Any]) -> None:
        wanted: dict[int, set[int]] = defaultdict(set)
        for sample, frames in zip(
            batch["index"].tolist(), batch["frame_indices"].tolist(), strict=True
        ):
            wanted[sample].update(frames)
        self.batches.append(wanted)


def _s3(bench: Bench, prepared: Prepared) -> dict[Peer, S3Loop | Failed]:
    """The loop on moto S3 through the counting proxy, a tenth of the clips."""
    video = prepared.video
    server = MotoS3()
    proxy = Proxy(server.url)
    out: dict[Peer, S3Loop | Failed] = {}
    try:
        with patched_env(s3_env(proxy.url, "bench", "bench")):
            import s3fs

            fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
            fs.mkdir(BUCKET)
            url = f"s3://{BUCKET}/w9"
            hubcli_peer.dataset_of(url, video.path, video.container, copies=SAMPLES)
            data = video.path.read_bytes()
            raw_key = f"raw/w9.{video.container}"
            fs.pipe_file(f"{BUCKET}/{raw_key}", data, ACL="public-read")
            proxy.take()
            clips = bench.cfg.w9_peer_clips
            seen = _Clips()
            req = _request(bench, Peer.HUBCLI, [], None, clips)
            reply = _guarded(lambda: hubcli_peer.hubcli_loader(url, req, seen))
            bound = sum(
                lower_bound(prepared.table, prepared.costs, {"frames": sorted(f)}).bytes
                for wanted in seen.batches
                for f in wanted.values()
            )
            source = Source(url, "/chunks/", len(data))
            out[Peer.HUBCLI] = _s3_entry(bench, Peer.HUBCLI, reply, proxy, source, bound)
            http = [f"{proxy.url}/{BUCKET}/{raw_key}"] * SAMPLES
            reply = _venv_loader(bench, Peer.TC_EXACT, http, None, clips)
            source = Source(http[0], raw_key, len(data))
            out[Peer.TC_EXACT] = _s3_entry(bench, Peer.TC_EXACT, reply, proxy, source, 0)
    finally:
        proxy.stop()
        server.stop()
    return out


def _s3_entry(
    bench: Bench, peer: Peer, reply: dict[str, Any], proxy: Proxy, source: Source, bound: int
) -> S3Loop | Failed:
    counted = traffic(proxy.take(), source)
    if "error" in reply:
        bench.log(f"W9 s3 {peer:17} ERROR {reply['error']}")
        return Failed(str(reply["error"]))
    entry = summarize(reply["rows"], reply["batch"], reply["seconds"], 0)
    result = S3Loop(
        reads=entry.reads,
        clips_per_s=entry.clips_per_s,
        requests=counted.requests,
        bytes=counted.bytes,
        video_bytes=counted.video_bytes,
        lower_bound_bytes=bound,
        whole_object=counted.whole_object,
    )
    bench.log(
        f"W9 s3 {peer:17} {entry.reads} clips {entry.clips_per_s:.1f} clips/s, "
        f"{counted.requests} requests, video {counted.video_bytes / 1e6:.1f} MB "
        f"(LB {bound / 1e6:.1f} MB), whole object: {counted.whole_object}"
    )
    return result


# --- consecutive reads --------------------------------------------------------------------


def _reads(p: Prepared, quick: bool) -> list[tuple[str, Call, int]]:
    n = p.oracle.frames
    start = int(np.random.default_rng(SEED + 18 + VIDEOS.index(p.video)).integers(0, n - CLIP))
    reads: list[tuple[str, Call, int]] = [
        ("first 100 frames", {"slice": [0, 100, 1]}, 100),
        (f"16-frame clip at {start}", {"slice": [start, start + CLIP, 1]}, CLIP),
    ]
    if p.video.name not in NO_WHOLE and not quick:  # a quick run reads no whole video
        reads.append(("whole video", {"slice": [0, n, 1]}, n))
    return reads


def _consecutive(bench: Bench, loader_ds: str) -> list[Consecutive]:
    """Each read by hubcli (its automatic threads) and TorchCodec exact at each of
    ``TC_THREADS``, in rounds of one read each; quiet, then with the loader running."""
    files = [p for p in bench.videos if p.video.name in CONSECUTIVE_FILES]
    runs = bench.cfg.settings.w9_consecutive_runs
    rows: list[Consecutive] = []
    for load in ("quiet", "loader"):
        background = (
            hubcli_peer.start_background_loader(loader_ds, WORKERS) if load == "loader" else None
        )
        try:
            for p in files:
                for read, call, frames in _reads(p, bench.cfg.quick):
                    row = Consecutive(p.video.name, read, frames, load, [], {})
                    rounds = min(runs, 2) if frames > 100 else runs  # a whole video: 2
                    for _ in range(rounds):
                        _round(bench, p, call, frames, row)
                    _log_row(bench, row)
                    rows.append(row)
        finally:
            if background is not None:
                hubcli_peer.stop_background_loader(background)
    return rows


def _round(bench: Bench, p: Prepared, call: Call, frames: int, row: Consecutive) -> None:
    took = _time(bench, Peer.HUBCLI, 0, p.dataset, call, frames, p)
    if took is not None:
        row.hubcli_ms.append(took[0])
        row.hubcli_cpu_ms.append(took[1])
    for threads in TC_THREADS:
        took = _time(bench, Peer.TC_EXACT, threads, str(p.video.path), call, frames, p)
        if took is not None:
            row.tc_ms.setdefault(threads, []).append(took[0])
            row.tc_cpu_ms.setdefault(threads, []).append(took[1])


def _time(
    bench: Bench, peer: Peer, threads: int, source: str, call: Call, frames: int, p: Prepared
) -> tuple[float, float] | None:
    """(wall ms, CPU ms) of one read."""
    req: Request = {
        "op": "frames",
        "peer": peer.value,
        "threads": threads,
        "source": source,
        "runs": [[call]],
        "warmup": {"frames": [0]},
        "min_runs": 1,
        "no_hash": True,
    }
    if frames > 100:  # fault the output's memory in before the timed read (see cli)
        req["prefault_bytes"] = int(frames * p.video.width * p.video.height * 3 * 1.1)
    reply = bench.runner(req)
    if "error" in reply:
        bench.log(f"W9 {p.video.name} {peer} t{threads} ERROR {reply['error']}")
        return None
    if frames > 100:
        bench.runner.trim(peer)
    return float(reply["times_ms"][0]), float(reply["cpu_ms"][0])


def _log_row(bench: Bench, row: Consecutive) -> None:
    best = row.tc_best()
    hub = statistics.median(row.hubcli_ms) if row.hubcli_ms else math.nan
    tc = f"TC best t{best[0]} {best[1]:.0f} ms" if best else "TC failed"
    ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
    cpu = f"{row.cpu_ratio:.2f}x" if row.cpu_ratio is not None else "-"
    bench.log(
        f"W9 {row.file:10} {row.read:28} {row.load:6} hubcli {hub:.0f} ms, {tc}: {ratio} "
        f"(CPU {cpu})"
    )


def _guarded(run: Any) -> dict[str, Any]:
    try:
        reply: dict[str, Any] = run()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {str(exc).strip()[:300]}"}
    return reply
