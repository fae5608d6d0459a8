"""PyTorch datasets over a hubcli video tensor (``pip install "hubcli[torch]"``).

>>> from torch.utils.data import DataLoader
>>> from hubcli.torch import ClipDataset, collate
>>> clips = ClipDataset("s3://bucket/videos", clip_len=16, columns=("labels",))
>>> loader = DataLoader(clips, batch_size=8, num_workers=2, collate_fn=collate)
>>> for epoch in range(3):
...     clips.set_epoch(epoch)  # before the loader's workers start
...     for batch in loader:
...         batch["frames"]  # (8, 16, 3, H, W) uint8

Clips are planned by :mod:`hubcli.sampling` from the stored frame tables (nothing is
decoded to plan), per ``(seed, epoch, slot)``: the same batches whatever the number of
workers. What is pickled into a worker is the dataset's URL, version and the plan:
never a secret, never an open handle. Each process opens the dataset itself on first
use (and again if it finds itself in a forked child), so workers never share a file or
network handle. Secrets passed as ``creds=`` stay in the process that was given them
(and its forked children); spawned workers take the dataset's credentials from the
environment, as the command line does. Linked videos use the dataset's creds keys:
managed keys and ``ENV`` work in every worker.

torch is imported only here: ``import hubcli`` never loads it.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import IterableDataset, get_worker_info

from hubcli.core.dataset import Dataset, load
from hubcli.core.sample import check_crop
from hubcli.errors import FrameIndexError
from hubcli.format.values import JSON, TEXT
from hubcli.sampling import (
    ClipFrames,
    ClipSpec,
    Crop,
    FrameTransform,
    Policy,
    Sampler,
    clip_shapes,
    label_columns,
    label_values,
    plan_for,
    read_clips,
    video_tensor,
)
from hubcli.settings import config

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from hubcli.sampling import ClipPlan

ClipLayout = Literal["TCHW", "THWC"]
FrameLayout = Literal["CHW", "HWC"]
#: Keys of every item; a label column may not take one of these names.
ITEM_KEYS = ("frames", "timestamps", "index", "frame_indices")

__all__ = ["ClipDataset", "FrameDataset", "VideoFrames", "collate"]


class ClipDataset(TorchDataset[dict[str, Any]]):
    """Clips of ``clip_len`` frames from the videos of ``tensor``, map-style.

    ``len()`` is the number of clip slots (see :class:`hubcli.sampling.ClipSpec` for
    ``sampler``, ``clips_per_video``, ``clip_stride``, ``frame_step``, ``fps`` and
    ``policy``). An item is a dict: ``frames`` (uint8, ``layout`` ``"TCHW"`` or
    ``"THWC"``, stored channels-last either way: see :func:`frame_buffers`),
    ``timestamps`` (float64 seconds of those frames), ``index`` (the sample),
    ``frame_indices`` (int64), and one key per label column in ``columns`` (class_label
    and generic: a tensor; text: a str; json: the value).

    ``crop`` and ``size=(height, width)`` are applied while each frame is converted to
    RGB (one swscale pass), not after: ``crop="center"`` takes the largest centred box
    of the aspect of ``size`` (a short-side resize and a centre crop), ``"random"`` a
    box of that size at a random place, the same for every frame of a clip and drawn
    per ``(seed, epoch, slot)`` (a short-side resize and a random crop), a tuple
    ``(top, left, height, width)`` that box of every video; ``interpolation`` is
    swscale's scaling algorithm ("bilinear", "bicubic", "area", "nearest", ...).

    Inside a DataLoader worker each video decoder runs ``decoder_threads`` threads
    (default 1: the workers are the parallelism; None leaves ``hubcli.config`` as it
    is). The main process keeps ``hubcli.config.decoder_threads``.
    """

    def __init__(
        self,
        ds_or_url: Dataset | str | os.PathLike[str],
        tensor: str = "videos",
        clip_len: int = 16,
        frame_step: int = 1,
        clips_per_video: int = 1,
        clip_stride: int | None = None,
        sampler: Sampler = "random",
        policy: Policy = "repeat_last",
        fps: float | None = None,
        layout: ClipLayout = "TCHW",
        columns: Sequence[str] = ("labels",),
        seed: int = 0,
        creds: Mapping[str, Any] | None = None,
        version: int | None = None,
        decoder_threads: int | None = 1,
        size: tuple[int, int] | None = None,
        interpolation: str = "bilinear",
        crop: Crop = None,
    ) -> None:
        spec = ClipSpec(
            clip_len, frame_step, clips_per_video, clip_stride, sampler, policy, fps, seed
        )
        self._transform = FrameTransform(size, interpolation, crop)
        self._setup(ds_or_url, tensor, spec, layout, columns, creds, version, decoder_threads)

    def _setup(
        self,
        ds_or_url: Dataset | str | os.PathLike[str],
        tensor: str,
        spec: ClipSpec,
        layout: str,
        columns: Sequence[str],
        creds: Mapping[str, Any] | None,
        version: int | None,
        decoder_threads: int | None,
    ) -> None:
        if layout not in self._layouts():
            raise ValueError(f"layout must be one of {self._layouts()}, not {layout!r}")
        self._creds = creds  # never pickled (see __getstate__)
        if isinstance(ds_or_url, Dataset):
            ds = ds_or_url if version is None else load(ds_or_url.path, creds, version=version)
        else:
            ds = load(ds_or_url, creds=creds, version=version)
        # Workers reopen exactly this version: a dataset appended to meanwhile still
        # gives every worker the same samples the plan was made from.
        self._url, self._version = ds.path, ds.version
        self._ds: Dataset | None = ds
        self._pid: int | None = os.getpid()
        self._tensor = tensor
        self._columns = tuple(columns)
        self._layout = layout
        self._epoch = 0
        self._decoder_threads = decoder_threads
        self._check_tensors(ds)
        self._plan: ClipPlan = plan_for(ds[tensor], spec)
        self._check_box(ds)

    def _check_box(self, ds: Dataset) -> None:
        """A fixed crop box must fit every video: fail now, not in a worker."""
        box = self._transform.crop
        if isinstance(box, tuple):
            videos = ds[self._tensor]
            for i in range(len(videos)):
                _, h, w, _ = videos[i].shape
                check_crop(box, (h, w), f"{self._tensor}[{i}]")

    @staticmethod
    def _layouts() -> tuple[str, ...]:
        return ("TCHW", "THWC")

    def _check_tensors(self, ds: Dataset) -> None:
        videos = video_tensor(ds, self._tensor)
        label_columns(ds, videos, self._columns, ITEM_KEYS, "items")

    # --- what a worker holds ---------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """The URL, version, names and plan; never the open dataset nor the secrets."""
        state = dict(self.__dict__)
        state.update(_ds=None, _pid=None, _creds=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def dataset(self) -> Dataset:
        """The dataset, opened by this process: a forked child opens its own."""
        if self._ds is None or self._pid != os.getpid():
            self._ds = load(self._url, creds=self._creds, version=self._version)
            self._pid = os.getpid()
            if self._decoder_threads is not None and get_worker_info() is not None:
                # Workers already run in parallel: more decoder threads per worker only
                # contend for the same cores (TorchCodec #715). The worker's process is
                # the loader's own, so its setting is ours to change.
                config.decoder_threads = self._decoder_threads
        return self._ds

    @property
    def url(self) -> str:
        return self._url

    @property
    def version(self) -> int:
        return self._version

    @property
    def plan(self) -> ClipPlan:
        return self._plan

    @property
    def epoch(self) -> int:
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Random clips are drawn per (seed, epoch, slot). Call before the loader starts
        its workers (persistent workers keep the epoch they were started with)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, not {epoch!r}")
        self._epoch = epoch

    def state_dict(self) -> dict[str, int]:
        """The epoch, for ``torchdata``'s ``StatefulDataLoader``: a checkpoint taken
        mid-epoch resumes with the clips of that epoch (the sampler's state says which
        slots come next)."""
        return {"epoch": self._epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.set_epoch(state["epoch"])

    # --- reading -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._plan)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """A whole batch at once: its clips are planned together and each sample's frames
        are read in one pass (a keyframe run shared by clips is decoded once)."""
        ds = self.dataset()
        videos = ds[self._tensor]
        clips = self._plan.clips([_slot(i, len(self)) for i in indices], self._epoch)
        frames = frame_buffers(clip_shapes(videos, clips, self._transform), self._layout)
        read = read_clips(
            videos,
            clips,
            transform=self._transform,
            seed=self._plan.spec.seed,
            epoch=self._epoch,
            out=[rgb_view(f, self._layout) for f in frames],
        )
        labels = self._labels(ds, sorted({c.clip.sample for c in read}))
        return [self._item(c, f, labels) for c, f in zip(read, frames, strict=True)]

    def _labels(self, ds: Dataset, samples: list[int]) -> dict[str, dict[int, Any]]:
        """Each column's value for each sample (one read per column), as torch values."""
        out = label_values(ds, self._columns, samples)
        for name, values in out.items():
            convert = _label_converter(ds[name].htype)
            out[name] = {s: convert(v) for s, v in values.items()}
        return out

    def _item(
        self, read: ClipFrames, frames: torch.Tensor, labels: dict[str, dict[int, Any]]
    ) -> dict[str, Any]:
        """The item of clip ``read``, whose frames were read into ``frames``."""
        item: dict[str, Any] = {
            "frames": frames,
            "timestamps": torch.from_numpy(np.ascontiguousarray(read.timestamps, np.float64)),
            "index": read.clip.sample,
            "frame_indices": torch.from_numpy(np.ascontiguousarray(read.clip.frames, np.int64)),
        }
        for name, by_sample in labels.items():
            item[name] = by_sample[read.clip.sample]
        return item

    def __repr__(self) -> str:
        spec = self._plan.spec
        return (
            f"{type(self).__name__}({self._url!r}, version={self._version}, "
            f"tensor={self._tensor!r}, {len(self)} slots, clip_len={spec.clip_len}, "
            f"sampler={spec.sampler!r}, epoch={self._epoch})"
        )


