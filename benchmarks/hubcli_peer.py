"""hubcli as a peer, and everything the benchmark asks of hubcli beyond its public API.

What reaches into hubcli's internals (a sample's chunk and frame table, the decoder
it opens) is here and nowhere else, so that a change inside hubcli is mended in one
place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import hubcli
from benchmarks.peers_venv import loop
from benchmarks.results import ThreadCheck
from hubcli.video import decode as hub_decode

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

    from benchmarks.peers_venv import Call
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
