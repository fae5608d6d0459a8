"""Ray Data datasources over a hubcli video tensor: frames (``read_frames``) and clips
(``read_clips``).

The driver reads the manifest and frame tables only (no video bytes), plans units of
work by keyframe run (hubcli/ray/plan.py) and packs them into read tasks by cost. A
task carries the dataset's URL and version, the names it reads and its units: never a
secret, never an open handle. Each worker opens the dataset itself (once per process)
with its own environment's credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import ray
from ray.data.block import BlockAccessor, BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from hubcli.core.frame_index import normalize_positions
from hubcli.core.sample import check_crop
from hubcli.errors import FrameIndexError
from hubcli.format.selector import parse_selector
from hubcli.ray.columns import check_location, label_column, open_dataset
from hubcli.ray.plan import Unit, clip_units, costs, frame_units, pack
from hubcli.sampling import (
    ClipSpec,
    FrameTransform,
    label_columns,
    label_values,
    plan_for,
    read_clips,
    video_tensor,
)

if TYPE_CHECKING:
    import os
    from collections.abc import Iterator, Mapping, Sequence

    from hubcli.core.dataset import Dataset
    from hubcli.core.sample import SampleView
    from hubcli.core.tensor import Tensor
    from hubcli.sampling import Clip

#: The fields of a frame row and of a clip row; a label column may not take their names.
FRAME_FIELDS = ("sample", "frame_index", "timestamp", "frame")
CLIP_FIELDS = ("sample", "slot", "frame_indices", "timestamps", "frames")
#: Bytes of a row besides its pixels, for BlockMetadata: the ints and floats, and a
#: rough figure per label column.
ROW_OVERHEAD = 24
LABEL_BYTES = 16
#: At most this many read tasks per CPU of the cluster. Ray asks for 200 blocks by
#: default: 200 tasks of a few keyframe runs each left the workers idle half the time
#: between tasks (W11, 2 CPUs) and reopened the dataset 200 times (3 requests each on
#: S3). A task still yields one block per unit, so blocks stay small.
TASKS_PER_CPU = 4


@dataclass(frozen=True)
class Job:
    """What every read task of one read shares: where the dataset is (URL, version),
    which tensors it reads and how. Picklable, and holds no secret."""

    url: str
    version: int
    tensor: str
    columns: tuple[str, ...]
    htypes: tuple[str, ...]
    transform: FrameTransform
    seed: int = 0
    epoch: int = 0


class _Source(Datasource):
    """The shared part: the plan made once on the driver (Ray asks for read tasks more
    than once), packed into as many tasks as Ray asks for, each with honest metadata:
    its rows exactly, its bytes as the pixels it will hold plus a little per row."""

    fields: tuple[str, ...] = ()

    def __init__(
        self,
        url: str | os.PathLike[str],
        tensor: str,
        columns: Sequence[str],
        transform: FrameTransform,
        creds: Mapping[str, Any] | None,
        version: int | None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # ray's is untyped
        # Only the driver uses creds, here, to plan: they are not kept, so never pickled.
        ds = open_dataset(check_location(url), version, creds)
        videos = video_tensor(ds, tensor)
        names = label_columns(ds, videos, columns, self.fields, "rows")
        htypes = tuple(ds[n].htype for n in names)
        self.job = self._job(Job(ds.path, ds.version, tensor, names, htypes, transform))
        self._row_bytes: dict[int, int] = {}  # per sample
        self._inputs: dict[int, str] = {}  # per sample: the object its packets are in
        self.units = self._plan(ds, videos)

    def _job(self, job: Job) -> Job:
        return job

    def _plan(self, ds: Dataset, videos: Tensor) -> list[Unit]:
        raise NotImplementedError

    def _note(self, view: SampleView, frames_per_row: int) -> None:
        """Record what a row of this sample weighs and where its packets are."""
        _, h, w, c = view.shape
        crop = self.job.transform.crop
        if isinstance(crop, tuple):  # a fixed box must fit every video: fail on the driver
            check_crop(crop, (h, w), view.where)
        box = self.job.transform.box((h, w))
        h, w = self.job.transform.size or ((box[2], box[3]) if box else (h, w))
        labels = LABEL_BYTES * len(self.job.columns)
        self._row_bytes[view.index] = frames_per_row * (h * w * c + ROW_OVERHEAD) + labels
        location = view.resolved.location
        record = location.record
        if record.link is not None:
            self._inputs[view.index] = record.link.url
        else:
            key = location.chunk_key or location.segment_key
            self._inputs[view.index] = view.resolved.reader.store.describe(key)

    def estimate_inmemory_data_size(self) -> int:
        return sum(self._bytes(u) for u in self.units)

    def _bytes(self, unit: Unit) -> int:
        return unit.rows * self._row_bytes[unit.sample]

    def get_read_tasks(
        self,
        parallelism: int,
        per_task_row_limit: int | None = None,
        data_context: Any = None,
    ) -> list[ReadTask]:
        """At most ``parallelism`` tasks, and TASKS_PER_CPU per CPU of the cluster:
        fewer when there are fewer units, since a keyframe run is never split."""
        tasks = []
        for group in pack(costs(self.units), _task_count(parallelism)):
            units = [self.units[n] for n in group]
            metadata = BlockMetadata(
                num_rows=sum(u.rows for u in units),
                size_bytes=int(sum(self._bytes(u) for u in units)),
                input_files=tuple(sorted({self._inputs[u.sample] for u in units})),
                exec_stats=None,
            )
            read = partial(type(self).read_units, self.job, units)
            tasks.append(ReadTask(read, metadata, per_task_row_limit=per_task_row_limit))
        return tasks

    @staticmethod
    def read_units(job: Job, units: list[Unit]) -> Iterator[Any]:
        raise NotImplementedError


def _task_count(parallelism: int) -> int:
    """``parallelism``, capped by the cluster's CPUs when Ray is running (planning
    alone, without Ray, keeps what it was asked for)."""
    if not ray.is_initialized():
        return parallelism
    cpus = int(ray.cluster_resources().get("CPU", 0))  # type: ignore[no-untyped-call]
    return max(1, min(parallelism, TASKS_PER_CPU * cpus)) if cpus else parallelism


class FrameSource(_Source):
    """Frames named by a selector (``"videos[:, ::30]"``): one row per selected frame,
    ``{sample, frame_index, timestamp, frame, <label columns>}``."""

    fields = FRAME_FIELDS

    def __init__(
        self,
        url: str | os.PathLike[str],
        selector: str = "videos[:, ::30]",
        *,
        transform: FrameTransform | None = None,
        columns: Sequence[str] = ("labels",),
        creds: Mapping[str, Any] | None = None,
        version: int | None = None,
    ) -> None:
        self.selector = parse_selector(selector)
        if len(self.selector.index) > 2:
            raise FrameIndexError(
                f"selector {selector!r} indexes pixels: Ray rows are whole frames",
                hint="select samples and frames only (videos[:, ::30]); size= scales them",
            )
        transform = transform or FrameTransform()
        if transform.crop == "random":
            raise FrameIndexError(
                'crop="random" draws a box per clip: frame rows take "center" or a box',
                hint='pass crop="center" or crop=(top, left, height, width)',
            )
        super().__init__(url, self.selector.tensor, columns, transform, creds, version)

    def _plan(self, ds: Dataset, videos: Tensor) -> list[Unit]:
        index = self.selector.index
        first = index[0] if index else Ellipsis
        frames = index[1] if len(index) > 1 else Ellipsis
        samples, _ = normalize_positions(first, len(videos), "sample", f"tensor {videos.name!r}")
        units: list[Unit] = []
        for sample in samples.tolist():
            view = videos[sample]
            wanted, _ = normalize_positions(frames, view.shape[0], "frame", view.where)
            table = view.resolved.reader.frame_table(view.resolved.location)
            units += frame_units(sample, table, wanted)
            self._note(view, 1)
        return units

    @staticmethod
    def read_units(job: Job, units: list[Unit]) -> Iterator[Any]:
        """Each unit's frames, decoded by one call (one keyframe run), as one block."""
        ds = open_dataset(job.url, job.version)
        videos = ds[job.tensor]
        labels = label_values(ds, job.columns, [u.sample for u in units])
        for unit in units:
            view = videos[unit.sample, unit.frames.tolist()]
            t = job.transform
            _, height, width, _ = videos[unit.sample].shape
            box = t.box((height, width))
            rgb = view.numpy(size=t.size, interpolation=t.interpolation, crop=box)
            count = len(unit.frames)
            batch: dict[str, np.ndarray] = {
                "sample": np.full(count, unit.sample, dtype=np.int64),
                "frame_index": unit.frames.astype(np.int64),
                "timestamp": np.atleast_1d(np.asarray(view.timestamp, dtype=np.float64)),
                "frame": rgb,
            }
            _add_labels(batch, job, labels, [unit.sample] * count)
            yield BlockAccessor.batch_to_block(batch)