class FrameDataset(ClipDataset):
    """Single frames: every ``frame_step``-th frame of every video (or, with ``fps``,
    the frame shown at each ``1 / fps`` step), map-style. An item is the ClipDataset
    item of one frame: ``frames`` ``(C, H, W)`` (``layout="HWC"``: ``(H, W, C)``),
    ``timestamps`` and ``frame_indices`` 0-d tensors, ``index``, and label columns.
    ``size``, ``interpolation`` and ``crop`` as in :class:`ClipDataset` (a random crop
    is drawn per frame slot)."""

    def __init__(
        self,
        ds_or_url: Dataset | str | os.PathLike[str],
        tensor: str = "videos",
        frame_step: int = 1,
        fps: float | None = None,
        layout: FrameLayout = "CHW",
        columns: Sequence[str] = ("labels",),
        creds: Mapping[str, Any] | None = None,
        version: int | None = None,
        decoder_threads: int | None = 1,
        size: tuple[int, int] | None = None,
        interpolation: str = "bilinear",
        crop: Crop = None,
        seed: int = 0,
    ) -> None:
        spec = ClipSpec(
            clip_len=1, clip_stride=frame_step, sampler="all", policy="drop", fps=fps, seed=seed
        )
        self._transform = FrameTransform(size, interpolation, crop)
        self._setup(ds_or_url, tensor, spec, layout, columns, creds, version, decoder_threads)

    @staticmethod
    def _layouts() -> tuple[str, ...]:
        return ("CHW", "HWC")

    def _item(
        self, read: ClipFrames, frames: torch.Tensor, labels: dict[str, dict[int, Any]]
    ) -> dict[str, Any]:
        item = super()._item(read, frames, labels)
        item["timestamps"] = item["timestamps"][0]
        item["frame_indices"] = item["frame_indices"][0]
        return item

    def __repr__(self) -> str:
        return f"FrameDataset({self._url!r}, version={self._version}, {len(self)} frames)"


