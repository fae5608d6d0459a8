"""The peers of hubcli's benchmark, and the timing harness every reader runs under.

Two uses:

* The benchmark (``python -m benchmarks``, in ``.venv``) imports this module for the
  harness and the PyAV peers, which run in its own process.
* Run as ``.bench-venv/bin/python -m benchmarks.peers_venv`` from the repository root,
  it serves the peers that need torch (TorchCodec, decord): it reads one JSON list of
  requests per line on stdin and writes one JSON list of replies per line on stdout.
  Nothing else ever reaches stdout (the C libraries' chatter is sent to stderr).

It imports nothing of hubcli and no PyAV at import time (that interpreter has
neither); only numpy and ``testkit.frames``, the one frame hash.

Every reply carries the per-run wall times in ms (``time.perf_counter``) and the hash
of each returned frame (``testkit.frames.frame_hash``), so the benchmark checks
accuracy against its own oracle in its own process.

A *call* is ``{"frames": [k, ...]}`` (one call, any order, repeats allowed) or
``{"slice": [start, stop, step]}``. Each peer answers it with its natural API.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import sys
import time
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, cast

import numpy as np

from testkit.frames import frame_hash

if TYPE_CHECKING:
    from collections.abc import Callable


class Call(TypedDict, total=False):
    frames: list[int]
    slice: list[int]  # start, stop, step


class Request(TypedDict, total=False):
    """One request; which keys an op reads is said where it is handled."""

    op: str  # open_info, frames, probe, open, read, close, loop, versions, trim
    peer: str
    threads: int
    source: str
    runs: list[list[Call]]  # open_info/frames: runs, each a list of calls timed together
    warmup: Call | None
    min_runs: int
    max_seconds: float
    hash_first_only: bool
    prefault_bytes: int
    probes: list[int]  # probe: frame numbers, and the oracle's frames around them
    oracle: str
    oracle_index: list[int]
    one_call: bool
    handle: int | str  # read/close: an open source
    call: Call
    info: bool
    venv: bool  # run in the peers' process whatever the peer
    sources: list[str]  # loop: W9's parameters
    reads: int
    seed: int
    clip: int
    every: int
    workers: int
    clips: int  # loader: W9's DataLoader (see run_loader)
    batch: int
    size: list[int] | None  # loader, tc_frames: (height, width) or None (full size)
    frames: list[int]  # tc_frames: frame numbers to write to ``out``
    out: str
    no_hash: bool  # frames: hash nothing (consecutive runs: the frames are many)


class Reply(TypedDict, total=False):
    error: str
    times_ms: list[float]
    cpu_ms: list[float]
    hashes: list[list[list[str]]]  # per run, per call, per frame
    info: list[int] | None
    handle: int | str
    ms: float
    read_hashes: list[str]
    probes: list[dict[str, Any]]  # frame, hash, mad (to oracle frames k-1, k, k+1)
    workers: list[dict[str, Any]]  # loop: reads, seconds, rss samples per worker
    versions: dict[str, str]
    loader: dict[str, Any]  # loader: see run_loader


class Reader(Protocol):
    """What the harness needs of a peer; ``handle`` is whatever ``open`` returned."""

    @property
    def name(self) -> str: ...
    def open(self, source: str) -> Any: ...
    def info(self, handle: Any) -> list[int]: ...
    def frames(self, handle: Any, call: Call) -> Any: ...
    def close(self, handle: Any) -> None: ...


# --- helpers shared with the benchmark's process -------------------------------------


def call_frames(call: Call) -> list[int]:
    """The frame numbers a call asks for, in the order it returns them."""
    if "slice" in call:
        return list(range(*call["slice"]))
    return [int(k) for k in call["frames"]]


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 frames (inf if their shapes differ)."""
    if a.shape != b.shape:
        return float("inf")
    total = 0.0
    for y in range(0, a.shape[0], 64):  # in bands: no full-frame int16 copies
        d = a[y : y + 64].astype(np.int16) - b[y : y + 64].astype(np.int16)
        total += float(np.abs(d).sum())
    return total / a.size


