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

import os
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import get_worker_info

from hubcli.core.dataset import Dataset, load
from hubcli.core.sample import check_size
from hubcli.errors import TensorNotFoundError, UnsupportedHtypeError
from hubcli.format.values import JSON, TEXT
from hubcli.sampling import ClipFrames, ClipSpec, Policy, Sampler, plan_for, read_clips
from hubcli.settings import config

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from hubcli.sampling import ClipPlan

ClipLayout = Literal["TCHW", "THWC"]
FrameLayout = Literal["CHW", "HWC"]
#: Keys of every item; a label column may not take one of these names.
ITEM_KEYS = ("frames", "timestamps", "index", "frame_indices")

__all__ = ["ClipDataset", "FrameDataset", "collate"]


class ClipDataset(TorchDataset[dict[str, Any]]):
    """Clips of ``clip_len`` frames from the videos of ``tensor``, map-style.

    ``len()`` is the number of clip slots (see :class:`hubcli.sampling.ClipSpec` for
    ``sampler``, ``clips_per_video``, ``clip_stride``, ``frame_step``, ``fps`` and
    ``policy``). An item is a dict: ``frames`` (uint8, ``layout`` ``"TCHW"`` or
    ``"THWC"``), ``timestamps`` (float64 seconds of those frames), ``index`` (the
    sample), ``frame_indices`` (int64), and one key per label column in ``columns``
    (class_label and generic: a tensor; text: a str; json: the value).

    ``size=(height, width)`` scales every frame while it is converted to RGB (one
    swscale pass, bilinear), not after.

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
    ) -> None:
        spec = ClipSpec(
            clip_len, frame_step, clips_per_video, clip_stride, sampler, policy, fps, seed
        )
        self._size = None if size is None else check_size(size)
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

    @staticmethod
    def _layouts() -> tuple[str, ...]:
        return ("TCHW", "THWC")

    def _check_tensors(self, ds: Dataset) -> None:
        videos = self._named(ds, self._tensor, "tensor")
        if videos.holds_values:
            raise UnsupportedHtypeError(
                f"tensor {self._tensor!r} of {ds.path} holds {videos.htype} values, not videos",
                hint="pass tensor= the name of a video tensor",
            )
        for name in self._columns:
            column = self._named(ds, name, "columns")
            if name in ITEM_KEYS or not column.holds_values:
                raise UnsupportedHtypeError(
                    f"column {name!r} cannot be a label column of the items",
                    hint=f"columns are label tensors (class_label, text, json, generic), "
                    f"not named {', '.join(ITEM_KEYS)}",
                )
            if len(column) < len(videos):
                raise TensorNotFoundError(
                    f"column {name!r} has {len(column)} samples, fewer than the "
                    f"{len(videos)} of {self._tensor!r}: some clips would have no label",
                    hint="append the missing labels, or leave the column out of columns=",
                )

    @staticmethod
    def _named(ds: Dataset, name: str, argument: str) -> Any:
        if name not in ds.tensors:
            raise TensorNotFoundError(
                f"{ds.path} has no tensor {name!r} (tensors: {', '.join(ds.tensors) or 'none'})",
                hint=f"pass {argument}= names of its tensors"
                + (" (columns=() for none)" if argument == "columns" else ""),
            )
        return ds[name]

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

    # --- reading -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._plan)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """A whole batch at once: its clips are planned together and each sample's frames
        are read in one pass (a keyframe run shared by clips is decoded once)."""
        ds = self.dataset()
        slots = [_slot(i, len(self)) for i in indices]
        read = read_clips(ds[self._tensor], self._plan.clips(slots, self._epoch), self._size)
        labels = self._labels(ds, sorted({c.clip.sample for c in read}))
        return [self._item(c, labels) for c in read]

    def _labels(self, ds: Dataset, samples: list[int]) -> dict[str, dict[int, Any]]:
        """Each column's value for each sample: one read per column for the batch."""
        out: dict[str, dict[int, Any]] = {}
        for name in self._columns:
            column = ds[name]
            values = column[samples].numpy(aslist=True) if samples else []
            convert = _label_converter(column.htype)
            out[name] = {s: convert(v) for s, v in zip(samples, values, strict=True)}
        return out

    def _item(self, read: ClipFrames, labels: dict[str, dict[int, Any]]) -> dict[str, Any]:
        frames = torch.from_numpy(read.frames)
        if self._layout == "TCHW":
            frames = frames.permute(0, 3, 1, 2).contiguous()
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
    ``timestamps`` and ``frame_indices`` 0-d tensors, ``index``, and label columns."""

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
    ) -> None:
        spec = ClipSpec(clip_len=1, clip_stride=frame_step, sampler="all", policy="drop", fps=fps)
        self._size = None if size is None else check_size(size)
        self._setup(ds_or_url, tensor, spec, layout, columns, creds, version, decoder_threads)

    @staticmethod
    def _layouts() -> tuple[str, ...]:
        return ("CHW", "HWC")

    def _item(self, read: ClipFrames, labels: dict[str, dict[int, Any]]) -> dict[str, Any]:
        item = super()._item(read, labels)
        frames = item["frames"][0]
        item["frames"] = frames.permute(2, 0, 1).contiguous() if self._layout == "CHW" else frames
        item["timestamps"] = item["timestamps"][0]
        item["frame_indices"] = item["frame_indices"][0]
        return item

    def __repr__(self) -> str:
        return f"FrameDataset({self._url!r}, version={self._version}, {len(self)} frames)"


def collate(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A batch of items: tensors of one shape stacked (``frames`` ``(B, T, C, H, W)``),
    ints as an int64 tensor, anything else (text, json, labels of different shapes)
    as a list."""
    if not items:
        return {}
    return {key: _stacked([item[key] for item in items]) for key in items[0]}


def _stacked(values: list[Any]) -> Any:
    if all(isinstance(v, torch.Tensor) for v in values):
        if len({tuple(v.shape) for v in values}) == 1:
            return torch.stack(values)
        return values
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return torch.tensor(values, dtype=torch.int64)
    return values


def _slot(index: Any, length: int) -> int:
    slot = int(index)
    return slot + length if slot < 0 else slot


def _label_converter(htype: str) -> Any:
    if htype in (TEXT, JSON):
        return lambda value: value
    return lambda value: torch.from_numpy(np.array(value))
