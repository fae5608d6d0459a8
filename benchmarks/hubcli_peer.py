"""hubcli as a peer, and everything the benchmark asks of hubcli beyond its public API.

What reaches into hubcli's internals (a sample's chunk and frame table, the decoder
it opens) is here and nowhere else, so that a change inside hubcli is mended in one
place.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import numpy as np

import hubcli
from benchmarks.peers_venv import loop, run_loader
from benchmarks.results import ThreadCheck
from hubcli.video import decode as hub_decode

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from benchmarks.peers_venv import Call, Request
    from hubcli.format.frames import FrameTable


def set_hubcli_threads(threads: int) -> None:
    """hubcli's thread counts, through ``hubcli.config``: at a fixed count the decoder
    and the RGB conversion (swscale) both get it, so hubcli uses no more threads than
    its peers; at 0 (automatic) each takes hubcli's own choice."""
    hubcli.config.decoder_threads = threads
    hubcli.config.convert_threads = threads


def threads_in_effect(ds: hubcli.Dataset) -> ThreadCheck:
    """The thread_count a decoder hubcli opens now gets (to check the knob works), and
    the conversion threads."""
    record = ds.videos[0].record()
    return ThreadCheck(
        decoder=int(hub_decode.open_decoder(record.codec).thread_count),
        convert=hubcli.config.convert_threads,
    )


def dataset_of(path: str | Path, video: Path, container: str, copies: int = 1) -> hubcli.Dataset:
    """A new dataset at ``path`` (replacing one there) holding ``video`` ``copies`` times."""
    ds = hubcli.empty(path, overwrite=True)
    ds.create_tensor("videos", htype="video", sample_compression=container)
    ds.videos.extend([str(video)] * copies)
    return ds


def chunk_key(ds: hubcli.Dataset) -> str:
    """The storage key of the chunk that holds sample 0's bytes."""
    key = ds.videos.reader().locate(0).chunk_key
    if key is None:
        raise ValueError("sample 0 is a linked video: it has no chunk")
    return key


def frame_table(ds: hubcli.Dataset) -> FrameTable:
    return ds.videos.reader().frame_table(0)


class HubcliPeer:
    """hubcli: ``source`` is a dataset path, ``#i`` selects sample i (default 0).
    ``reuse`` keeps one Dataset per path (W9's workers; a DataLoader's dataset)."""

    name = "hubcli"

    def __init__(self, threads: int, reuse: bool = False) -> None:
        self.threads = threads
        self.reuse = reuse
        self.datasets: dict[str, hubcli.Dataset] = {}

    def open(self, source: str) -> tuple[Any, int]:
        set_hubcli_threads(self.threads)
        path, _, index = source.partition("#")
        ds = self.datasets.get(path) if self.reuse else None
        if ds is None:
            ds = hubcli.load(path, read_only=True)
            if self.reuse:
                self.datasets[path] = ds
        return ds.videos, int(index or 0)

    def info(self, handle: tuple[Any, int]) -> list[int]:
        tensor, i = handle
        return list(tensor[i].shape[:3])

    def frames(self, handle: tuple[Any, int], call: Call) -> np.ndarray:
        tensor, i = handle
        if "slice" in call:
            return tensor[i, slice(*call["slice"])].numpy()  # type: ignore[no-any-return]
        return tensor[i, call["frames"]].numpy()  # type: ignore[no-any-return]

    def close(self, handle: tuple[Any, int]) -> None:
        pass


def make_peer(name: str, threads: int) -> HubcliPeer:
    return HubcliPeer(threads)