#: glibc malloc settings for the timed processes (the benchmark sets them, see
#: ``benchmarks.cli``): large blocks come from the heap and freed memory is kept.
MALLOC_TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1099511627776"


def trim_memory() -> None:
    """Give the heap's free memory back to the system (glibc ``malloc_trim``)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --- PyAV peers (what Hub did; and plain sequential decoding) ------------------------


def _open_av(source: str, threads: int) -> Any:
    import av  # not at import time: the peers' venv has no PyAV

    container = av.open(source)
    stream = container.streams.video[0]
    stream.codec_context.thread_count = threads
    stream.thread_type = "AUTO" if threads != 1 else "SLICE"
    return container


def _av_info(container: Any) -> list[int]:
    """Frame count as the container declares it (0 where it does not), height, width."""
    stream = container.streams.video[0]
    return [int(stream.frames), stream.codec_context.height, stream.codec_context.width]


class PyAVSeek:
    """Hub's reader: for each frame, ``container.seek(pts, backward=True, stream=s)`` to
    the keyframe before it, then decode until the frame. The frame's pts comes from its
    number and the stream's average rate, as Hub computed it; a slice seeks once to its
    first frame and decodes on to its last. The container stays open between calls,
    except that it is reopened after a decode reached the end of the file (over HTTP,
    FFmpeg's demuxer then ignores the next seek)."""

    name = "pyav-seek"

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def open(self, source: str) -> Any:
        return {"source": source, "container": _open_av(source, self.threads), "eof": False}

    def info(self, handle: Any) -> list[int]:
        return _av_info(handle["container"])

    def frames(self, handle: Any, call: Call) -> list[np.ndarray]:
        if "slice" in call:
            wanted = list(range(*call["slice"]))
            got = self._decode_from(handle, wanted)
            return [got[k] for k in wanted]
        return [self._decode_from(handle, [k])[k] for k in call_frames(call)]

    def _decode_from(self, handle: Any, wanted: list[int]) -> dict[int, np.ndarray]:
        if handle["eof"]:
            handle["container"].close()
            handle["container"] = _open_av(handle["source"], self.threads)
            handle["eof"] = False
        container = handle["container"]
        stream = container.streams.video[0]
        start = stream.start_time if stream.start_time is not None else 0
        # pts ticks per frame, from the average rate (Hub's assumption: constant rate).
        tick = 1 / (Fraction(stream.average_rate) * stream.time_base)
        target = start + round(min(wanted) * tick)
        container.seek(target, backward=True, any_frame=False, stream=stream)
        handle["eof"] = True
        got = _take_shown(container.decode(stream), sorted(set(wanted)), start, tick)
        handle["eof"] = len(got) < len(set(wanted))
        if handle["eof"]:  # the file ended first
            missing = min(set(wanted) - set(got))
            raise IndexError(f"frame {missing} not found after seeking")
        return got

    def close(self, handle: Any) -> None:
        handle["container"].close()


def _take_shown(
    decoded: Any, pending: list[int], start: int, tick: Fraction
) -> dict[int, np.ndarray]:
    """As Hub did: the first picture shown at or after a frame's pts is taken to be that
    frame (when the seek lands after it, e.g. on an open GOP's keyframe, this is a
    later frame: W8 counts it wrong). Stops once every pending frame is found."""
    got: dict[int, np.ndarray] = {}
    for frame in decoded:
        if frame.pts is None or round((frame.pts - start) / tick) < pending[0]:
            continue
        k = round((frame.pts - start) / tick)
        rgb = frame.to_ndarray(format="rgb24")
        while pending and pending[0] <= k:
            got[pending.pop(0)] = rgb
        if not pending:
            break
    return got


class PyAVSequential:
    """Decode from the start and keep the wanted frames (frame k = k-th output frame):
    the oracle's own method, so exact by construction; its cost is the distance from the
    start of the file."""

    name = "pyav-seq"

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def open(self, source: str) -> Any:
        return {"source": source, "container": _open_av(source, self.threads)}

    def info(self, handle: Any) -> list[int]:
        return _av_info(handle["container"])

    def frames(self, handle: Any, call: Call) -> list[np.ndarray]:
        wanted = call_frames(call)
        if handle.get("used"):  # decode from the start again: a fresh demuxer and decoder
            handle["container"].close()
            handle["container"] = _open_av(handle["source"], self.threads)
        handle["used"] = True
        container = handle["container"]
        need, last = set(wanted), max(wanted)
        got: dict[int, np.ndarray] = {}
        for k, frame in enumerate(container.decode(container.streams.video[0])):
            if k in need:
                got[k] = frame.to_ndarray(format="rgb24")
            if k >= last:
                break
        return [got[k] for k in wanted]

    def close(self, handle: Any) -> None:
        handle["container"].close()


# --- TorchCodec and decord (the peers' venv) -----------------------------------------


class TorchCodecPeer:
    """TorchCodec's ``VideoDecoder`` on the CPU (``seek_mode`` exact or approximate)."""

    def __init__(self, mode: str, threads: int) -> None:
        self.mode = mode
        self.threads = threads
        self.name = f"torchcodec-{'exact' if mode == 'exact' else 'approx'}"

    def open(self, source: str) -> Any:
        from torchcodec.decoders import VideoDecoder

        return VideoDecoder(
            source, seek_mode=self.mode, num_ffmpeg_threads=self.threads, device="cpu"
        )

    def info(self, decoder: Any) -> list[int]:
        m = decoder.metadata
        return [int(m.num_frames), int(m.height), int(m.width)]

    def frames(self, decoder: Any, call: Call) -> Any:
        if "slice" in call:
            return decoder.get_frames_in_range(*call["slice"]).data
        return decoder.get_frames_at(indices=call["frames"]).data

    @staticmethod
    def to_hwc(batch: Any) -> list[np.ndarray]:
        return list(batch.permute(0, 2, 3, 1).numpy())  # NCHW -> N x HWC views

    def close(self, decoder: Any) -> None:
        del decoder


class DecordPeer:
    """decord2's ``VideoReader`` (module ``decord``) on the CPU."""

    name = "decord"

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def open(self, source: str) -> Any:
        import decord

        return decord.VideoReader(source, ctx=decord.cpu(0), num_threads=self.threads)

    def info(self, reader: Any) -> list[int]:
        # decord has no shape without decoding: the first frame gives it.
        h, w, _ = reader[0].shape
        return [len(reader), int(h), int(w)]

    def frames(self, reader: Any, call: Call) -> Any:
        return reader.get_batch(call_frames(call)).asnumpy()

    def close(self, reader: Any) -> None:
        del reader


#: Every peer this module can make, by name, from its thread count.
MAKERS: dict[str, Callable[[int], Reader]] = {
    "pyav-seek": PyAVSeek,
    "pyav-seq": PyAVSequential,
    "torchcodec-exact": lambda threads: TorchCodecPeer("exact", threads),
    "torchcodec-approx": lambda threads: TorchCodecPeer("approximate", threads),
    "decord": DecordPeer,
}


def make_peer(name: str, threads: int) -> Reader:
    if name not in MAKERS:
        raise ValueError(f"unknown peer {name!r}")
    return MAKERS[name](threads)


def as_frames(peer: Reader, out: Any) -> list[np.ndarray]:
    """A peer's answer as a list of HWC uint8 frames (views where possible)."""
    to_hwc = getattr(peer, "to_hwc", None)
    return list(to_hwc(out)) if to_hwc is not None else list(out)


# --- the harness ---------------------------------------------------------------------


def bench(peer: Reader, req: Request) -> Reply:
    """Time one workload: ``req["runs"]`` is a list of runs, each a list of calls.

    ``op == "open_info"``: each run opens the source and reads (frames, height, width).
    ``op == "frames"``: the source is opened once; one untimed warm-up call
    (``req["warmup"]``), then each run's calls are timed together. Runs stop early
    once ``max_seconds`` are spent and ``min_runs`` are done. Hashes of the frames of
    every run (only the first when ``hash_first_only``) are returned.
    """
    if req["op"] == "open_info":
        return _bench_open(peer, req)
    return _bench_frames(peer, req)


class _Budget:
    """When a cell may stop: ``min_runs`` done and ``max_seconds`` spent."""

    def __init__(self, req: Request) -> None:
        self.min_runs = req.get("min_runs", 3)
        self.max_seconds = req.get("max_seconds", 1e9)
        self.started = time.perf_counter()

    def spent(self, runs: int) -> bool:
        elapsed = time.perf_counter() - self.started
        return runs >= self.min_runs and elapsed > self.max_seconds


def _bench_open(peer: Reader, req: Request) -> Reply:
    reply: Reply = {"times_ms": [], "cpu_ms": [], "hashes": []}
    budget = _Budget(req)
    handle = peer.open(req["source"])  # warm-up
    reply["info"] = peer.info(handle)
    peer.close(handle)
    for _ in req["runs"]:
        c0, t0 = time.process_time(), time.perf_counter()
        handle = peer.open(req["source"])
        info = peer.info(handle)
        reply["times_ms"].append((time.perf_counter() - t0) * 1e3)
        reply["cpu_ms"].append((time.process_time() - c0) * 1e3)
        peer.close(handle)
        reply["info"] = info
        if budget.spent(len(reply["times_ms"])):
            break
    return reply


def _bench_frames(peer: Reader, req: Request) -> Reply:
    reply: Reply = {"times_ms": [], "cpu_ms": [], "hashes": []}
    budget = _Budget(req)
    handle = peer.open(req["source"])
    try:
        if req.get("warmup"):
            out = peer.frames(handle, req["warmup"] or {})
            del out
        if req.get("prefault_bytes"):  # fault in, then free, the memory the output needs
            block = np.ones(int(req["prefault_bytes"]), dtype=np.uint8)
            del block
        for n, run in enumerate(req["runs"]):
            c0, t0 = time.process_time(), time.perf_counter()
            outs = [peer.frames(handle, call) for call in run]
            reply["times_ms"].append((time.perf_counter() - t0) * 1e3)
            reply["cpu_ms"].append((time.process_time() - c0) * 1e3)
            if not req.get("no_hash") and (n == 0 or not req.get("hash_first_only")):
                reply["hashes"].append([[frame_hash(f) for f in as_frames(peer, o)] for o in outs])
            del outs
            gc.collect()
            if budget.spent(len(reply["times_ms"])):
                break
    finally:
        peer.close(handle)
    return reply


def probe(peer: Reader, req: Request) -> Reply:
    """W8: each probe frame in its own call (or all in one call with ``one_call``);
    for each, its hash and its mean absolute difference to oracle frames k-1, k, k+1
    (``req["oracle"]``: an .npy of oracle frames, ``req["oracle_index"]`` their numbers)."""
    frames = np.load(req["oracle"], mmap_mode="r")
    index = {int(k): n for n, k in enumerate(req["oracle_index"])}
    probes = [int(k) for k in req["probes"]]
    handle = peer.open(req["source"])
    try:
        if req.get("one_call"):
            got = as_frames(peer, peer.frames(handle, {"frames": sorted(probes)}))
            by_frame = dict(zip(sorted(probes), got, strict=True))
            answers = [by_frame[k] for k in probes]
        else:
            answers = [as_frames(peer, peer.frames(handle, {"frames": [k]}))[0] for k in probes]
        out = []
        for k, rgb in zip(probes, answers, strict=True):
            mads = [
                mean_abs_diff(rgb, frames[index[j]]) if j in index else float("inf")
                for j in (k - 1, k, k + 1)
            ]
            out.append({"frame": k, "hash": frame_hash(rgb), "mad": mads})
    finally:
        peer.close(handle)
    return {"probes": out}


def loop(
    peer: Reader, sources: list[str], reads: int, seed: int, clip: int, every: int
) -> dict[str, Any]:
    """W9, one worker: ``reads`` times, a random source and a random ``clip``-frame run of
    it (sources stay open, as a dataset object or a cached decoder would). RSS is sampled
    every ``every`` reads."""
    rng = np.random.default_rng(seed)
    handles: dict[int, Any] = {}
    lengths: dict[int, int] = {}
    samples: list[list[float]] = []
    t0 = time.perf_counter()
    for r in range(reads):
        j = int(rng.integers(len(sources)))
        if j not in handles:
            handles[j] = peer.open(sources[j])
            lengths[j] = peer.info(handles[j])[0]
        s = int(rng.integers(0, lengths[j] - clip + 1))
        out = peer.frames(handles[j], {"slice": [s, s + clip, 1]})
        del out
        if (r + 1) % every == 0:
            samples.append([r + 1, time.perf_counter() - t0, rss_bytes()])
    seconds = time.perf_counter() - t0
    for handle in handles.values():
        peer.close(handle)
    return {"reads": reads, "seconds": seconds, "rss": samples}


def loop_worker(name: str, threads: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    """One W9 worker process (spawned: a top-level function it can import)."""
    return loop(make_peer(name, threads), **kwargs)


def loop_kwargs(req: Request) -> dict[str, Any]:
    """loop()'s keyword arguments from a W9 request."""
    return {
        "sources": req["sources"],
        "reads": req["reads"],
        "seed": req["seed"],
        "clip": req["clip"],
        "every": req["every"],
    }


def parallel_loops(
    worker: Callable[[str, int, dict[str, Any]], dict[str, Any]], req: Request
) -> list[dict[str, Any]]:
    """Run ``worker(peer, threads, kwargs)`` in ``req["workers"]`` fresh (spawned)
    processes, each with its own seed and an equal share of the reads."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    kw = loop_kwargs(req)
    workers = req["workers"]
    share = kw.pop("reads") // workers
    ctx = multiprocessing.get_context("spawn")
    # The workers run with glibc's default malloc, as a training job's would.
    tunables = os.environ.pop("GLIBC_TUNABLES", None)
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [
                pool.submit(
                    worker,
                    req["peer"],
                    req["threads"],
                    {**kw, "reads": share, "seed": kw["seed"] + n},
                )
                for n in range(workers)
            ]
            return [f.result() for f in futures]
    finally:
        if tunables is not None:
            os.environ["GLIBC_TUNABLES"] = tunables


# --- W9: a torch DataLoader of clips ---------------------------------------------------


class Probed:
    """A map-style dataset as the DataLoader sees it in W9: each batch also says which
    worker read it, how many clips that worker has read, its RSS now and its RSS before
    its first read (what importing torch and the library cost). ``__getitems__`` hands
    the inner dataset the whole batch where it takes one (hubcli's ClipDataset)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reads = 0
        self.rss_start: int | None = None

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int) -> Any:
        return self.inner[index]

    def __getitems__(self, indices: list[int]) -> dict[str, Any]:
        from torch.utils.data import get_worker_info

        if self.rss_start is None:
            self.rss_start = rss_bytes()
        getitems = getattr(self.inner, "__getitems__", None)
        items = getitems(list(indices)) if getitems else [self.inner[i] for i in indices]
        self.reads += len(items)
        info = get_worker_info()
        return {
            "items": items,
            "worker": 0 if info is None else info.id,
            "reads": self.reads,
            "rss": rss_bytes(),
            "rss_start": self.rss_start,
            "cpu": time.process_time(),  # the worker's CPU seconds, all its threads
        }


def probed_collate(collate: Callable[[Any], Any], data: dict[str, Any]) -> tuple[Any, list[int]]:
    """The batch as ``collate`` makes it, and the probe: [worker, its reads, RSS, RSS
    before its first read, its CPU seconds]."""
    probe = [data["worker"], data["reads"], data["rss"], data["rss_start"], data["cpu"]]
    return collate(data["items"]), probe


def run_loader(
    dataset: Any,
    collate: Callable[[Any], Any],
    req: Request,
    on_batch: Callable[[int, Any], None] | None = None,
) -> dict[str, Any]:
    """W9's loop: ``DataLoader(dataset, batch_size, shuffle=True, num_workers)`` with
    spawned workers (as in the earlier hand-written loop: a fresh process, nothing
    inherited) until ``req["clips"]`` clips are read. Per batch: [batch number, seconds
    since the loader was made, worker, that worker's reads, RSS, RSS before its first
    read, its CPU seconds]. ``on_batch(n, batch)`` runs in this process (the accuracy checks)."""
    import torch
    from torch.utils.data import DataLoader

    generator = torch.Generator()
    generator.manual_seed(req["seed"])
    batches = max(1, req["clips"] // req["batch"])
    rows: list[list[float]] = []
    # The workers run with glibc's default malloc, as a training job's would.
    tunables = os.environ.pop("GLIBC_TUNABLES", None)
    try:
        t0 = time.perf_counter()
        loader: Any = DataLoader(
            cast("Any", Probed(dataset)),  # a map-style dataset, not a Dataset subclass
            batch_size=req["batch"],
            shuffle=True,
            generator=generator,
            num_workers=req["workers"],
            collate_fn=functools.partial(probed_collate, collate),
            multiprocessing_context="spawn",
        )
        for n, (batch, probe) in enumerate(loader):
            rows.append([n + 1, time.perf_counter() - t0, *probe])
            if on_batch is not None:
                on_batch(n, batch)
            del batch
            if n + 1 >= batches:
                break
        seconds = time.perf_counter() - t0
        del loader  # its workers end here
    finally:
        if tunables is not None:
            os.environ["GLIBC_TUNABLES"] = tunables
    return {"rows": rows, "seconds": seconds, "batch": req["batch"]}


class TorchCodecClips:
    """TorchCodec's recipe for training (its samplers' documentation): a map-style
    dataset whose ``__getitem__`` calls ``clips_at_random_indices`` for one clip of video
    ``index % len(sources)``, with a ``VideoDecoder`` in exact mode, ``threads`` FFmpeg
    threads, and optionally its ``Resize`` decoder transform. Each worker opens a
    decoder per video once and keeps it (opening one in exact mode scans the file)."""

    def __init__(
        self, sources: list[str], count: int, clip: int, threads: int, size: list[int] | None
    ) -> None:
        self.sources, self.count, self.clip = sources, count, clip
        self.threads, self.size = threads, size
        self.decoders: dict[int, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "decoders": {}}

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, Any]:
        from torchcodec.samplers import clips_at_random_indices

        j = int(index) % len(self.sources)
        if j not in self.decoders:
            self.decoders[j] = tc_decoder(self.sources[j], self.threads, self.size)
        clips = clips_at_random_indices(
            self.decoders[j], num_clips=1, num_frames_per_clip=self.clip
        )
        return {"frames": clips.data[0], "index": j}


def tc_decoder(source: str, threads: int, size: list[int] | None) -> Any:
    """TorchCodec's exact-mode decoder, resizing with its ``Resize`` transform if
    ``size`` is given."""
    from torchcodec.decoders import VideoDecoder

    transforms = None
    if size is not None:
        from torchcodec.transforms import Resize

        transforms = [Resize((int(size[0]), int(size[1])))]
    return VideoDecoder(
        source, seek_mode="exact", num_ffmpeg_threads=threads, device="cpu", transforms=transforms
    )


class DecordClips:
    """The same with decord2: one ``VideoReader`` per video per worker (resizing while
    decoding when ``size`` is given), a random start, ``get_batch`` of the clip."""

    def __init__(
        self, sources: list[str], count: int, clip: int, threads: int, size: list[int] | None
    ) -> None:
        self.sources, self.count, self.clip = sources, count, clip
        self.threads, self.size = threads, size
        self.readers: dict[int, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "readers": {}}

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, Any]:
        import decord
        import torch

        j = int(index) % len(self.sources)
        if j not in self.readers:
            h, w = self.size if self.size is not None else (-1, -1)
            self.readers[j] = decord.VideoReader(
                self.sources[j], ctx=decord.cpu(0), num_threads=self.threads, width=w, height=h
            )
        reader = self.readers[j]
        start = int(torch.randint(0, len(reader) - self.clip + 1, ()).item())
        frames = reader.get_batch(list(range(start, start + self.clip))).asnumpy()
        return {"frames": torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous(), "index": j}


def venv_loader(req: Request) -> dict[str, Any]:
    """W9 for TorchCodec or decord (in this process's venv)."""
    from torch.utils.data import default_collate

    kind = TorchCodecClips if req["peer"] == "torchcodec-exact" else DecordClips
    dataset = kind(req["sources"], req["clips"], req["clip"], req["threads"], req.get("size"))
    return run_loader(dataset, default_collate, req)


def tc_frames(req: Request) -> None:
    """``req["frames"]`` of ``req["source"]`` as TorchCodec's exact mode gives them (with
    its ``Resize`` at ``req["size"]``), saved as an (N, H, W, 3) .npy at ``req["out"]``."""
    decoder = tc_decoder(req["source"], 1, req.get("size"))
    data = decoder.get_frames_at(indices=req["frames"]).data
    np.save(req["out"], data.permute(0, 2, 3, 1).contiguous().numpy())


class Handles:
    """Open sources kept between requests (W7: the proxy's log is taken between them)."""

    def __init__(self) -> None:
        self.items: dict[int, tuple[Reader, Any]] = {}
        self.next = 0

    def add(self, peer: Reader, handle: Any) -> int:
        self.next += 1
        self.items[self.next] = (peer, handle)
        return self.next

    def open(self, req: Request, peer: Reader) -> Reply:
        t0 = time.perf_counter()
        handle = peer.open(req["source"])
        info = peer.info(handle) if req.get("info") else None
        ms = (time.perf_counter() - t0) * 1e3
        return {"handle": self.add(peer, handle), "ms": ms, "info": info}

    def read(self, req: Request) -> Reply:
        peer, handle = self.items[int(req["handle"])]
        t0 = time.perf_counter()
        out = peer.frames(handle, req["call"])
        ms = (time.perf_counter() - t0) * 1e3
        return {"ms": ms, "read_hashes": [frame_hash(f) for f in as_frames(peer, out)]}

    def close(self, req: Request) -> Reply:
        peer, handle = self.items.pop(int(req["handle"]))
        peer.close(handle)
        return {}


def versions() -> dict[str, str]:
    """The versions of this interpreter and of the peers' libraries it can import."""
    out: dict[str, str] = {"python": sys.version.split()[0]}
    with contextlib.suppress(ImportError):
        import torch

        out["torch"] = torch.__version__
    with contextlib.suppress(ImportError):
        import torchcodec

        out["torchcodec"] = torchcodec.__version__
        with contextlib.suppress(Exception):
            from torchcodec._core import get_ffmpeg_library_versions

            libs = get_ffmpeg_library_versions()
            out["torchcodec_ffmpeg"] = libs.get("ffmpeg_version") or str(libs)
    with contextlib.suppress(ImportError):
        import decord

        out["decord"] = decord.__version__
    return out


def handle_request(
    req: Request, handles: Handles, peers: Callable[[str, int], Reader] = make_peer
) -> Reply:
    """Run one request; a failure becomes ``{"error": ...}`` so that one peer's crash on
    one file costs only that cell."""
    try:
        return _dispatch(req, handles, peers)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {str(exc).strip()[:300]}"}


def _dispatch(req: Request, handles: Handles, peers: Callable[[str, int], Reader]) -> Reply:
    op = req["op"]
    if op == "versions":
        return {"versions": versions()}
    if op == "trim":
        trim_memory()
        return {}
    if op == "read":
        return handles.read(req)
    if op == "close":
        return handles.close(req)
    if op == "loop":
        return {"workers": parallel_loops(loop_worker, req)}
    if op == "loader":
        return {"loader": venv_loader(req)}
    if op == "tc_frames":
        tc_frames(req)
        return {}
    peer = peers(req["peer"], req["threads"])
    if op == "open":
        return handles.open(req, peer)
    if op == "probe":
        return probe(peer, req)
    return bench(peer, req)


def serve() -> None:
    """One JSON list of requests per stdin line -> one JSON list of replies per line."""
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything else printed (C libraries included) goes to stderr
    handles = Handles()
    for line in sys.stdin:
        if not line.strip():
            continue
        replies = [handle_request(req, handles) for req in json.loads(line)]
        out.write(json.dumps(replies) + "\n")
        out.flush()


if __name__ == "__main__":
    serve()