class VideoFrames(IterableDataset[dict[str, Any]]):
    """Every frame of every video of ``tensor``, in order, each exactly once: for
    inference, feature extraction and evaluation over whole videos.

    The work is cut into *units*, one per keyframe run of each sample (the frames whose
    decoding starts at one keyframe: :meth:`hubcli.core.sample.SampleView.keyframe_runs`,
    from the stored frame tables, nothing decoded), and dealt round-robin to the
    ``world_size`` ranks and, within a rank, to the DataLoader's workers: each run is
    decoded once, by one worker, and the frames of all ranks and workers together are
    every frame exactly once. A worker yields its units in order and, within a unit,
    the frames in presentation order, holding only the frames not yet yielded.

    ``clip_len=None`` yields one item per frame (as :class:`FrameDataset`: ``frames``
    ``(C, H, W)``, layout "CHW" or "HWC"); an int yields up to ``clip_len`` consecutive
    frames of one run per item (``(T, C, H, W)``, layout "TCHW" or "THWC"; the last
    item of a run is shorter: batch with ``batch_size=None`` or :func:`collate`, which
    lists unequal shapes). ``rank`` and ``world_size``: this process's place among the
    ranks (None: ``torch.distributed``'s when it is initialised, else 0 of 1).
    ``size``, ``interpolation`` and ``crop`` (``"center"`` or a box) as in
    :class:`ClipDataset`."""

    def __init__(
        self,
        ds_or_url: Dataset | str | os.PathLike[str],
        tensor: str = "videos",
        clip_len: int | None = None,
        layout: str | None = None,
        columns: Sequence[str] = (),
        rank: int | None = None,
        world_size: int | None = None,
        creds: Mapping[str, Any] | None = None,
        version: int | None = None,
        decoder_threads: int | None = 1,
        size: tuple[int, int] | None = None,
        interpolation: str = "bilinear",
        crop: Crop = None,
    ) -> None:
        if clip_len is not None and (
            isinstance(clip_len, bool) or not isinstance(clip_len, int) or clip_len < 1
        ):
            raise ValueError(f"clip_len must be a positive int or None, not {clip_len!r}")
        if crop == "random":
            raise FrameIndexError(
                "crop='random' draws a box per training clip; VideoFrames reads whole videos",
                hint="pass crop='center' or a box (top, left, height, width)",
            )
        self._clip_len = clip_len
        layouts = ("CHW", "HWC") if clip_len is None else ("TCHW", "THWC")
        self._layout = layouts[0] if layout is None else layout
        if self._layout not in layouts:
            raise ValueError(f"layout must be one of {layouts}, not {layout!r}")
        self._rank, self._world_size = _rank_and_world(rank, world_size)
        # The source opens, pickles and reads labels as a FrameDataset does.
        self._source = FrameDataset(
            ds_or_url,
            tensor,
            columns=columns,
            creds=creds,
            version=version,
            decoder_threads=decoder_threads,
            size=size,
            interpolation=interpolation,
            crop=crop,
        )
        self._tensor = tensor
        self._units = _units(self._source.dataset()[tensor])

    @property
    def units(self) -> np.ndarray:
        """``(sample, first frame, stop frame)`` of every keyframe run, in order."""
        return self._units

    def shard(self, worker: int = 0, workers: int = 1) -> np.ndarray:
        """The units of ``worker`` (of ``workers``) of this rank."""
        return self._units[self._rank * workers + worker :: self._world_size * workers]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        ds = self._source.dataset()
        videos = ds[self._tensor]
        labels: dict[str, dict[int, Any]] = {}
        labelled = -1  # the sample whose labels are read: one read per sample
        for sample, first, stop in self.shard(worker, workers).tolist():
            if sample != labelled:
                labels, labelled = self._source._labels(ds, [sample]), sample
            yield from self._run(videos[sample], first, stop, labels)

    def _run(
        self, view: Any, first: int, stop: int, labels: dict[str, dict[int, Any]]
    ) -> Iterator[dict[str, Any]]:
        """The frames ``first..stop-1`` of one sample, decoded in one pass, yielded in
        order as each item's frames are all converted."""
        transform = self._source._transform
        _, height, width, _ = view.shape
        box = transform.box((height, width))
        convert = view.converter(transform.size, transform.interpolation, box)
        h, w = transform.output((height, width))
        frames = np.arange(first, stop, dtype=np.int64)
        seconds = np.atleast_1d(view[first:stop].timestamp) if stop > first else np.zeros(0)
        step = self._clip_len or 1
        pending: dict[int, tuple[torch.Tensor, np.ndarray, int]] = {}  # item -> frames, filled
        ready = 0
        for positions, picture in view.pictures(frames, convert=convert):
            for pos in positions:
                item = pos // step
                if item not in pending:
                    length = min(step, len(frames) - item * step)
                    (tensor,) = frame_buffers([(length, h, w)], self._layout)
                    pending[item] = (tensor, rgb_view(tensor, self._layout), 0)
                tensor, array, filled = pending[item]
                picture.rgb(array[pos % step])
                pending[item] = (tensor, array, filled + 1)
            while ready in pending and pending[ready][2] == len(pending[ready][1]):
                tensor, array, _ = pending.pop(ready)
                at = slice(ready * step, ready * step + len(array))
                yield self._item(view.index, tensor, frames[at], seconds[at], labels)
                ready += 1

    def _item(
        self,
        sample: int,
        tensor: torch.Tensor,
        frames: np.ndarray,
        seconds: np.ndarray,
        labels: dict[str, dict[int, Any]],
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "frames": tensor,
            "timestamps": torch.from_numpy(np.ascontiguousarray(seconds, np.float64)),
            "index": sample,
            "frame_indices": torch.from_numpy(np.ascontiguousarray(frames, np.int64)),
        }
        if self._clip_len is None:
            item["timestamps"] = item["timestamps"][0]  # the frames are one frame already
            item["frame_indices"] = item["frame_indices"][0]
        for name, by_sample in labels.items():
            item[name] = by_sample[sample]
        return item

    def __repr__(self) -> str:
        return (
            f"VideoFrames({self._source.url!r}, version={self._source.version}, "
            f"{len(self._units)} keyframe runs, rank {self._rank} of {self._world_size})"
        )