def hubcli_loop_worker(name: str, threads: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    """One W9 worker process for hubcli (spawned: a top-level function it can import)."""
    return loop(HubcliPeer(threads, reuse=True), **kwargs)


# --- W9: hubcli.torch.ClipDataset in a DataLoader ---------------------------------------


def clip_dataset(url: str, req: Request) -> Any:
    """W9's dataset: ``hubcli.torch.ClipDataset`` with random 16-frame clips, enough
    clips per video that one epoch holds ``req["clips"]``, no label columns, 1 decoder
    thread per worker (its default), ``size=`` where the request resizes."""
    from hubcli.torch import ClipDataset

    videos = len(hubcli.load(url, read_only=True).videos)
    size = req.get("size")
    return ClipDataset(
        url,
        tensor="videos",
        clip_len=req["clip"],
        sampler="random",
        clips_per_video=math.ceil(req["clips"] / videos),
        columns=(),
        seed=req["seed"],
        size=None if size is None else (int(size[0]), int(size[1])),
    )


def hubcli_loader(
    url: str, req: Request, on_batch: Callable[[int, Any], None] | None = None
) -> dict[str, Any]:
    """W9 for hubcli: ClipDataset in the same DataLoader as the peers' datasets."""
    from hubcli.torch import collate

    return run_loader(clip_dataset(url, req), collate, req, on_batch)


def start_background_loader(url: str, workers: int) -> subprocess.Popen[bytes]:
    """The 2-worker loader running (hubcli's, endlessly) in its own process group, as the
    load of W9's consecutive reads; ``stop_background_loader`` ends it and its workers."""
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.hubcli_peer", url, str(workers)],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    time.sleep(8)  # its workers started and reading
    return proc


def stop_background_loader(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)


def _background(url: str, workers: int) -> None:
    """Read epoch after epoch until killed (``start_background_loader``), or until the
    benchmark that started it is gone (its workers then follow within seconds)."""
    import threading

    from torch.utils.data import DataLoader

    from hubcli.torch import ClipDataset, collate

    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    clips = ClipDataset(url, clip_len=16, clips_per_video=200, columns=())
    for epoch in range(1_000_000):
        clips.set_epoch(epoch)
        loader = DataLoader(
            clips,
            batch_size=8,
            shuffle=True,
            num_workers=workers,
            collate_fn=collate,
            multiprocessing_context="spawn",
        )
        for _ in loader:
            pass


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def resize_costs(video: Path, frames: int, size: tuple[int, int], repeats: int) -> list[float]:
    """ms per frame, best of ``repeats`` passes over the same ``frames`` decoded pictures
    (1 thread each): hubcli's conversion to RGB at ``size`` in one swscale pass (its
    ``Converter``, what ``size=`` runs), the conversion at full size alone, and the
    conversion at full size then ``torch.nn.functional.interpolate`` (bilinear,
    antialias: what TorchVision's and TorchCodec's Resize do) to ``size``."""
    import av
    import torch

    from hubcli.video.decode import Converter

    torch.set_num_threads(1)
    hubcli.config.convert_threads = 1
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        pictures = [f for _, f in zip(range(frames), container.decode(stream), strict=False)]

    def fused() -> None:
        convert = Converter(size)
        for p in pictures:
            _array(convert(p))

    def full() -> None:
        convert = Converter()
        for p in pictures:
            _array(convert(p))

    def full_then_resize() -> None:
        convert = Converter()
        for p in pictures:
            chw = torch.from_numpy(_array(convert(p))).permute(2, 0, 1)[None]
            torch.nn.functional.interpolate(chw, size=size, mode="bilinear", antialias=True)

    out = []
    for step in (fused, full, full_then_resize):
        best = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            step()
            best = min(best, time.perf_counter() - t0)
        out.append(best * 1e3 / len(pictures))
    hubcli.config.convert_threads = 0
    return out


def _array(rgb: Any) -> np.ndarray:
    """A converted picture as an (H, W, 3) array, copied once (as hubcli's reads do)."""
    plane = rgb.planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(rgb.height, plane.line_size)
    return rows[:, : rgb.width * 3].reshape(rgb.height, rgb.width, 3).copy()


def metadata_footprint(ds: hubcli.Dataset) -> tuple[int, int]:
    """(bytes, objects) of a dataset outside its chunks: what its history costs."""
    infos = [
        info
        for prefix in ("versions/", "log/", "checkpoints/", "tensors/")
        for info in ds.store.list_info(prefix)
        if "/chunks/" not in info.key
    ]
    return sum(i.size for i in infos), len(infos)


def state_size(ds: hubcli.Dataset) -> int:
    """The size of the newest state (the hint): what a commit reads and writes."""
    return ds.store.size("log/hint.json")


if __name__ == "__main__":  # the background loader: URL WORKERS
    _background(sys.argv[1], int(sys.argv[2]))