class ClipSource(_Source):
    """Clips planned by :mod:`hubcli.sampling` (the PyTorch loader's planner): one row
    per clip slot, ``{sample, slot, frame_indices, timestamps, frames, <labels>}``."""

    fields = CLIP_FIELDS

    def __init__(
        self,
        url: str | os.PathLike[str],
        tensor: str = "videos",
        spec: ClipSpec | None = None,
        *,
        epoch: int = 0,
        transform: FrameTransform | None = None,
        columns: Sequence[str] = ("labels",),
        creds: Mapping[str, Any] | None = None,
        version: int | None = None,
    ) -> None:
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, not {epoch!r}")
        self.spec, self.epoch = spec or ClipSpec(), epoch
        super().__init__(url, tensor, columns, transform or FrameTransform(), creds, version)

    def _job(self, job: Job) -> Job:
        # random crops are drawn per (seed, epoch, slot), as the torch datasets draw them
        return replace(job, seed=self.spec.seed, epoch=self.epoch)

    def _plan(self, ds: Dataset, videos: Tensor) -> list[Unit]:
        plan = plan_for(videos, self.spec)
        by_sample: dict[int, list[Clip]] = {}
        for clip in plan.clips(range(len(plan)), self.epoch):
            by_sample.setdefault(clip.sample, []).append(clip)
        units: list[Unit] = []
        for sample, clips in by_sample.items():
            view = videos[sample]
            table = view.resolved.reader.frame_table(view.resolved.location)
            units += clip_units(sample, table, clips)
            self._note(view, self.spec.clip_len)
        return units

    @staticmethod
    def read_units(job: Job, units: list[Unit]) -> Iterator[Any]:
        """Each unit's clips, read by ``hubcli.sampling.read_clips`` (its runs decoded
        once for all of them), as one block."""
        ds = open_dataset(job.url, job.version)
        videos = ds[job.tensor]
        labels = label_values(ds, job.columns, [u.sample for u in units])
        for unit in units:
            read = read_clips(
                videos, unit.clips, transform=job.transform, seed=job.seed, epoch=job.epoch
            )
            batch: dict[str, np.ndarray] = {
                "sample": np.array([c.clip.sample for c in read], dtype=np.int64),
                "slot": np.array([c.clip.slot for c in read], dtype=np.int64),
                "frame_indices": np.stack([c.clip.frames.astype(np.int64) for c in read]),
                "timestamps": np.stack([c.timestamps.astype(np.float64) for c in read]),
                "frames": np.stack([c.frames for c in read]),
            }
            _add_labels(batch, job, labels, [c.clip.sample for c in read])
            yield BlockAccessor.batch_to_block(batch)


def _add_labels(
    batch: dict[str, np.ndarray], job: Job, labels: dict[str, dict[int, Any]], samples: list[int]
) -> None:
    for name, htype in zip(job.columns, job.htypes, strict=True):
        batch[name] = label_column(htype, [labels[name][s] for s in samples])