def _rank_and_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """``rank``/``world_size`` as given, else torch.distributed's, else 0 of 1."""
    import torch.distributed as dist

    joined = dist.is_available() and dist.is_initialized()
    if world_size is None:
        world_size = dist.get_world_size() if joined else 1
    if rank is None:
        rank = dist.get_rank() if joined else 0
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (rank, world_size))
    if not ints or world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(
            f"rank and world_size must be ints with 0 <= rank < world_size, not rank={rank!r}, "
            f"world_size={world_size!r}"
        )
    return rank, world_size


def _units(videos: Any) -> np.ndarray:
    """``(sample, first, stop)`` of every keyframe run of every sample, in order."""
    rows = []
    for i in range(len(videos)):
        runs = videos[i].keyframe_runs()
        for first, stop in zip(runs[:-1].tolist(), runs[1:].tolist(), strict=True):
            rows.append((i, first, stop))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def collate(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A batch of items: tensors of one shape stacked (``frames`` ``(B, T, C, H, W)``),
    ints as an int64 tensor, anything else (text, json, labels of different shapes)
    as a list."""
    if not items:
        return {}
    return {key: _stacked([item[key] for item in items]) for key in items[0]}


def _stacked(values: list[Any]) -> Any:
    if all(isinstance(v, torch.Tensor) for v in values):
        whole = _whole(values)
        if whole is not None:
            return whole
        first = values[0]
        if len({tuple(v.shape) for v in values}) == 1:
            out = _empty((len(values), *first.shape), first.dtype) if _in_worker() else None
            return torch.stack(values, out=out)
        return [_shared(v) for v in values]
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return _shared(torch.tensor(values, dtype=torch.int64))
    return values


def _in_worker() -> bool:
    return get_worker_info() is not None


def _shared(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor``, in shared memory inside a DataLoader worker (see :func:`_empty`)."""
    return tensor.share_memory_() if _in_worker() else tensor  # type: ignore[no-untyped-call]


#: Each layout's dimensions, in the order of ``(frames, height, width, 3)`` memory. Frames
#: are stored channels-last whatever the layout (as TorchCodec's NCHW frames are): the
#: conversion writes each RGB row where it stays, and a channels-first layout is a view.
_ORDER = {"TCHW": (0, 3, 1, 2), "THWC": (0, 1, 2, 3), "CHW": (2, 0, 1), "HWC": (0, 1, 2)}


def frame_buffers(shapes: Sequence[tuple[int, int, int]], layout: str) -> list[torch.Tensor]:
    """Tensors (uint8, in ``layout``) for items of ``shapes`` ``(frames, height,
    width)`` (a frame layout: frames is 1), into which their frames are decoded: the
    conversion writes each frame in its final place, so nothing is copied after it.
    The memory is channels-last: ``TCHW``/``CHW`` tensors are views of it (strides
    ``(3HW, 1, 3W, 3)``), as TorchCodec gives them; ``.contiguous()`` makes a copy laid
    out channel by channel. Items of one shape are views of one batch tensor, which
    :func:`collate` hands on whole; inside a DataLoader worker it lives in shared
    memory, as torch's own collate puts a batch, so the trip to the main process copies
    nothing either."""
    order = _ORDER[layout]
    clip = len(order) == 4
    memory = [(t, h, w, 3) if clip else (h, w, 3) for t, h, w in shapes]
    if len(set(memory)) != 1:
        return [_empty(m).permute(order) for m in memory]
    batch = _empty((len(memory), *memory[0])).permute(0, *(k + 1 for k in order))
    return list(batch.unbind(0))


def rgb_view(frames: torch.Tensor, layout: str) -> np.ndarray:
    """``frames`` (a :func:`frame_buffers` tensor in ``layout``) as the ``(frames,
    height, width, 3)`` array that :func:`hubcli.sampling.read_clips` writes into: its
    memory, not a copy."""
    order = _ORDER[layout]
    memory = frames.permute(sorted(range(len(order)), key=order.__getitem__))
    view: np.ndarray = (memory if len(order) == 4 else memory.unsqueeze(0)).numpy()
    return view


def _empty(shape: tuple[int, ...], dtype: torch.dtype = torch.uint8) -> torch.Tensor:
    """An empty tensor; inside a DataLoader worker, in shared memory from the start, as
    torch's default_collate allocates a worker's batch. A tensor a worker sends that is
    not there is copied there by the queue's feeder thread, with the GIL released: the
    copy costs its size again, and a worker that exits meanwhile (the loader shut down
    after a ``break``) can end that thread inside the copy, in torch's C++ code, which
    aborts the worker ("terminate called without an active exception")."""
    if not _in_worker():
        return torch.empty(shape, dtype=dtype)
    # The tensor is set to the storage with its shape (a view of a flat tensor would make
    # the flat one every item's _base, and collate would not know the batch).
    nbytes = math.prod(shape) * dtype.itemsize
    storage = torch.UntypedStorage._new_shared(nbytes)  # type: ignore[no-untyped-call]
    strides = [math.prod(shape[k + 1 :]) for k in range(len(shape))]
    return torch.empty(0, dtype=dtype).set_(storage, 0, shape, strides)


def _whole(values: list[torch.Tensor]) -> torch.Tensor | None:
    """The batch ``values`` are, in order, every item of (one :func:`frame_buffers`
    batch), as one tensor of their layout without stacking; else None."""
    first = values[0]
    base = first._base
    if base is None or base.shape[0] != len(values) or base.dtype != first.dtype:
        return None
    step = base.stride(0)
    for k, value in enumerate(values):
        if value._base is not base or value.data_ptr() != base[k].data_ptr():
            return None
        if value.shape != first.shape or value.stride() != first.stride():
            return None
    return first.as_strided((len(values), *first.shape), (step, *first.stride()))


def _slot(index: Any, length: int) -> int:
    slot = int(index)
    return slot + length if slot < 0 else slot


def _label_converter(htype: str) -> Any:
    if htype in (TEXT, JSON):
        return lambda value: value
    return lambda value: torch.from_numpy(np.array(value))
